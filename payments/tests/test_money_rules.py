"""
The money and time defects of issue 9 (points 1-8 and 10), each through the public surface:
the customer's booking link, the staff API, the Stripe webhook and the tasks.

Dates are chosen explicitly (a Saturday and a Tuesday at least ten days ahead), so the weekend
minimum makes the prices known whatever day the suite runs; the clock is moved with
time-machine where a test needs the event to have started.
"""

from datetime import timedelta

import pytest
import time_machine

from bookings import services as booking_services
from bookings.models import BookingEvent, BookingStatus
from bookings.tests.helpers import future_date, next_weekday
from payments import intents, stripe_client
from payments.models import PaymentKind, PaymentStatus, Refund, RefundStatus
from payments.tasks import charge_balance
from payments.tests.conftest import deposit_of

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

SUCCEEDED = "payment_intent.succeeded"
SATURDAY_TOTAL = 87_400  # 10 adults, 2 children, gyoza: the weekend minimum + 9.25 % tax
TUESDAY_TOTAL = 74_072  # the same party on a weekday


def link(api_client, booking, action="", method="post", data=None):
    """The customer's booking link (the token the create call answered)."""
    url = f"/api/v1/bookings/{booking.reference}/{action + '/' if action else ''}"
    call = getattr(api_client, method)
    return call(
        url.rstrip("/") if action else url,
        data or {},
        format="json",
        HTTP_X_BOOKING_TOKEN=booking.created["manage_token"],
    )


def staff(staff_client, user, path, data=None):
    return staff_client(user).post(f"/api/v1/staff/{path}", data or {}, format="json")


def pay(apply_event, stripe_event, payment, **fields):
    apply_event(stripe_event(SUCCEEDED, payment, **fields))
    payment.refresh_from_db()
    return payment


@pytest.fixture
def saturday(san_jose):
    return next_weekday(san_jose, 5)


@pytest.fixture
def tuesday_after(san_jose, saturday):
    """A Tuesday after the Saturday booking (the weekday minimum is lower)."""
    return future_date(san_jose, saturday + 3)


@pytest.fixture
def deposit_paid(book, san_jose, saturday, apply_event, stripe_event):
    """A Saturday booking (87,400) with its 10,000 deposit paid: confirmed."""
    booking = book(san_jose, days=saturday)
    pay(apply_event, stripe_event, deposit_of(booking))
    booking.refresh_from_db()
    assert (booking.status, booking.total_cents) == (BookingStatus.CONFIRMED, SATURDAY_TOTAL)
    return booking


@pytest.fixture
def fully_paid(deposit_paid, apply_event, stripe_event, owner):
    """The same booking with its balance (77,400) requested and paid: paid = total."""
    balance = intents.payment_request_balance(
        booking=deposit_paid, actor=booking_services.Actor.of(owner)
    )
    pay(apply_event, stripe_event, balance)
    deposit_paid.refresh_from_db()
    assert deposit_paid.amount_paid_cents == SATURDAY_TOTAL
    return deposit_paid


def after_the_party(booking, hours=12):
    return time_machine.travel(booking.ends_at + timedelta(hours=hours), tick=False)


# --- 1. Cancel after the party ------------------------------------------------------------------


def test_the_customer_cannot_cancel_after_the_event_started(fully_paid, api_client):
    with after_the_party(fully_paid):
        response = link(api_client, fully_paid, "cancel")
        shown = link(api_client, fully_paid, method="get").json()

    assert response.status_code == 409
    assert response.json()["error"] == "event_started"
    fully_paid.refresh_from_db()
    assert fully_paid.status == BookingStatus.CONFIRMED
    assert not Refund.objects.exists()
    assert shown["policy"]["cancel"]["allowed"] is False
    assert shown["policy"]["reschedule"]["allowed"] is False


def test_even_a_minute_after_the_start_the_customer_cannot_cancel(deposit_paid, api_client):
    with time_machine.travel(deposit_paid.starts_at + timedelta(minutes=1), tick=False):
        response = link(api_client, deposit_paid, "cancel")
    assert response.status_code == 409


