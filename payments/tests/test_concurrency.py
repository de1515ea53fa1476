"""
Real concurrent requests against a live server on PostgreSQL: a webhook event delivered many
times at once is stored once and applied once; different events for one PaymentIntent racing
each other converge; concurrent refunds never refund more than was paid.
"""

import pytest

from bookings.models import BookingEvent, BookingStatus
from config.services import api_token_issue
from config.tests.live import storm
from payments.models import EventOutcome, PaymentStatus, Refund, StripeEvent
from payments.tests.conftest import WEBHOOK, deposit_of, encode

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_the_same_event_ten_times_at_once_is_stored_and_applied_once(
    live_server, book, san_jose, sign, stripe_event, mailoutbox
):
    booking = book(san_jose)  # its customer is reached by e-mail
    assert booking.customer.sms_opt_in is False
    event = stripe_event("payment_intent.succeeded", deposit_of(booking))
    body = encode(event)
    url = f"{live_server.url}{WEBHOOK}"

    results = storm([(url, body, {"Stripe-Signature": sign(body)})] * 10)

    assert [code for code, _ in results] == [200] * 10, results
    duplicates = sorted(answer["duplicate"] for _, answer in results)
    assert duplicates == [False] + [True] * 9
    row = StripeEvent.objects.get()
    assert (row.event_id, row.outcome, row.attempts) == (event["id"], EventOutcome.PROCESSED, 1)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    confirmed = BookingEvent.objects.filter(booking=booking, to_status=BookingStatus.CONFIRMED)
    assert confirmed.count() == 1
    about_it = [m for m in mailoutbox if booking.reference in m.subject]
    assert [m.subject for m in about_it] == [f"Your hibachi party is booked ({booking.reference})"]
    payment = deposit_of(booking)
    assert (payment.status, booking.amount_paid_cents) == (PaymentStatus.SUCCEEDED, 10_000)


def test_racing_events_for_one_intent_converge(live_server, book, san_jose, sign, stripe_event):
    booking = book(san_jose)
    payment = deposit_of(booking)
    events = [
        stripe_event(kind, payment)
        for kind in (
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "charge.refunded",
            "charge.dispute.created",
        )
    ]
    url = f"{live_server.url}{WEBHOOK}"
    requests = []
    for event in events:
        body = encode(event)
        requests += [(url, body, {"Stripe-Signature": sign(body)})] * 4

    results = storm(requests)

    assert [code for code, _ in results] == [200] * len(requests), results
    assert StripeEvent.objects.count() == 4
    assert set(StripeEvent.objects.values_list("outcome", flat=True)) == {EventOutcome.PROCESSED}
    payment.refresh_from_db()
    assert (payment.status, payment.succeeded, payment.amount_refunded_cents, payment.disputed) == (
        PaymentStatus.REFUNDED,
        True,
        10_000,
        True,
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert (booking.amount_paid_cents, booking.amount_refunded_cents) == (10_000, 10_000)
    assert booking.events.filter(to_status="confirmed", from_status="pending_deposit").count() == 1


def test_concurrent_refunds_never_exceed_what_was_paid(live_server, settings, paid_booking, owner):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "staff": "10000/min"}
    payment = deposit_of(paid_booking)
    url = f"{live_server.url}/api/v1/staff/payments/{payment.pk}/refund"
    auth = {"Authorization": f"Token {api_token_issue(user=owner)[1]}"}
    body = {"amount_cents": 2000}

    results = storm([(url, body, {**auth, "Idempotency-Key": f"k{n}"}) for n in range(8)])

    codes = sorted(code for code, _ in results)
    assert codes == [200] * 5 + [400] * 3, results
    assert all(a["error"] == "validation_error" for code, a in results if code == 400)
    payment.refresh_from_db()
    assert (payment.amount_refunded_cents, payment.status) == (10_000, PaymentStatus.REFUNDED)
    assert Refund.objects.count() == 5


def test_the_same_refund_key_at_once_makes_one_refund(live_server, settings, paid_booking, owner):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "staff": "10000/min"}
    payment = deposit_of(paid_booking)
    url = f"{live_server.url}/api/v1/staff/payments/{payment.pk}/refund"
    headers = {
        "Authorization": f"Token {api_token_issue(user=owner)[1]}",
        "Idempotency-Key": "one-key",
    }
    body = {"amount_cents": 3000}

    results = storm([(url, body, headers)] * 8)

    assert [code for code, _ in results] == [200] * 8, results
    assert Refund.objects.count() == 1
    payment.refresh_from_db()
    assert payment.amount_refunded_cents == 3000


def test_concurrent_manager_refunds_stay_within_the_limit_per_booking(
    live_server, settings, paid_booking, sj_manager, san_jose
):
    """The manager limit is per booking in total, also when the requests race."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "staff": "10000/min"}
    san_jose.manager_refund_limit_cents = 1_000
    san_jose.save()
    payment = deposit_of(paid_booking)
    url = f"{live_server.url}/api/v1/staff/payments/{payment.pk}/refund"
    auth = {"Authorization": f"Token {api_token_issue(user=sj_manager)[1]}"}

    results = storm(
        [(url, {"amount_cents": 500}, {**auth, "Idempotency-Key": f"m{n}"}) for n in range(6)]
    )

    codes = sorted(code for code, _ in results)
    assert codes == [200] * 2 + [403] * 4, results
    assert sum(Refund.objects.values_list("amount_cents", flat=True)) == 1_000


def test_a_refund_and_an_event_on_two_payments_of_one_booking_keep_its_sums(
    live_server, settings, paid_booking, owner, sign, stripe_event, sj_manager
):
    """Each transaction writes the booking's sums of all its payments: with the booking row
    locked before they are read, neither overwrites the other's change with a stale sum."""
    from bookings import services as booking_services
    from payments import intents

    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "staff": "10000/min"}
    balance = intents.payment_request_balance(
        booking=paid_booking, actor=booking_services.Actor.of(sj_manager)
    )
    deposit = deposit_of(paid_booking)
    refund_url = f"{live_server.url}/api/v1/staff/payments/{deposit.pk}/refund"
    auth = {"Authorization": f"Token {api_token_issue(user=owner)[1]}"}
    body = encode(stripe_event("payment_intent.succeeded", balance))
    webhook = (f"{live_server.url}{WEBHOOK}", body, {"Stripe-Signature": sign(body)})

    for n in range(3):
        results = storm(
            [(refund_url, {"amount_cents": 1000}, {**auth, "Idempotency-Key": f"r{n}"}), webhook]
        )
        assert [code for code, _ in results] == [200, 200], results

    paid_booking.refresh_from_db()
    payments = list(paid_booking.payments.filter(succeeded=True))
    assert paid_booking.amount_paid_cents == sum(p.amount_cents for p in payments)
    assert paid_booking.amount_refunded_cents == sum(p.amount_refunded_cents for p in payments)
    assert paid_booking.amount_refunded_cents == 3000
