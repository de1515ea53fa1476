"""Reads of the payments domain."""

from django.conf import settings

from bookings.models import NO_PAYMENT_STATUSES, Booking
from payments import stripe_client
from payments.models import OPEN_STATUSES, Payment


def payment_block(payment: Payment | None) -> dict | None:
    """What the booking site needs to take a payment with Stripe.js (None: nothing to pay)."""
    if payment is None or payment.status not in OPEN_STATUSES:
        return None
    return {
        "client_secret": payment.client_secret,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "payment_intent": payment.stripe_payment_intent_id,
        "kind": payment.kind,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "mode": "offline" if payment.offline else stripe_client.mode(),
    }


def open_payment(booking: Booking) -> Payment | None:
    """The booking's payment still waiting for the customer, newest first, never one asking
    for more than is due (a stale intent the sweeper has not withdrawn yet is not offered)."""
    if booking.status in NO_PAYMENT_STATUSES:
        return None
    return (
        booking.payments.filter(
            status__in=OPEN_STATUSES,
            amount_cents__lte=booking.balance_due_cents,
        )
        .order_by("-created_at", "-pk")
        .first()
    )