def test_staff_cancel_after_the_start_refunds_only_what_they_choose(
    fully_paid, staff_client, owner
):
    with after_the_party(fully_paid):
        response = staff(
            staff_client, owner, f"bookings/{fully_paid.pk}/cancel", {"refund_cents": 5_000}
        )

    assert response.status_code == 200, response.json()
    fully_paid.refresh_from_db()
    assert fully_paid.status == BookingStatus.CANCELLED
    assert sum(r.amount_cents for r in Refund.objects.all()) == 5_000
    assert fully_paid.amount_refunded_cents == 5_000


def test_staff_cancel_after_the_start_refunds_nothing_unless_asked(
    fully_paid, staff_client, sj_manager
):
    with after_the_party(fully_paid):
        response = staff(staff_client, sj_manager, f"bookings/{fully_paid.pk}/cancel")

    assert response.status_code == 200
    assert not Refund.objects.exists()
    event = fully_paid.events.get(to_status=BookingStatus.CANCELLED)
    assert event.data["policy"]["rule"] == "event_started"


def test_a_manager_over_the_limit_cannot_cancel_with_a_big_refund(
    fully_paid, staff_client, sj_manager, san_jose
):
    san_jose.manager_refund_limit_cents = 1_000
    san_jose.save()
    with after_the_party(fully_paid):
        response = staff(
            staff_client, sj_manager, f"bookings/{fully_paid.pk}/cancel", {"refund_cents": 5_000}
        )

    assert response.status_code == 403
    fully_paid.refresh_from_db()
    assert fully_paid.status == BookingStatus.CONFIRMED  # refused whole: nothing cancelled
    assert not Refund.objects.exists()


# --- 2. Reschedule after the party --------------------------------------------------------------


@pytest.mark.parametrize("who", ["customer", "staff"])
def test_nobody_reschedules_a_party_that_has_started(
    who, fully_paid, api_client, staff_client, owner, san_jose
):
    later = future_date(san_jose, 30)
    body = {"event_date": later.isoformat(), "start_time": "17:00"}
    with after_the_party(fully_paid):
        if who == "customer":
            response = link(api_client, fully_paid, "reschedule", data=body)
        else:
            response = staff(staff_client, owner, f"bookings/{fully_paid.pk}/reschedule", body)

    assert response.status_code == 409
    assert response.json()["error"] == "event_started"
    fully_paid.refresh_from_db()
    assert (fully_paid.reschedule_count, fully_paid.total_cents) == (0, SATURDAY_TOTAL)


# --- 3. The link never asks for money that is not owed ------------------------------------------


def test_after_a_phone_confirmation_and_a_paid_balance_the_link_offers_nothing(
    book, san_jose, saturday, staff_client, sj_manager, apply_event, stripe_event, api_client
):
    booking = book(san_jose, days=saturday)
    assert staff(staff_client, sj_manager, f"bookings/{booking.pk}/confirm").status_code == 200
    assert (
        staff(staff_client, sj_manager, f"bookings/{booking.pk}/request-balance").status_code == 200
    )
    balance = booking.payments.get(kind=PaymentKind.BALANCE)
    assert balance.amount_cents == SATURDAY_TOTAL
    pay(apply_event, stripe_event, balance)

    shown = link(api_client, booking, method="get").json()

    assert shown["balance_due_cents"] == 0
    assert shown["payment"] is None
    # The deposit intent the balance made redundant was withdrawn, not left payable.
    assert deposit_of(booking).status == PaymentStatus.CANCELED


def test_after_a_cheaper_reschedule_the_link_asks_for_the_new_balance(
    deposit_paid, tuesday_after, staff_client, sj_manager, api_client
):
    staff(staff_client, sj_manager, f"bookings/{deposit_paid.pk}/request-balance")
    body = {"event_date": tuesday_after.isoformat(), "start_time": "17:00"}

    response = link(api_client, deposit_paid, "reschedule", data=body)

    assert response.status_code == 200, response.json()
    shown = link(api_client, deposit_paid, method="get").json()
    assert shown["total_cents"] == TUESDAY_TOTAL
    assert shown["balance_due_cents"] == TUESDAY_TOTAL - 10_000
    assert shown["payment"]["amount_cents"] == TUESDAY_TOTAL - 10_000
    old = deposit_paid.payments.get(kind=PaymentKind.BALANCE, amount_cents=SATURDAY_TOTAL - 10_000)
    assert old.status == PaymentStatus.CANCELED


