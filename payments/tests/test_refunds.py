"""
Refunds: POST /api/v1/staff/payments/{id}/refund (role-limited, idempotent, offline refunds
applied at once) and the refunds the cancellation policy orders, through every door.
"""

from datetime import timedelta

import pytest
from django.urls import reverse

from bookings import services as bookings_services
from bookings.models import BookingStatus
from payments import selectors as payment_selectors
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.tests.conftest import BOOKINGS, deposit_of

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

STAFF_PAYMENTS = "/api/v1/staff/payments/"
STAFF_BOOKINGS = "/api/v1/staff/bookings/"


def refund(client, payment, amount=None, key=None, reason="customer asked"):
    body = {"reason": reason} if amount is None else {"amount_cents": amount, "reason": reason}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"{STAFF_PAYMENTS}{payment.pk}/refund", body, format="json", **headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    return body


def assert_sums(booking):
    booking.refresh_from_db()
    paid = [p for p in booking.payments.all() if p.succeeded]
    assert booking.amount_paid_cents == sum(p.amount_cents for p in paid)
    assert booking.amount_refunded_cents == sum(p.amount_refunded_cents for p in paid)


@pytest.fixture
def deposit(paid_booking):
    payment = deposit_of(paid_booking)
    assert (payment.status, payment.amount_cents, payment.offline) == ("succeeded", 10_000, True)
    return payment


# --- Roles ---------------------------------------------------------------------------------------


def test_an_agent_cannot_refund(staff_client, sj_agent, deposit):
    response = refund(staff_client(sj_agent), deposit, 1000)

    assert_error(response, 403, "permission_denied")
    assert not Refund.objects.exists()
    deposit.refresh_from_db()
    assert deposit.amount_refunded_cents == 0


def test_a_chef_cannot_see_the_payment_to_refund_it(staff_client, sj_chef, deposit):
    assert refund(staff_client(sj_chef), deposit, 1000).status_code == 404
    assert not Refund.objects.exists()


def test_a_manager_refunds_up_to_the_station_limit(staff_client, sj_manager, deposit, san_jose):
    san_jose.manager_refund_limit_cents = 4000
    san_jose.save(update_fields=["manager_refund_limit_cents"])
    client = staff_client(sj_manager)

    over = refund(client, deposit, 4001)
    at_limit = refund(client, deposit, 4000)

    body = assert_error(over, 403, "refund_over_limit")
    assert "40.00" in body["detail"]
    assert at_limit.status_code == 200, at_limit.content
    assert at_limit.json()["amount_refunded_cents"] == 4000
    assert list(Refund.objects.values_list("amount_cents", flat=True)) == [4000]
    # Without an amount a manager asks for everything refundable: over the limit too.
    assert_error(refund(client, deposit), 403, "refund_over_limit")


@pytest.mark.parametrize("who", ["owner", "superuser"])
def test_owners_and_superusers_refund_any_amount(
    request, who, staff_client, deposit, san_jose, paid_booking
):
    san_jose.manager_refund_limit_cents = 100
    san_jose.save(update_fields=["manager_refund_limit_cents"])

    response = refund(staff_client(request.getfixturevalue(who)), deposit)  # all of it

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["amount_refunded_cents"], body["refundable_cents"]) == (
        "refunded",
        10_000,
        0,
    )
    assert [r["amount_cents"] for r in body["refunds"]] == [10_000]
    assert body["refunds"][0]["requested_by_label"] == request.getfixturevalue(who).username
    assert_sums(paid_booking)
    assert paid_booking.amount_refunded_cents == 10_000


# --- Amounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [10_001, 0, -5])
def test_an_amount_outside_what_is_refundable_is_400_on_the_field(
    amount, staff_client, owner, deposit
):
    body = assert_error(refund(staff_client(owner), deposit, amount), 400, "validation_error")

    assert "amount_cents" in body["fields"]
    assert not Refund.objects.exists()


