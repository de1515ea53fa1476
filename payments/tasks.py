"""Payments background work. Thin: tasks take ids, call a service, retry with backoff."""

import contextlib
import logging
import signal
import threading

from billiard.pool import SIG_SOFT_TIMEOUT
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection

from bookings.models import Booking
from config.exceptions import ApiError
from payments import intents, ledger, refunds, selectors, stripe_client
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
    return ledger.stripe_event_apply(event_row_id=event_row_id)


class _DrainTimeUp(KeyboardInterrupt):
    """The drain's soft time limit. Not an Exception, so the drain's per-event `except
    Exception` cannot swallow it and stripe_event_apply does not record it as the event's
    failure; an interrupt, so psycopg cancels the statement in flight and the event's
    transaction rolls back whole (the row stays pending, its attempt uncounted)."""


@contextlib.contextmanager
def _soft_time_limit_raises(exc_type: type[BaseException]):
    """While inside, the pool's soft-time-limit signal raises `exc_type` instead of
    SoftTimeLimitExceeded (only a process's main thread can take signals: prefork's children)."""
    if SIG_SOFT_TIMEOUT is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_time_up(signum, frame):
        raise exc_type()

    previous = signal.signal(SIG_SOFT_TIMEOUT, raise_time_up)
    try:
        yield
    finally:
        signal.signal(SIG_SOFT_TIMEOUT, previous)


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.STRIPE_DRAIN_SOFT_TIME_LIMIT,
    time_limit=settings.STRIPE_DRAIN_TIME_LIMIT,
)
def drain_stripe_events(self) -> int:
    """Apply the waiting ledger rows (queued when an event is stored, unless a drain is
    already queued: payments.ledger).

    At its soft time limit the drain stops between two events (the one in flight rolls back
    and stays pending) and hands over to a new drain on the same queue with the same limits;
    the sweeper re-enqueues anything a lost hand-over leaves behind. No event is lost."""
    try:
        with _soft_time_limit_raises(_DrainTimeUp):
            return ledger.stripe_events_drain()
    except (_DrainTimeUp, SoftTimeLimitExceeded):
        if not connection.in_atomic_block:
            connection.close()  # interrupted mid-statement: start the next task afresh
        logger.warning("stripe drain reached its soft time limit; handing over")
        _drain_again(self.request)
        return 0


def _drain_again(request) -> None:
    hard, soft = request.timelimit or (None, None)
    queue = (request.delivery_info or {}).get("routing_key")
    drain_stripe_events.apply_async(queue=queue, time_limit=hard, soft_time_limit=soft)


@shared_task(ignore_result=True)
def sweep_stripe_events() -> int:
    """Re-enqueue ledger rows still waiting (the broker was down when they arrived) or failed
    with attempts left, resend refunds Stripe never accepted, and withdraw the open
    PaymentIntents of bookings that ended (expired holds) (beat: every minute)."""
    ledger.drain_flags_forget_lost()
    stuck = selectors.stripe_events_stuck()
    for row_id in stuck:
        process_stripe_event.delay(row_id)
    for refund_id in selectors.refunds_unsent():
        send_refund.delay(refund_id)
    for booking in Booking.objects.filter(pk__in=selectors.bookings_with_stale_open_payments()):
        intents.payments_withdraw_open(booking=booking)
    for payment in Payment.objects.filter(pk__in=selectors.payments_to_return()):
        try:
            refunds.payment_return(payment=payment)
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
        refunds.refund_send(refund=refund)


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
        intents.payment_charge_saved_card(booking=booking)


@shared_task(ignore_result=True)
def charge_due_balances() -> int:
    """Beat (hourly): enqueue the automatic balance charges that are due."""
    due = selectors.bookings_due_for_autocharge()
    for booking_id in due:
        charge_balance.delay(booking_id)
    return len(due)
