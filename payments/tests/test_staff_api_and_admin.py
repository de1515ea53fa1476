"""
The staff side of payments: /api/v1/staff/payments/ (scoped, constant queries), the payments
and ledger admin (scoped, constant queries, the refund action, the ledger row's payload and
outcome), the offline-mode labels, and the staff "request balance" action.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments import stripe_client
from payments.models import EventOutcome, Payment, PaymentKind, PaymentStatus, Refund, StripeEvent
from payments.tests.conftest import BOOKINGS, deposit_of

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

PAYMENTS = "/api/v1/staff/payments/"
STAFF_BOOKINGS = "/api/v1/staff/bookings/"
CHANGELIST = "admin:payments_payment_changelist"


def refs(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["booking"] for row in response.json()["results"]}


@pytest.fixture
def two_stations(book, san_jose, sacramento, apply_event, stripe_event):
    """A paid san-jose booking (with a partial refund) and a pending sacramento one."""
    mine = book(san_jose)
    apply_event(stripe_event("payment_intent.succeeded", deposit_of(mine)))
    apply_event(stripe_event("charge.refunded", deposit_of(mine), amount_refunded=1500))
    theirs = book(sacramento, n=1)
    return mine, theirs


# --- Staff API -----------------------------------------------------------------------------------


def test_the_list_is_scoped_to_the_users_stations(
    two_stations, staff_client, sj_manager, sj_agent, sj_chef, sac_manager, owner
):
    mine, theirs = two_stations

    assert refs(staff_client(sj_manager).get(PAYMENTS)) == {mine.reference}
    assert refs(staff_client(sj_agent).get(PAYMENTS)) == {mine.reference}
    assert refs(staff_client(sac_manager).get(PAYMENTS)) == {theirs.reference}
    assert refs(staff_client(owner).get(PAYMENTS)) == {mine.reference, theirs.reference}
    assert refs(staff_client(sj_chef).get(PAYMENTS)) == set()  # chefs don't see the money
    assert refs(staff_client(owner).get(PAYMENTS, {"station": "sacramento"})) == {theirs.reference}
    assert refs(staff_client(owner).get(PAYMENTS, {"status": "pending"})) == {theirs.reference}
    assert refs(staff_client(owner).get(PAYMENTS, {"booking": mine.reference})) == {mine.reference}


def test_another_stations_payment_is_404(two_stations, staff_client, sj_manager, sj_chef):
    mine, theirs = two_stations

    for user, payment in ((sj_manager, deposit_of(theirs)), (sj_chef, deposit_of(mine))):
        response = staff_client(user).get(f"{PAYMENTS}{payment.pk}/")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_anonymous_is_refused(two_stations, api_client):
    assert api_client.get(PAYMENTS).status_code == 401


def test_the_detail_shows_the_money_and_its_refunds(two_stations, staff_client, sj_manager):
    mine, _ = two_stations
    payment = deposit_of(mine)

    body = staff_client(sj_manager).get(f"{PAYMENTS}{payment.pk}/").json()

    assert body["booking"] == mine.reference
    assert body["station"] == "san-jose"
    assert (body["kind"], body["amount_cents"], body["currency"]) == ("deposit", 10_000, "USD")
    assert (body["status"], body["amount_refunded_cents"], body["refundable_cents"]) == (
        "partially_refunded",
        1500,
        8500,
    )
    assert body["stripe_payment_intent_id"] == payment.stripe_payment_intent_id
    assert body["offline"] is True
    assert body["refunds"] == []  # refunded in Stripe's dashboard: no refund of ours
    assert "client_secret" not in body


def test_the_list_query_count_does_not_grow_with_the_page(
    book, san_jose, apply_event, stripe_event, staff_client, owner
):
    for n in range(6):
        booking = book(san_jose, days=10 + n // 3, start=["12:00", "15:00", "18:00"][n % 3], n=n)
        apply_event(stripe_event("payment_intent.succeeded", deposit_of(booking)))
    client = staff_client(owner)
    for payment in Payment.objects.all()[:3]:
        client.post(f"{PAYMENTS}{payment.pk}/refund", {"amount_cents": 100}, format="json")
    assert Refund.objects.count() == 3

    def count(page_size: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(PAYMENTS, {"page_size": page_size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(page_size, 6)
        return len(queries)

    assert count(1) == count(50)


# --- Admin ---------------------------------------------------------------------------------------


@pytest.fixture
def manager_browser(client, sj_manager):
    client.force_login(sj_manager)
    return client


def test_the_payment_changelist_is_scoped(two_stations, manager_browser):
    mine, theirs = two_stations

    page = manager_browser.get(reverse(CHANGELIST)).content.decode()

    assert mine.reference in page
    assert theirs.reference not in page
    change = reverse("admin:payments_payment_change", args=[deposit_of(theirs).pk])
    assert manager_browser.get(change).status_code == 302  # "doesn't exist": nothing shown
    search = manager_browser.get(reverse(CHANGELIST), {"q": theirs.reference})
    assert list(search.context["cl"].result_list) == []


def test_the_payment_changelist_query_count_is_constant(
    book, san_jose, manager_browser, apply_event, stripe_event
):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager_browser.get(reverse(CHANGELIST)).status_code == 200
        return len(queries)

    book(san_jose)
    one = count()
    for n in range(1, 7):
        booking = book(san_jose, days=11 + n // 3, start=["12:00", "15:00", "18:00"][n % 3], n=n)
        apply_event(stripe_event("payment_intent.succeeded", deposit_of(booking)))
    assert Payment.objects.count() == 7
    assert count() == one


def _refund_action(browser, payments, **extra):
    data = {"action": "refund_selected", "_selected_action": [p.pk for p in payments], **extra}
    return browser.post(reverse(CHANGELIST), data, follow=True)


def test_the_refund_action_asks_then_refunds_once(paid_booking, manager_browser, sj_manager):
    payment = deposit_of(paid_booking)

    page = _refund_action(manager_browser, [payment])

    assert page.status_code == 200
    html = page.content.decode()
    assert "Refund this payment" in html
    assert 'name="apply"' in html
    assert 'name="amount"' in html
    assert 'name="amount" value=' not in html  # it starts empty (issue 12)
    assert "of $100.00 refundable" in html
    assert not Refund.objects.exists()
    token = re.search(r'name="refund_token" value="(\d+)"', html).group(1)

    done = _refund_action(
        manager_browser,
        [payment],
        apply="Refund",
        amount="25.00",
        reason="burnt rice",
        refund_token=token,
    )
    again = _refund_action(
        manager_browser,
        [payment],
        apply="Refund",
        amount="25.00",
        reason="burnt rice",
        refund_token=token,
    )

    assert "refund of $25.00 sent" in done.content.decode()
    assert again.status_code == 200
    refund = Refund.objects.get()  # the same form submitted twice is one refund
    assert (refund.amount_cents, refund.reason, refund.requested_by) == (
        2500,
        "burnt rice",
        sj_manager,
    )
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded_cents) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        2500,
    )


def test_the_refund_action_keeps_the_role_limits(paid_booking, manager_browser, san_jose):
    san_jose.manager_refund_limit_cents = 1000
    san_jose.save(update_fields=["manager_refund_limit_cents"])
    payment = deposit_of(paid_booking)

    response = _refund_action(
        manager_browser, [payment], apply="Refund", amount="50.00", refund_token="1"
    )

    assert "ask an owner" in response.content.decode()
    assert not Refund.objects.exists()


def test_the_refund_action_on_several_refunds_what_is_left_on_each(
    book, san_jose, apply_event, stripe_event, client, owner
):
    bookings = [book(san_jose, n=n, start=s) for n, s in ((1, "12:00"), (2, "18:00"))]
    payments = [deposit_of(b) for b in bookings]
    for payment in payments:
        apply_event(stripe_event("payment_intent.succeeded", payment))
    apply_event(stripe_event("charge.refunded", payments[0], amount_refunded=4000))
    client.force_login(owner)

    intermediate = _refund_action(client, payments)
    assert "everything still refundable on these 2 payments" in intermediate.content.decode()
    _refund_action(client, payments, apply="Refund", refund_token="7")

    amounts = sorted(Refund.objects.values_list("payment_id", "amount_cents"))
    assert amounts == sorted([(payments[0].pk, 6000), (payments[1].pk, 10_000)])
    assert {p.status for p in Payment.objects.all()} == {PaymentStatus.REFUNDED}


def test_the_ledger_row_shows_its_payload_and_outcome(paid_booking, manager_browser):
    row = StripeEvent.objects.get()
    assert row.outcome == EventOutcome.PROCESSED

    page = manager_browser.get(reverse("admin:payments_stripeevent_change", args=[row.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert row.event_id in html
    assert "payment_intent.succeeded" in html
    assert "Processed" in html
    assert deposit_of(paid_booking).stripe_payment_intent_id in html
    assert "&quot;booking_reference&quot;: &quot;" + paid_booking.reference in html
    assert "<pre" in html


def test_the_ledger_is_scoped_and_unmatched_rows_are_for_superusers(
    two_stations, apply_event, stripe_event, client, sac_manager, superuser
):
    unmatched = apply_event(stripe_event("payment_intent.succeeded"))  # an intent not ours
    client.force_login(sac_manager)

    listed = client.get(reverse("admin:payments_stripeevent_changelist")).content.decode()

    assert StripeEvent.objects.filter(station__slug="san-jose").count() == 2
    for row in StripeEvent.objects.filter(station__slug="san-jose"):
        assert row.event_id not in listed
    assert unmatched.event_id not in listed
    client.force_login(superuser)
    everything = client.get(reverse("admin:payments_stripeevent_changelist")).content.decode()
    assert unmatched.event_id in everything


@pytest.mark.parametrize(
    "page", ["admin:index", CHANGELIST, "admin:payments_stripeevent_changelist"]
)
def test_admin_pages_say_payments_are_offline(page, manager_browser):
    html = manager_browser.get(reverse(page)).content.decode()

    assert "offline mode" in html
    assert "simulate_stripe_event" in html


def test_health_says_payments_are_offline(api_client, db):
    assert api_client.get("/api/v1/health").json()["payments"] == "offline"


# --- Request the balance -------------------------------------------------------------------------


def test_request_balance_creates_the_intent_and_tells_the_customer(
    paid_booking, staff_client, sj_agent, mailoutbox, api_client, django_capture_on_commit_callbacks
):
    client = staff_client(sj_agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{STAFF_BOOKINGS}{paid_booking.pk}/request-balance")

    assert response.status_code == 200, response.content
    balance = paid_booking.payments.get(kind=PaymentKind.BALANCE)
    due = paid_booking.total_cents - paid_booking.deposit_cents
    assert (balance.amount_cents, balance.status, balance.currency) == (
        due,
        PaymentStatus.PENDING,
        "USD",
    )
    assert balance.client_secret.startswith(f"{balance.stripe_payment_intent_id}_secret_")
    [mail] = mailoutbox
    assert mail.subject == f"Balance for your hibachi party ({paid_booking.reference})"
    assert mail.to == [paid_booking.customer.email]
    assert f"{due / 100:,.2f}" in mail.body
    note = paid_booking.events.get(reason="balance requested")
    assert note.data["payment_intent"] == balance.stripe_payment_intent_id
    # The customer's link offers it.
    block = api_client.get(
        f"{BOOKINGS}{paid_booking.reference}/",
        HTTP_X_BOOKING_TOKEN=paid_booking.created["manage_token"],
    ).json()["payment"]
    assert (block["kind"], block["payment_intent"], block["amount_cents"]) == (
        "balance",
        balance.stripe_payment_intent_id,
        due,
    )
    # Asking again reuses the same intent.
    assert client.post(f"{STAFF_BOOKINGS}{paid_booking.pk}/request-balance").status_code == 200
    assert paid_booking.payments.filter(kind=PaymentKind.BALANCE).count() == 1


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (stripe_client.StripeUnavailable("timed out"), 503, "payment_provider_unavailable"),
        (stripe_client.StripeRejected("account restricted"), 502, "payment_provider_refused"),
    ],
)
def test_request_balance_when_stripe_fails_is_an_error_and_creates_nothing(
    failure, status, code, paid_booking, staff_client, sj_agent, monkeypatch, mailoutbox
):
    def stripe_fails(**kwargs):
        raise failure

    monkeypatch.setattr(stripe_client, "create_payment_intent", stripe_fails)
    before = set(paid_booking.payments.values_list("pk", "status"))

    response = staff_client(sj_agent).post(f"{STAFF_BOOKINGS}{paid_booking.pk}/request-balance")

    assert response.status_code == status, response.content
    assert response.json()["error"] == code
    assert set(response.json()) == {"error", "detail", "fields"}
    assert set(paid_booking.payments.values_list("pk", "status")) == before
    assert not paid_booking.events.filter(reason="balance requested").exists()
    assert mailoutbox == []


def test_request_balance_with_nothing_due_is_409(
    paid_booking,
    staff_client,
    sj_manager,
    apply_event,
    stripe_event,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    client = staff_client(sj_manager)
    client.post(f"{STAFF_BOOKINGS}{paid_booking.pk}/request-balance")
    apply_event(stripe_event("payment_intent.succeeded", paid_booking.payments.get(kind="balance")))
    paid_booking.refresh_from_db()
    assert paid_booking.balance_due_cents == 0
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{STAFF_BOOKINGS}{paid_booking.pk}/request-balance")

    assert response.status_code == 409
    assert response.json()["error"] == "nothing_due"
    assert paid_booking.payments.count() == 2
    assert mailoutbox == []


def test_request_balance_needs_a_confirmed_booking_of_ones_own(
    deposit_booking, book, sacramento, staff_client, sj_manager
):
    client = staff_client(sj_manager)

    pending = client.post(f"{STAFF_BOOKINGS}{deposit_booking.pk}/request-balance")
    theirs = client.post(f"{STAFF_BOOKINGS}{book(sacramento, n=1).pk}/request-balance")

    assert (pending.status_code, pending.json()["error"]) == (409, "invalid_transition")
    assert theirs.status_code == 404
    assert not Payment.objects.filter(kind=PaymentKind.BALANCE).exists()