def test_a_stale_intent_is_not_offered_even_before_it_is_withdrawn(
    deposit_paid, api_client, apply_event, stripe_event, owner
):
    """The selector itself refuses an intent above the balance (the withdrawal may lag)."""
    balance = intents.payment_request_balance(
        booking=deposit_paid, actor=booking_services.Actor.of(owner)
    )
    deposit_paid.__class__.objects.filter(pk=deposit_paid.pk).update(total_cents=20_000)

    shown = link(api_client, deposit_paid, method="get").json()

    assert balance.amount_cents > shown["balance_due_cents"] == 10_000
    assert shown["payment"] is None


# --- 4. Credit above a new total ----------------------------------------------------------------


def test_a_cheaper_reschedule_refunds_the_credit(fully_paid, tuesday_after, api_client):
    body = {"event_date": tuesday_after.isoformat(), "start_time": "17:00"}

    response = link(api_client, fully_paid, "reschedule", data=body)

    assert response.status_code == 200, response.json()
    fully_paid.refresh_from_db()
    credit = SATURDAY_TOTAL - TUESDAY_TOTAL
    assert fully_paid.total_cents == TUESDAY_TOTAL
    assert fully_paid.amount_refunded_cents == credit  # offline refunds apply at once
    assert (fully_paid.credit_cents, fully_paid.balance_due_cents) == (0, 0)
    assert fully_paid.net_paid_cents == TUESDAY_TOTAL


def test_a_credit_stripe_refuses_to_refund_is_shown_as_owed(
    fully_paid, tuesday_after, staff_client, owner, monkeypatch
):
    def refuse(**kwargs):
        raise stripe_client.StripeRejected("charge disputed")

    monkeypatch.setattr(stripe_client, "create_refund", refuse)
    body = {"event_date": tuesday_after.isoformat(), "start_time": "17:00"}

    response = staff(staff_client, owner, f"bookings/{fully_paid.pk}/reschedule", body)

    assert response.status_code == 200
    credit = SATURDAY_TOTAL - TUESDAY_TOTAL
    assert response.json()["credit_cents"] == credit
    fully_paid.refresh_from_db()
    assert fully_paid.credit_cents == credit
    assert fully_paid.events.filter(reason__contains="refund by hand").exists()


# --- 5 and 6. Balance requests and the automatic charge -----------------------------------------


@pytest.fixture
def card_on_file(fake_stripe, book, san_jose, saturday, apply_event, stripe_event):
    booking = book(san_jose, days=saturday)
    pay(apply_event, stripe_event, deposit_of(booking), customer="cus_1", payment_method="pm_1")
    booking.refresh_from_db()
    san_jose.auto_charge_balance_days = 30
    san_jose.save()
    return booking


def test_the_automatic_charge_charges_while_a_manual_request_is_open(
    card_on_file, fake_stripe, staff_client, sj_manager
):
    staff(staff_client, sj_manager, f"bookings/{card_on_file.pk}/request-balance")
    manual = card_on_file.payments.get(kind=PaymentKind.BALANCE)

    charge_balance.delay(card_on_file.pk)

    charges = [c for c in fake_stripe.posts("/v1/payment_intents") if c["form"].get("confirm")]
    assert len(charges) == 1
    assert charges[0]["form"]["payment_method"] == "pm_1"
    auto = card_on_file.payments.get(kind=PaymentKind.BALANCE, off_session=True)
    assert auto.pk != manual.pk


