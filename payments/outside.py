"""
Money taken outside Stripe: cash at the door, a check, a card terminal of the station's own.

Staff record it, and from then on it counts like any other payment: the row is a Payment
(method cash/check/card_terminal) whose money arrived, recorded through the same facts as a
Stripe success (payments.facts), so the booking's paid amount and balance are the same sums,
and money that brings a pending booking up to its deposit confirms it like a Stripe deposit.
Stripe never hears of it, and cannot refund it (payments.refunds refuses: give it back by hand).

Locking: the booking's payments in id order, then the booking (the order everywhere in
payments), so two people recording at once see each other's money and the balance check holds.
"""

import logging
import uuid
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from bookings import services as bookings
from bookings.models import NO_PAYMENT_STATUSES, Booking, BookingStatus
from config.exceptions import ApiError, Conflict
from config.money import format_money
from payments import facts, intents
from payments.models import OUTSIDE_METHODS, Payment, PaymentKind, PaymentMethod

logger = logging.getLogger(__name__)

# A clock a few minutes ahead (a phone, a terminal's receipt) is not "the future".
CLOCK_SKEW = timedelta(minutes=5)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(message, code="validation_error", fields={field: [message]})


def _check_input(*, amount_cents: int, method: str, taken_by: str, received_at, note: str):
    if method not in OUTSIDE_METHODS:
        raise _invalid("method", "Choose cash, check or card terminal.")
    if amount_cents <= 0:
        raise _invalid("amount_cents", "Enter an amount above zero.")
    if not taken_by.strip():
        raise _invalid("taken_by", "Say who took the money.")
    if not note.strip():
        raise _invalid("note", "Say what the money is for (e.g. deposit in cash at the door).")
    if received_at > timezone.now() + CLOCK_SKEW:
        raise _invalid("received_at", "This is in the future.")


def payment_record_outside(
    *,
    booking: Booking,
    amount_cents: int,
    method: str,
    taken_by: str,
    received_at: datetime,
    note: str,
    actor: bookings.Actor,
) -> Payment:
    """Record money taken outside Stripe on a booking; returns the new payment.

    Refused (400 validation_error, nothing written) for an amount of zero or less, or more than
    the balance due; a method that is not cash, check or card terminal; no one named as having
    taken it; no note; a time in the future. Refused (409) for a booking that takes no more
    money (cancelled, expired, no-show): money given back after a cancellation is settled by
    hand. The booking's history says who recorded it, who took it, how, when and why; money
    reaching the deposit confirms a pending booking (and the customer is told, as for a card)."""
    _check_input(
        amount_cents=amount_cents,
        method=method,
        taken_by=taken_by,
        received_at=received_at,
        note=note,
    )
    effects = facts.AfterCommit()
    with transaction.atomic():
        list(Payment.objects.select_for_update().filter(booking_id=booking.pk).order_by("pk"))
        locked = Booking.objects.select_for_update().select_related("station").get(pk=booking.pk)
        if locked.status in NO_PAYMENT_STATUSES:
            raise Conflict(
                f"This booking is {locked.get_status_display().lower()}: it takes no more money.",
                code="invalid_transition",
            )
        due = locked.balance_due_cents
        if amount_cents > due:
            raise _invalid(
                "amount_cents",
                f"At most {format_money(due, locked.currency)} is due on this booking.",
            )
        payment = Payment.objects.create(
            booking=locked,
            kind=PaymentKind.BALANCE,  # the deposit's own row is its Stripe intent
            amount_cents=amount_cents,
            currency=locked.currency,
            stripe_payment_intent_id=f"outside_{uuid.uuid4().hex}",
            method=method,
            recorded_by=actor.user,
            taken_by=taken_by.strip()[:120],
            received_at=received_at,
            note=note.strip()[:300],
        )
        label = PaymentMethod(method).label.lower()
        bookings.booking_note(
            booking=locked,
            actor=actor,
            reason=f"{format_money(amount_cents, locked.currency)} taken by {payment.taken_by} "
            f"({label}) recorded: {payment.note}",
            data={
                "payment": payment.pk,
                "method": method,
                "amount_cents": amount_cents,
                "taken_by": payment.taken_by,
                "received_at": received_at.isoformat(),
            },
        )
        # The same path as a Stripe success: the sums, the credit note, the deposit's
        # confirmation and its message to the customer.
        facts.payment_record_success(payment=payment, obj={}, effects=effects, paid_at=received_at)
        locked.refresh_from_db()
        covered = locked.status == BookingStatus.CONFIRMED
        transaction.on_commit(partial(_withdraw_open_quietly, locked.pk, payment.pk, covered))
    logger.info("outside payment %s recorded on booking %s", payment.pk, locked.reference)
    payment.refresh_from_db()
    return payment


def _withdraw_open_quietly(booking_id: int, payment_id: int, covered: bool) -> None:
    """After the money is in: withdraw the intents it made redundant. Once the booking is
    confirmed, every open one (the deposit is paid; a balance request was for another amount);
    before that, only those now asking for more than is due. Failures are the sweeper's."""
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is None:
        return
    keep = Payment.objects.get(pk=payment_id) if covered else None
    try:
        intents.payments_withdraw_stale(booking=booking, keep=keep)
    except Exception:  # the sweeper withdraws what is left
        logger.warning("open intents of booking %s not withdrawn", booking_id, exc_info=True)
