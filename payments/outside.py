"""
Money taken outside Stripe: cash at the door, a check, a card terminal of the station's own.

Staff record it, and from then on it counts like any other payment: the row is a Payment
(method cash/check/card_terminal) whose money arrived, recorded through the same facts as a
Stripe success (payments.facts), so the booking's paid amount and balance are the same sums,
and money that brings a pending booking up to its deposit confirms it like a Stripe deposit.
Stripe never hears of it, and cannot refund it (payments.refunds refuses): staff give it back by
hand and record that here (payment_refund_outside), so the booking stops showing it as held.

Both are idempotent on the one-time key of the form that sent them (a double click, a reload):
the key is stored, as an HMAC, in a unique column (the payment's own id, the refund's
idempotency key), and looked for with the booking's payments locked, so a repeat sent at the
same moment waits for the first and finds what it wrote.

Locking: the booking's payments in id order, then the booking (the order everywhere in
payments), so two people recording at once see each other's money and the balance check holds.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from bookings import services as bookings
from bookings.models import NO_PAYMENT_STATUSES, Booking, BookingStatus
from config.exceptions import ApiError, Conflict
from config.money import format_money
from payments import facts, intents, selectors
from payments.models import OUTSIDE_METHODS, Payment, PaymentKind, PaymentMethod, Refund

logger = logging.getLogger(__name__)

# A clock a few minutes ahead (a phone, a terminal's receipt) is not "the future".
CLOCK_SKEW = timedelta(minutes=5)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(message, code="validation_error", fields={field: [message]})


def _of_key(purpose: str, owner_id: int, request_key: str) -> str:
    """What a form's one-time key is stored as: an HMAC, so one booking's key means nothing for
    another, and never the key itself."""
    if not request_key:
        raise ValueError("a one-time request key is required")
    message = f"{owner_id}\x00{request_key}"
    return salted_hmac(f"payments.outside.{purpose}", message, algorithm="sha256").hexdigest()


def _outside_payment_id(booking_id: int, request_key: str) -> str:
    return f"outside_{_of_key('payment', booking_id, request_key)}"


def outside_payment_of_key(*, booking: Booking, request_key: str) -> Payment | None:
    """The payment an earlier sending of this form recorded, if any."""
    if not request_key:
        return None
    intent_id = _outside_payment_id(booking.pk, request_key)
    return Payment.objects.filter(booking_id=booking.pk, stripe_payment_intent_id=intent_id).first()


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
    request_key: str,
) -> Payment:
    """Record money taken outside Stripe on a booking; returns the new payment.

    Idempotent on `request_key` (the form's one-time key): sent again, with the first one
    committed or still running, it records nothing and returns the first payment.

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
    intent_id = _outside_payment_id(booking.pk, request_key)
    effects = facts.AfterCommit()
    with transaction.atomic():
        list(Payment.objects.select_for_update().filter(booking_id=booking.pk).order_by("pk"))
        locked = Booking.objects.select_for_update().select_related("station").get(pk=booking.pk)
        # Under the booking's lock: a twin sent at the same moment waits here, then sees ours.
        first = Payment.objects.filter(stripe_payment_intent_id=intent_id).first()
        if first is not None:
            return first
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
            stripe_payment_intent_id=intent_id,
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


def _outside_refund_key(booking_id: int, request_key: str) -> str:
    return f"outside-refund-{booking_id}-{_of_key('refund', booking_id, request_key)}"


def outside_refund_of_key(*, booking: Booking, request_key: str) -> Refund | None:
    """The refund by hand an earlier sending of this form recorded, if any."""
    if not request_key:
        return None
    key = _outside_refund_key(booking.pk, request_key)
    return Refund.objects.filter(payment__booking_id=booking.pk, idempotency_key=key).first()


def outside_refundable(booking: Booking) -> list[Payment]:
    """The booking's payments taken outside Stripe that still hold money to give back."""
    paid = booking.payments.filter(succeeded=True).exclude(method=PaymentMethod.STRIPE)
    return [p for p in paid.order_by("created_at", "pk") if selectors.refundable_now(p) > 0]


def payment_refund_outside(
    *, payment: Payment, amount_cents: int, note: str, actor: bookings.Actor, request_key: str
) -> Refund:
    """Record money of a payment taken outside Stripe given back by hand (cash, a check):
    a refund that succeeded when it was given, counted in the booking's refunded sum like any
    other, so the booking no longer shows it as held or owed. Stripe never hears of it.

    Refused (400 validation_error, nothing written) for no note, or an amount of zero or less
    or above what the payment still holds; (409 conflict) for a Stripe payment, which
    Stripe refunds. Who may: the caller decides (owners and managers, who answer for refunds).
    Idempotent on `request_key`: sent again, it returns the first refund.

    Locking: the booking's payments in id order, then the booking (facts), as everywhere."""
    if not payment.is_outside:
        raise Conflict(
            "This payment was made through Stripe: refund it there, not by hand.",
            code="conflict",
        )
    if not note.strip():
        raise _invalid("note", "Say how the money was given back (e.g. cash at the door).")
    idempotency_key = _outside_refund_key(payment.booking_id, request_key)
    with transaction.atomic():
        list(
            Payment.objects.select_for_update().filter(booking_id=payment.booking_id).order_by("pk")
        )
        locked = Payment.objects.select_related("booking").get(pk=payment.pk)
        first = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if first is not None:
            return first
        available = selectors.refundable_now(locked)
        if not 0 < amount_cents <= available:
            raise _invalid(
                "amount_cents",
                f"Between {format_money(1, locked.currency)} and "
                f"{format_money(available, locked.currency)} of this payment can be given back.",
            )
        refund = Refund.objects.create(
            payment=locked,
            amount_cents=amount_cents,
            reason=note.strip()[:300],
            idempotency_key=idempotency_key,
            requested_by=actor.user,
            requested_by_label=actor.label,
        )
        # The path a Stripe refund's completion takes: the refund succeeds, the payment's
        # refunded amount and the booking's sums follow.
        facts.payment_record_refunded_total(
            payment=locked, refunded_cents=locked.amount_refunded_cents + amount_cents
        )
        label = PaymentMethod(locked.method).label.lower()
        bookings.booking_note(
            booking=locked.booking,
            actor=actor,
            reason=f"{format_money(amount_cents, locked.currency)} of the {label} payment given "
            f"back by hand recorded: {refund.reason}",
            data={"payment": locked.pk, "refund": refund.pk, "amount_cents": amount_cents},
        )
    logger.info("refund by hand %s recorded on payment %s", refund.pk, payment.pk)
    refund.refresh_from_db()
    return refund