def test_a_refunded_balance_can_be_requested_again(
    fully_paid, staff_client, owner, api_client, apply_event, stripe_event
):
    balance = fully_paid.payments.get(kind=PaymentKind.BALANCE)
    refund = staff(staff_client, owner, f"payments/{balance.pk}/refund")
    assert refund.status_code == 200, refund.json()
    fully_paid.refresh_from_db()
    assert fully_paid.balance_due_cents == balance.amount_cents

    response = staff(staff_client, owner, f"bookings/{fully_paid.pk}/request-balance")

    assert response.status_code == 200
    again = fully_paid.payments.filter(kind=PaymentKind.BALANCE).exclude(pk=balance.pk).get()
    assert again.stripe_payment_intent_id != balance.stripe_payment_intent_id
    assert again.status == PaymentStatus.PENDING
    shown = link(api_client, fully_paid, method="get").json()
    assert shown["payment"]["payment_intent"] == again.stripe_payment_intent_id


# --- 7. Refunds in flight -----------------------------------------------------------------------


def test_cancelling_while_a_staff_refund_is_in_flight_refunds_the_rest(
    fake_stripe, book, san_jose, saturday, apply_event, stripe_event, staff_client, owner,
    api_client,
):  # fmt: skip
    booking = book(san_jose, days=saturday)
    deposit = pay(apply_event, stripe_event, deposit_of(booking))
    response = staff(staff_client, owner, f"payments/{deposit.pk}/refund", {"amount_cents": 3_000})
    assert response.status_code == 200  # accepted by Stripe; charge.refunded not back yet
    booking.refresh_from_db()
    assert booking.amount_refund_pending_cents == 3_000

    response = link(api_client, booking, "cancel")

    assert response.status_code == 200
    refunds = sorted(r.amount_cents for r in Refund.objects.filter(payment=deposit))
    assert refunds == [3_000, 7_000]
    assert not BookingEvent.objects.filter(booking=booking, reason__contains="by hand").exists()
    assert sum(refunds) <= deposit.amount_cents
    # When Stripe reports both, nothing is pending and everything is refunded.
    apply_event(stripe_event("charge.refunded", deposit, amount_refunded=10_000))
    booking.refresh_from_db()
    assert (booking.amount_refunded_cents, booking.amount_refund_pending_cents) == (10_000, 0)
    assert set(Refund.objects.values_list("status", flat=True)) == {RefundStatus.SUCCEEDED}


# --- 8. A retired add-on ------------------------------------------------------------------------


def test_retiring_an_add_on_does_not_block_rescheduling(deposit_paid, san_jose, api_client):
    gyoza = san_jose.addons.get(code="gyoza")
    sold = next(line for line in deposit_paid.quote_lines if line["code"] == "gyoza")
    gyoza.active, gyoza.price_cents = False, gyoza.price_cents * 3
    gyoza.save()
    later = future_date(san_jose, next_weekday(san_jose, 5, at_least_days=20))

    response = link(
        api_client,
        deposit_paid,
        "reschedule",
        data={"event_date": later.isoformat(), "start_time": "17:00"},
    )

    assert response.status_code == 200, response.json()
    deposit_paid.refresh_from_db()
    assert deposit_paid.addon_codes == ["gyoza"]
    assert sold in deposit_paid.quote_lines  # the price it was sold at
    assert deposit_paid.total_cents == SATURDAY_TOTAL


# --- 10. The manager refund limit is per booking ------------------------------------------------


def test_the_manager_limit_counts_what_managers_refunded_on_the_booking(
    fully_paid, staff_client, sj_manager, owner, san_jose
):
    san_jose.manager_refund_limit_cents = 1_000
    san_jose.save()
    balance = fully_paid.payments.get(kind=PaymentKind.BALANCE)
    path = f"payments/{balance.pk}/refund"

    first = staff(staff_client, sj_manager, path, {"amount_cents": 1_000})
    second = staff(staff_client, sj_manager, path, {"amount_cents": 1_000})
    deposit = staff(
        staff_client,
        sj_manager,
        f"payments/{deposit_of(fully_paid).pk}/refund",
        {"amount_cents": 1},
    )

    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]) == (403, "refund_over_limit")
    assert deposit.status_code == 403  # another payment of the same booking counts too
    assert staff(staff_client, owner, path, {"amount_cents": 1_000}).status_code == 200
    assert sum(Refund.objects.values_list("amount_cents", flat=True)) == 2_000