def test_a_partial_refund_then_the_rest(staff_client, owner, deposit, paid_booking):
    client = staff_client(owner)

    first = refund(client, deposit, 2500)
    deposit.refresh_from_db()
    paid_booking.refresh_from_db()
    assert first.status_code == 200
    assert (deposit.status, deposit.amount_refunded_cents) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        2500,
    )
    assert paid_booking.amount_refunded_cents == 2500

    too_much = refund(client, deposit, 7501)
    assert_error(too_much, 400, "validation_error")
    rest = refund(client, deposit)

    assert rest.status_code == 200
    deposit.refresh_from_db()
    assert (deposit.status, deposit.amount_refunded_cents) == (PaymentStatus.REFUNDED, 10_000)
    refunds = list(deposit.refunds.order_by("created_at").values_list("amount_cents", "status"))
    assert refunds == [(2500, RefundStatus.SUCCEEDED), (7500, RefundStatus.SUCCEEDED)]
    assert_sums(paid_booking)
    assert paid_booking.balance_due_cents == paid_booking.total_cents
    nothing_left = refund(client, deposit, 1)
    assert_error(nothing_left, 400, "validation_error")


def test_offline_refunds_apply_at_once(staff_client, owner, deposit, paid_booking):
    response = refund(staff_client(owner), deposit, 3000)

    created = Refund.objects.get()
    assert created.status == RefundStatus.SUCCEEDED
    assert created.stripe_refund_id.startswith("re_")
    assert created.requested_by == owner
    assert created.reason == "customer asked"
    assert response.json()["refunds"][0]["stripe_refund_id"] == created.stripe_refund_id
    deposit.refresh_from_db()
    assert (deposit.amount_refunded_cents, deposit.status) == (
        3000,
        PaymentStatus.PARTIALLY_REFUNDED,
    )
    assert_sums(paid_booking)


def test_an_unpaid_payment_has_nothing_to_refund(staff_client, owner, deposit_booking):
    payment = deposit_of(deposit_booking)

    body = assert_error(refund(staff_client(owner), payment, 100), 400, "validation_error")

    assert "amount_cents" in body["fields"]
    assert not Refund.objects.exists()


# --- Idempotency ---------------------------------------------------------------------------------


def test_the_same_idempotency_key_twice_makes_one_refund(staff_client, owner, deposit):
    client = staff_client(owner)

    first = refund(client, deposit, 1000, key="refund-abc")
    again = refund(client, deposit, 1000, key="refund-abc")
    other = refund(client, deposit, 1000, key="refund-def")

    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json()["refunds"] == again.json()["refunds"]
    assert Refund.objects.count() == 2
    deposit.refresh_from_db()
    assert deposit.amount_refunded_cents == 2000


def test_an_idempotency_key_reused_on_another_payment_is_not_silently_swallowed(
    staff_client, owner, deposit, book, apply_event, stripe_event, san_jose
):
    other_booking = book(san_jose, days=11, n=1)
    other = deposit_of(other_booking)
    apply_event(stripe_event("payment_intent.succeeded", other))
    client = staff_client(owner)
    assert refund(client, deposit, 1000, key="k1").status_code == 200

    response = refund(client, other, 1000, key="k1")

    # Refused, like a public Idempotency-Key reused for another request: the key is the first's.
    assert_error(response, 422, "idempotency_key_reused")
    assert not Refund.objects.filter(payment=other).exists()


# --- Tenancy -------------------------------------------------------------------------------------


def test_another_stations_payment_is_404(
    staff_client, sj_manager, sacramento, book, apply_event, stripe_event
):
    theirs = deposit_of(book(sacramento))
    apply_event(stripe_event("payment_intent.succeeded", theirs))

    response = refund(staff_client(sj_manager), theirs, 100)

    assert_error(response, 404, "not_found")
    assert not Refund.objects.exists()
    theirs.refresh_from_db()
    assert theirs.amount_refunded_cents == 0


# --- Cancellation through the policy -------------------------------------------------------------


