"""Reads of the payments domain: what the booking site shows, what can still be refunded, and
what the sweepers (payments.tasks) have left to do."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q, Sum
from django.utils import timezone

from bookings.models import NO_PAYMENT_STATUSES, Booking, BookingStatus
from payments import stripe_client
from payments.models import (
    OPEN_STATUSES,
    EventOutcome,
    Payment,
    Refund,
    RefundStatus,
    StripeEvent,
)
from stations.models import Membership, Role


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


# --- Refunds ---------------------------------------------------------------------------------


def refunded_by_managers(*, booking_id: int, station_id: int) -> int:
    """What the station's managers have chosen to refund on this booking (policy refunds and
    failed ones aside): the manager limit applies to this sum, not to each request."""
    managers = Membership.objects.filter(station_id=station_id, role=Role.MANAGER).values("user")
    return (
        Refund.objects.filter(
            payment__booking_id=booking_id, by_policy=False, requested_by__in=managers
        )
        .exclude(status=RefundStatus.FAILED)
        .aggregate(total=Sum("amount_cents"))["total"]
        or 0
    )


def _pending_refunds(payment: Payment) -> int:
    """Refunds of this payment sent (or being sent) to Stripe, not yet confirmed by it."""
    return (
        payment.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount_cents"))[
            "total"
        ]
        or 0
    )


def refundable_now(payment: Payment) -> int:
    """What can still be refunded: paid, less refunds done and refunds in flight."""
    return max(0, payment.refundable_cents - _pending_refunds(payment))


# --- What the sweepers look for --------------------------------------------------------------


def bookings_with_stale_open_payments() -> list[int]:
    """Bookings with a payment still waiting that should not be paid any more (sweeper input):
    the booking ended (cancelled, expired, no-show), or the intent asks for more than is due."""
    held = F("amount_paid_cents") - F("amount_refunded_cents") - F("amount_refund_pending_cents")
    return list(
        Booking.objects.filter(
            Q(status__in=NO_PAYMENT_STATUSES)
            | Q(payments__amount_cents__gt=F("total_cents") - held),
            payments__status__in=OPEN_STATUSES,
        )
        .values_list("pk", flat=True)
        .distinct()[:200]
    )


def payments_to_return() -> list[int]:
    """Payments flagged to return that hold money and were not returned yet (sweeper input)."""
    return list(
        Payment.objects.filter(
            to_return=True, succeeded=True, amount_refunded_cents__lt=F("amount_cents")
        )
        .exclude(refunds__idempotency_key__startswith="late-")
        .values_list("pk", flat=True)[:200]
    )


def stripe_events_stuck(
    *, older_than_seconds: int | None = None, max_attempts: int = 8
) -> list[int]:
    """Ledger rows still waiting (the broker was down) or failed with attempts left, older
    than the sweeper's grace (settings.SWEEPER_GRACE_SECONDS, a minute)."""
    grace = settings.SWEEPER_GRACE_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=grace)
    return list(
        StripeEvent.objects.filter(
            outcome__in=[EventOutcome.PENDING, EventOutcome.FAILED],
            attempts__lt=max_attempts,
            received_at__lt=cutoff,
        ).values_list("pk", flat=True)[:500]
    )


def refunds_unsent(*, older_than_seconds: int | None = None) -> list[int]:
    """Refunds created but not yet accepted by Stripe (it was unreachable when they were)."""
    grace = settings.SWEEPER_GRACE_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=grace)
    return list(
        Refund.objects.filter(
            status=RefundStatus.PENDING, stripe_refund_id="", created_at__lt=cutoff
        ).values_list("pk", flat=True)[:200]
    )


def bookings_due_for_autocharge(*, now=None) -> list[int]:
    """Confirmed bookings with a balance due whose station charges saved cards N days before
    the event, now inside that window."""
    now = now or timezone.now()
    candidates = Booking.objects.filter(
        status=BookingStatus.CONFIRMED,
        starts_at__gt=now,
        station__auto_charge_balance_days__gt=0,
    ).select_related("station")
    return [
        b.pk
        for b in candidates
        if b.balance_due_cents > 0
        and b.starts_at - now <= timedelta(days=b.station.auto_charge_balance_days)
    ]
