"""
A payment's facts, the status derived from them, and what each new fact sets off.

A payment's facts only grow: the money arrived (succeeded), a try failed, the highest amount
refunded so far, a dispute was opened. Its status is derived from them, never set directly,
so facts that arrive in any order converge: a refund seen before the success still ends
refunded, and a refunded payment never goes back to paid. A booking's amount paid, refunded
and being refunded are always the sums of its payments and refunds.

The Stripe ledger (payments.ledger) records these facts from webhook events; refunds
(payments.refunds) record the refunded total at once when payments are offline. Callers hold
the payment's row locked (select_for_update) and call inside their transaction.
"""

import logging
from dataclasses import dataclass, field

from django.db.models import Sum

from bookings import services as bookings
from bookings.models import CALLED_OFF_STATUSES, NO_PAYMENT_STATUSES, Booking, BookingStatus
from bookings.notifications import notify_customer
from payments.models import Payment, PaymentKind, PaymentStatus, Refund, RefundStatus

logger = logging.getLogger(__name__)

SYSTEM = bookings.SYSTEM


@dataclass
class AfterCommit:
    """Network work that recording a fact leaves for after its transaction commits (Stripe
    calls, made by the caller: see payments.ledger). Messages to the customer are not here:
    they go into the outbox in the same transaction."""

    # Bookings whose open PaymentIntents may now ask for more than is due: withdraw them.
    withdraw_stale_intents_of: list[int] = field(default_factory=list)
    # Payments that arrived after their booking ended: refund them whole.
    return_payments: list[int] = field(default_factory=list)


def _derive_status(payment: Payment) -> str:
    if payment.amount_refunded_cents and payment.amount_refunded_cents >= payment.amount_cents:
        return PaymentStatus.REFUNDED
    if payment.amount_refunded_cents:
        return PaymentStatus.PARTIALLY_REFUNDED
    if payment.succeeded:
        return PaymentStatus.SUCCEEDED
    if payment.status == PaymentStatus.CANCELED:
        return PaymentStatus.CANCELED  # withdrawn by us; only money arriving changes that
    if payment.failed:
        return PaymentStatus.FAILED
    return PaymentStatus.PENDING


def _save(payment: Payment) -> None:
    """Store the payment's facts and derived status, then the booking's sums of them."""
    payment.status = _derive_status(payment)
    payment.save()
    booking_save_payment_totals(booking_id=payment.booking_id)


def booking_save_payment_totals(*, booking_id: int) -> None:
    """The booking's paid, refunded and refund-in-flight sums, from its payments and refunds.

    The booking's row is locked before the sums are read: two transactions changing different
    payments of one booking (two events applied at once, a refund racing an event) would
    otherwise each write sums that miss the other's change. Lock order: payments, then the
    booking, everywhere."""
    list(Booking.objects.select_for_update().filter(pk=booking_id).values_list("pk"))
    sums = Payment.objects.filter(booking_id=booking_id, succeeded=True).aggregate(
        paid=Sum("amount_cents"), refunded=Sum("amount_refunded_cents")
    )
    pending = Refund.objects.filter(
        payment__booking_id=booking_id, status=RefundStatus.PENDING
    ).aggregate(total=Sum("amount_cents"))["total"]
    bookings.booking_set_payment_totals(
        booking_id=booking_id,
        paid_cents=sums["paid"] or 0,
        refunded_cents=sums["refunded"] or 0,
        refund_pending_cents=pending or 0,
    )


def _mark_succeeded(payment: Payment, effects: AfterCommit, paid_at=None) -> None:
    """Record that the money arrived; confirm the booking on its deposit (once). Money for a
    booking that has ended is handled by _late_payment."""
    if payment.succeeded:
        return
    payment.succeeded = True
    _save(payment)
    booking = Booking.objects.select_related("station", "customer").get(pk=payment.booking_id)
    # Whatever else was open may now ask for more than is due: withdrawn after commit.
    effects.withdraw_stale_intents_of.append(payment.booking_id)
    if booking.credit_cents:
        bookings.booking_note(
            booking=booking,
            actor=SYSTEM,
            reason=f"paid {booking.credit_cents / 100:,.2f} more than the total: "
            "owed to the customer, refund it",
            data={"payment_intent": payment.stripe_payment_intent_id},
        )
    if booking.status in NO_PAYMENT_STATUSES:
        _late_payment(payment, booking, paid_at, effects)
        return
    if booking.status == BookingStatus.PENDING_DEPOSIT and _pays_the_deposit(payment, booking):
        bookings.booking_transition(
            booking=booking, to_status=BookingStatus.CONFIRMED, actor=SYSTEM, reason="deposit paid"
        )
        notify_customer(
            booking=booking,
            subject=f"Your hibachi party is booked ({booking.reference})",
            key=f"deposit-paid-{booking.pk}",
            text=f"Thank you! Your deposit is in and booking {booking.reference} is confirmed.",
        )


def _pays_the_deposit(payment: Payment, booking: Booking) -> bool:
    """The deposit's own intent, or money taken outside Stripe (payments.outside) that brings
    what the booking holds up to its deposit: either confirms a pending booking."""
    if payment.kind == PaymentKind.DEPOSIT:
        return True
    return payment.is_outside and booking.net_paid_cents >= booking.deposit_cents