def cancel(who, booking, api_client, staff_client, sj_manager):
    if who == "customer":
        return api_client.post(
            f"{BOOKINGS}{booking.reference}/cancel",
            {"reason": "plans changed"},
            format="json",
            HTTP_X_BOOKING_TOKEN=booking.created["manage_token"],
        )
    return staff_client(sj_manager).post(
        f"{STAFF_BOOKINGS}{booking.pk}/cancel", {"reason": "plans changed"}, format="json"
    )


@pytest.mark.parametrize("who", ["customer", "staff"])
def test_cancelling_before_the_forfeit_window_refunds_everything(
    who, paid_booking, api_client, staff_client, sj_manager, san_jose
):
    assert san_jose.deposit_forfeit_hours == 72  # the booking is 10 days ahead

    response = cancel(who, paid_booking, api_client, staff_client, sj_manager)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    payment = deposit_of(paid_booking)
    refunds = list(payment.refunds.values_list("amount_cents", "status", "requested_by_label"))
    label = "customer" if who == "customer" else "sj-manager"
    assert refunds == [(10_000, RefundStatus.SUCCEEDED, label)]
    assert payment.refunds.get().reason == "cancellation (full_refund)"
    assert payment.status == PaymentStatus.REFUNDED
    assert_sums(paid_booking)
    assert paid_booking.status == BookingStatus.CANCELLED
    assert (paid_booking.amount_paid_cents, paid_booking.amount_refunded_cents) == (10_000, 10_000)
    policy = paid_booking.events.get(to_status="cancelled").data["policy"]
    assert (policy["rule"], policy["refund_cents"], policy["forfeit_cents"]) == (
        "full_refund",
        10_000,
        0,
    )


@pytest.mark.parametrize("who", ["customer", "staff"])
def test_cancelling_inside_the_forfeit_window_keeps_the_deposit(
    who, paid_booking, api_client, staff_client, sj_manager, san_jose
):
    san_jose.deposit_forfeit_hours = 24 * 30  # the booking, 10 days ahead, is inside it
    san_jose.save(update_fields=["deposit_forfeit_hours"])

    response = cancel(who, paid_booking, api_client, staff_client, sj_manager)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert not Refund.objects.exists()
    payment = deposit_of(paid_booking)
    assert (payment.status, payment.amount_refunded_cents) == (PaymentStatus.SUCCEEDED, 0)
    assert_sums(paid_booking)
    assert (paid_booking.status, paid_booking.amount_paid_cents) == (
        BookingStatus.CANCELLED,
        10_000,
    )
    policy = paid_booking.events.get(to_status="cancelled").data["policy"]
    assert (policy["rule"], policy["refund_cents"], policy["forfeit_cents"]) == (
        "deposit_forfeited",
        0,
        10_000,
    )


def test_inside_the_window_what_was_paid_beyond_the_deposit_is_refunded(
    paid_booking, apply_event, stripe_event, staff_client, sj_manager, sj_agent, san_jose
):
    client = staff_client(sj_manager)
    assert client.post(f"{STAFF_BOOKINGS}{paid_booking.pk}/request-balance").status_code == 200
    balance = paid_booking.payments.get(kind="balance")
    apply_event(stripe_event("payment_intent.succeeded", balance))
    san_jose.deposit_forfeit_hours = 24 * 30
    san_jose.manager_refund_limit_cents = 0  # the policy, not the actor's role, decides
    san_jose.save(update_fields=["deposit_forfeit_hours", "manager_refund_limit_cents"])

    response = staff_client(sj_agent).post(f"{STAFF_BOOKINGS}{paid_booking.pk}/cancel")

    assert response.status_code == 200, response.content
    balance.refresh_from_db()
    assert list(Refund.objects.values_list("payment_id", "amount_cents")) == [
        (balance.pk, balance.amount_cents)
    ]
    assert balance.status == PaymentStatus.REFUNDED
    assert deposit_of(paid_booking).status == PaymentStatus.SUCCEEDED
    assert_sums(paid_booking)
    assert paid_booking.amount_paid_cents - paid_booking.amount_refunded_cents == 10_000


