"""
seed_demo builder for payments: the demo bookings (bookings.demo) with the money their history
speaks of. Everything goes through the real services in offline mode, with Stripe's part played
by fake_events through the webhook ledger, as `manage.py simulate_stripe_event` does:
- a deposit PaymentIntent (payments.intents), and for all but the few still pending, its
  `payment_intent.succeeded` event stored and applied by the ledger: the payment succeeds and
  the booking is confirmed with "deposit paid" in its history;
- past events: the balance requested (payments.intents) and paid the same way, then completed
  (or the deposit only, for a no-show);
- a few cancellations by the customer under the station's policy (payments.refunds): the refund
  the policy gives is a Refund row, completed at once offline.
So a booking's amount paid is the sum of its succeeded payments, its refunded amount the sum of
its refunds, and nothing claims money that is not there.
"""

import random

from django.utils import timezone

from bookings import demo as bookings_demo
from bookings import services as bookings
from bookings.demo import Fate
from bookings.models import Booking, BookingStatus
from payments import fake_events, intents, ledger, refunds, stripe_client
from payments.models import Payment
from stations.demo import STATIONS
from stations.models import Station


def _pay(payment: Payment) -> None:
    """Stripe's `payment_intent.succeeded` for this payment, through the webhook ledger."""
    event = fake_events.build_event("payment_intent.succeeded", payment)
    row_id = ledger.stripe_event_record(
        event_id=event["id"], event_type=event["type"], livemode=False, payload=event
    )
    outcome = ledger.stripe_event_apply(event_row_id=row_id)
    if outcome != "processed":
        raise RuntimeError(f"demo payment of {payment.booking.reference} was {outcome}")


def _live(booking: Booking) -> Booking:
    return Booking.objects.select_related("station", "customer").get(pk=booking.pk)


def make_it_so(booking: Booking, fate: str) -> None:
    """Bring a new demo booking to its fate through the payment and booking services."""
    deposit = intents.payment_for_deposit(booking=booking)
    if fate == Fate.PENDING:
        return
    _pay(deposit)
    booking = _live(booking)
    if fate == Fate.CANCELLED:
        refunds.booking_cancel_with_refund(
            booking=booking, actor=bookings.CUSTOMER, reason="plans changed"
        )
    elif fate == Fate.COMPLETED:
        if booking.balance_due_cents:
            _pay(intents.payment_request_balance(booking=booking, actor=bookings.SYSTEM))
        bookings.booking_transition(
            booking=_live(booking), to_status=BookingStatus.COMPLETED, actor=bookings.SYSTEM
        )
    elif fate == Fate.NO_SHOW:
        bookings.booking_transition(
            booking=booking, to_status=BookingStatus.NO_SHOW, actor=bookings.SYSTEM
        )


def build_bookings(*, password: str) -> str:
    """The demo bookings of each demo station with their payments and refunds. Skipped where
    demo bookings already exist (so a second run makes nothing). Needs offline payments: with
    a real Stripe key the demo would ask Stripe for money."""
    if not stripe_client.is_offline():
        return "bookings skipped: STRIPE_SECRET_KEY is set (demo payments run offline only)"
    real_now = timezone.now()
    made = 0
    for station in Station.objects.filter(slug__in=STATIONS).order_by("pk"):
        if bookings_demo.demo_bookings_exist(station):
            continue
        for booking, fate in bookings_demo.demo_bookings_for(
            station, random.Random(station.slug), real_now
        ):
            make_it_so(booking, fate)
            made += 1
    return f"{made} bookings with their payments" if made else "bookings already there"


STEPS = [
    ("bookings and their payments", build_bookings),
]