def _late_payment(payment: Payment, booking: Booking, paid_at, effects: AfterCommit) -> None:
    """Money for a booking that has ended. A deposit paid before the hold ended revives the
    booking when a chef is still free; money for an expired or cancelled booking is otherwise
    returned automatically (after commit, and by the sweeper if that is lost) and the customer
    told; after a no-show, staff decide. Each case leaves a line in the booking's history."""
    money = f"{payment.amount_cents / 100:,.2f} {payment.currency}"
    if (
        booking.status == BookingStatus.EXPIRED
        and payment.kind == PaymentKind.DEPOSIT
        and paid_at is not None
        and booking.hold_expires_at is not None
        and paid_at <= booking.hold_expires_at
    ):
        reason = "deposit paid before the hold ended: booking revived"
        if bookings.booking_revive(booking=booking, actor=SYSTEM, reason=reason):
            notify_customer(
                booking=booking,
                subject=f"Your hibachi party is booked ({booking.reference})",
                key=f"deposit-paid-{booking.pk}",
                text=f"Thank you! Your deposit is in and booking {booking.reference} is confirmed.",
            )
            return
        why = "its deposit came in time, but the date was taken meanwhile"
    elif booking.status in CALLED_OFF_STATUSES:
        why = f"the booking was already {booking.get_status_display().lower()}"
    else:
        bookings.booking_note(
            booking=booking,
            actor=SYSTEM,
            reason=f"{payment.kind} paid while the booking was {booking.status}: review",
            data={"payment_intent": payment.stripe_payment_intent_id},
        )
        return
    payment.to_return = True
    Payment.objects.filter(pk=payment.pk).update(to_return=True)
    bookings.booking_note(
        booking=booking,
        actor=SYSTEM,
        reason=f"{payment.kind} of {money} paid after {why}: refunded automatically",
        data={"payment_intent": payment.stripe_payment_intent_id},
    )
    effects.return_payments.append(payment.pk)
    notify_customer(
        booking=booking,
        subject=f"Your payment is being refunded ({booking.reference})",
        key=f"payment-returned-{payment.pk}",
        text=f"We received {money} for booking {booking.reference}, but {why}. "
        "The full amount is on its way back to your card. Please contact us to book again.",
    )


def payment_record_success(
    *, payment: Payment, obj: dict, effects: AfterCommit, paid_at=None
) -> None:
    """The money arrived (a PaymentIntent `obj` that succeeded, paid at `paid_at`): keep the
    saved card, confirm the booking on its deposit, or deal with money for an ended booking."""
    card = (
        obj.get("customer") or payment.stripe_customer_id,
        obj.get("payment_method") or payment.stripe_payment_method_id,
    )
    if payment.succeeded:
        # A success already recorded (Stripe redelivers, and sends events in any order): only
        # a saved card it names for the first time is new, and nothing else is written.
        if card != (payment.stripe_customer_id, payment.stripe_payment_method_id):
            payment.stripe_customer_id, payment.stripe_payment_method_id = card
            payment.save(
                update_fields=["stripe_customer_id", "stripe_payment_method_id", "updated_at"]
            )
        return
    payment.stripe_customer_id, payment.stripe_payment_method_id = card
    _mark_succeeded(payment, effects, paid_at=paid_at)


def payment_record_failure(*, payment: Payment, obj: dict) -> None:
    """A try to pay failed (PaymentIntent `obj`): tell the customer, unless the money is in."""
    if payment.failed:
        return
    payment.failed = True
    payment.failure_message = ((obj.get("last_payment_error") or {}).get("message") or "")[:300]
    _save(payment)
    if payment.succeeded:
        return  # an older failure arriving late: the money is in
    booking = payment.booking
    notify_customer(
        booking=booking,
        subject=f"Your payment did not go through ({booking.reference})",
        key=f"payment-failed-{payment.pk}",
        text=f"The payment for booking {booking.reference} was declined. Your date is held "
        "until the hold time runs out; please try again from your booking link.",
    )


def payment_record_refunded_total(
    *, payment: Payment, refunded_cents: int, effects: AfterCommit | None = None
) -> None:
    """Charges report their cumulative refunded amount: keep the highest seen, and mark the
    pending refunds it covers (oldest first) succeeded. A refund implies the charge was paid,
    whatever order the events came in."""
    refunded_cents = min(max(refunded_cents, payment.amount_refunded_cents), payment.amount_cents)
    if not payment.succeeded:
        _mark_succeeded(payment, effects or AfterCommit())
    payment.amount_refunded_cents = refunded_cents
    covered = 0
    for refund in payment.refunds.exclude(status=RefundStatus.FAILED).order_by("created_at", "pk"):
        covered += refund.amount_cents
        if covered <= refunded_cents and refund.status == RefundStatus.PENDING:
            refund.status = RefundStatus.SUCCEEDED
            refund.save(update_fields=["status"])
    _save(payment)


def payment_record_dispute(*, payment: Payment, obj: dict) -> None:
    """The customer disputed the charge (dispute `obj`): noted on the booking for staff."""
    if payment.disputed:
        return
    payment.disputed = True
    _save(payment)
    bookings.booking_note(
        booking=payment.booking,
        actor=SYSTEM,
        reason="card payment disputed: respond in Stripe",
        data={
            "dispute": obj.get("id"),
            "amount_cents": obj.get("amount"),
            "reason": obj.get("reason"),
        },
    )
    logger.warning("dispute opened on booking %s", payment.booking.reference)