def test_cancelling_an_unpaid_booking_refunds_nothing(deposit_booking, api_client):
    response = api_client.post(
        f"{BOOKINGS}{deposit_booking.reference}/cancel",
        {},
        format="json",
        HTTP_X_BOOKING_TOKEN=deposit_booking.created["manage_token"],
    )

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert not Refund.objects.exists()
    assert Payment.objects.get().status == PaymentStatus.CANCELED  # withdrawn: nothing to pay


def test_a_cancelled_booking_cannot_be_cancelled_again_for_a_second_refund(
    paid_booking, api_client, staff_client, sj_manager
):
    assert cancel("customer", paid_booking, api_client, staff_client, sj_manager).status_code == 200

    again = cancel("staff", paid_booking, api_client, staff_client, sj_manager)

    assert_error(again, 409, "invalid_transition")
    assert Refund.objects.count() == 1


def test_the_admin_cancel_action_applies_the_same_policy(paid_booking, client, sj_manager):
    client.force_login(sj_manager)

    client.post(
        reverse("admin:bookings_booking_changelist"),
        {"action": "cancel_selected", "_selected_action": [paid_booking.pk]},
        follow=True,
    )

    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CANCELLED
    assert list(Refund.objects.values_list("amount_cents", "requested_by_label")) == [
        (10_000, "sj-manager")
    ]
    assert_sums(paid_booking)
    assert paid_booking.amount_refunded_cents == 10_000


def _expire(booking):
    bookings_services.bookings_expire_holds(now=booking.hold_expires_at + timedelta(minutes=1))


def _cancel_by_customer(booking, api_client):
    response = api_client.post(
        f"{BOOKINGS}{booking.reference}/cancel",
        {},
        format="json",
        HTTP_X_BOOKING_TOKEN=booking.created["manage_token"],
    )
    assert response.status_code == 200


@pytest.mark.parametrize("end", ["cancelled", "expired"])
def test_a_cancelled_or_expired_booking_offers_nothing_to_pay(end, deposit_booking, api_client):
    if end == "cancelled":
        _cancel_by_customer(deposit_booking, api_client)
    else:
        _expire(deposit_booking)
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == end

    shown = api_client.get(
        f"{BOOKINGS}{deposit_booking.reference}/",
        HTTP_X_BOOKING_TOKEN=deposit_booking.created["manage_token"],
    ).json()

    assert shown["status"] == end
    assert shown["payment"] is None


@pytest.mark.parametrize("end", ["cancelled", "expired"])
def test_a_deposit_paid_after_the_booking_ended_is_returned_not_kept(
    end, deposit_booking, api_client, apply_event, stripe_event, mailoutbox
):
    """Paid after the cancellation, or after the hold ended: the money goes back by itself,
    the customer is told, staff see it in the history."""
    if end == "cancelled":
        _cancel_by_customer(deposit_booking, api_client)
    else:
        _expire(deposit_booking)
    payment = deposit_of(deposit_booking)
    event = stripe_event("payment_intent.succeeded", payment)
    event["created"] = int((deposit_booking.hold_expires_at + timedelta(minutes=1)).timestamp())

    apply_event(event)

    deposit_booking.refresh_from_db()
    assert deposit_booking.status == end
    payment.refresh_from_db()
    assert (payment.to_return, payment.amount_refunded_cents) == (True, payment.amount_cents)
    note = deposit_booking.events.get(reason__contains="refunded automatically")
    assert payment.stripe_payment_intent_id == note.data["payment_intent"]
    assert_sums(deposit_booking)
    assert not [m for m in mailoutbox if "is booked" in m.subject]
    assert [m for m in mailoutbox if "being refunded" in m.subject]
    # The sweeper finds nothing more to return, whatever happens to the event again.
    assert payment_selectors.payments_to_return() == []


def test_the_sweeper_withdraws_what_an_expired_booking_still_offered(deposit_booking):
    from payments.tasks import sweep_stripe_events

    _expire(deposit_booking)
    assert Payment.objects.get().status == PaymentStatus.PENDING  # the hold ended meanwhile

    sweep_stripe_events.delay()

    assert Payment.objects.get().status == PaymentStatus.CANCELED
