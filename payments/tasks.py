"""Payments background work. Thin: tasks take ids, call a service, retry with backoff."""

import logging

from celery import shared_task

from bookings.models import Booking
from config.exceptions import ApiError
from payments import services, stripe_client
from payments.models import Payment, Refund, StripeEvent

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def process_stripe_event(self, event_row_id: int) -> str:
    """Apply one stored Stripe event (the sweeper's and the admin's way; idempotent: a
    processed row is skipped)."""
    if not StripeEvent.objects.filter(pk=event_row_id).exists():
        return "gone"
    return services.stripe_event_apply(event_row_id=event_row_id)


@shared_task(acks_late=True, ignore_result=True)
def drain_stripe_events() -> int:
    """Apply the waiting ledger rows (kicked by the webhook once per burst of events)."""
    return services.stripe_events_drain()


@shared_task(ignore_result=True)
def sweep_stripe_events() -> int:
    """Re-enqueue ledger rows still waiting (the broker was down when they arrived) or failed
    with attempts left, resend refunds Stripe never accepted, and withdraw the open
    PaymentIntents of bookings that ended (expired holds) (beat: every minute)."""
    stuck = services.stripe_events_stuck()
    for row_id in stuck:
        process_stripe_event.delay(row_id)
    for refund_id in services.refunds_unsent():
        send_refund.delay(refund_id)
    for booking in Booking.objects.filter(pk__in=services.bookings_with_open_payments_ended()):
        services.payments_withdraw_open(booking=booking)
    for payment in Payment.objects.filter(pk__in=services.payments_to_return()):
        try:
            services.payment_return(payment=payment)
        except (ApiError, stripe_client.StripeError):
            logger.warning("late payment %s not returned yet", payment.pk, exc_info=True)
    return len(stuck)


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(stripe_client.StripeUnavailable,),
    retry_backoff=10,
    max_retries=8,
)
def send_refund(refund_id: int) -> None:
    refund = Refund.objects.select_related("payment").filter(pk=refund_id).first()
    if refund is not None:
        services.refund_send(refund=refund)


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(stripe_client.StripeUnavailable,),
    retry_backoff=30,
    max_retries=5,
)
def charge_balance(booking_id: int) -> None:
    """Charge one booking's balance to its saved card (same key on retry: one intent)."""
    booking = Booking.objects.select_related("station", "customer").filter(pk=booking_id).first()
    if booking is not None:
        services.payment_charge_saved_card(booking=booking)


@shared_task(ignore_result=True)
def charge_due_balances() -> int:
    """Beat (hourly): enqueue the automatic balance charges that are due."""
    due = services.bookings_due_for_autocharge()
    for booking_id in due:
        charge_balance.delay(booking_id)
    return len(due)
