"""
Giving money back: refunds (role-limited, idempotent per key), sending them to Stripe,
cancelling or rescheduling a booking with the refund its policy (or staff) decides, and
returning money that arrived after its booking ended.

No network call inside a transaction: Stripe is called after the refund's row commits, with an
idempotency key derived from its id, so a retry never refunds twice. Refunded ≤ paid, counting
refunds still in flight (payments.selectors.refundable_now).
"""

import logging

from django.db import transaction

from bookings import services as bookings
from bookings.models import Booking
from bookings.policy import CancellationTerms
from config.exceptions import ApiError
from payments import facts, intents, selectors, stripe_client
from payments.models import Payment, PaymentKind, Refund, RefundStatus
from stations import tenancy
from stations.models import Role

logger = logging.getLogger(__name__)

SYSTEM = bookings.SYSTEM


def _check_refund_role(user, booking: Booking, amount_cents: int) -> None:
    """Owners and superusers refund anything; managers up to the station's limit per booking
    in total; nobody else. Call with the booking's payments locked when the sum matters."""
    station = booking.station
    if tenancy.is_superuser(user):
        return
    role = tenancy.role_at(user, station.pk)
    if role == Role.OWNER:
        return
    if role != Role.MANAGER:
        raise ApiError(
            "Your role cannot issue refunds.", code="refund_not_allowed", status_code=403
        )
    limit = station.manager_refund_limit_cents
    before = selectors.refunded_by_managers(booking_id=booking.pk, station_id=station.pk)
    if before + amount_cents > limit:
        raise ApiError(
            f"Managers can refund up to {limit / 100:,.2f} on one booking "
            f"({before / 100:,.2f} already); ask an owner.",
            code="refund_over_limit",
            status_code=403,
        )


def payment_refund(
    *,
    payment: Payment,
    amount_cents: int,
    idempotency_key: str,
    actor: bookings.Actor,
    reason: str = "",
    check_role: bool = True,
) -> Refund:
    """Refund part or all of a paid payment. Role-limited (agents cannot; managers up to the
    station's limit on the booking in total; owners any) unless the station's policy orders
    it (check_role=False). Idempotent per key: the same key returns the first refund. Stripe
    reports completion through charge.refunded; offline refunds complete at once.

    Locking: all the booking's payments, in id order (the event processor locks a payment
    before it writes the booking, so this order cannot deadlock with it); two concurrent
    refunds of one booking see each other's rows."""
    booking = payment.booking
    if payment.is_outside:
        raise ApiError(
            f"This payment was taken outside Stripe ({payment.get_method_display().lower()}): "
            "Stripe cannot refund it. Give the money back by hand.",
            code="refund_outside_stripe",
            status_code=409,
        )
    if check_role:
        _check_refund_role(actor.user, booking, amount_cents)  # early, without locks
    with transaction.atomic():
        list(Payment.objects.select_for_update().filter(booking_id=booking.pk).order_by("pk"))
        locked = Payment.objects.get(pk=payment.pk)
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.payment_id, existing.amount_cents) != (locked.pk, amount_cents):
                raise ApiError(
                    "This Idempotency-Key was already used for another refund.",
                    code="idempotency_key_reused",
                    status_code=422,
                )
            return existing
        if check_role:
            _check_refund_role(actor.user, booking, amount_cents)
        available = selectors.refundable_now(locked)
        if not 0 < amount_cents <= available:
            raise ApiError(
                f"Up to {available / 100:,.2f} {locked.currency} can be refunded.",
                code="validation_error",
                fields={"amount_cents": [f"Between 1 and {available}."]},
            )
        refund = Refund.objects.create(
            payment=locked,
            amount_cents=amount_cents,
            reason=reason[:300],
            idempotency_key=idempotency_key,
            requested_by=actor.user,
            requested_by_label=actor.label,
            by_policy=not check_role,
        )
        facts.booking_save_payment_totals(booking_id=locked.booking_id)
    return refund_send(refund=refund)


def refund_send(*, refund: Refund) -> Refund:
    """Send a pending refund to Stripe (again, if an earlier try failed to reach it: the key
    makes that safe). Offline, the refund is applied at once."""
    if refund.status != RefundStatus.PENDING or refund.stripe_refund_id:
        return refund
    payment = refund.payment
    try:
        refund.stripe_refund_id = stripe_client.create_refund(
            payment_intent_id=payment.stripe_payment_intent_id,
            amount_cents=refund.amount_cents,
            idempotency_key=f"refund-{refund.pk}",
        )
    except stripe_client.StripeRejected as exc:
        refund.status, refund.error = RefundStatus.FAILED, str(exc)[:300]
        refund.save(update_fields=["status", "error"])
        facts.booking_save_payment_totals(booking_id=payment.booking_id)
        raise ApiError(
            f"Stripe refused the refund: {exc}", code="refund_failed", status_code=502
        ) from exc
    except stripe_client.StripeUnavailable:
        logger.warning("refund %s not sent yet; the sweeper retries", refund.pk)
        return refund
    refund.save(update_fields=["stripe_refund_id"])
    if payment.offline:
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            facts.payment_record_refunded_total(
                payment=locked,
                refunded_cents=locked.amount_refunded_cents + refund.amount_cents,
            )
    refund.refresh_from_db()
    return refund


def booking_cancel_with_refund(
    *,
    booking: Booking,
    actor: bookings.Actor,
    reason: str = "",
    refund_cents: int | None = None,
    now=None,
) -> tuple[Booking, CancellationTerms, list[Refund]]:
    """Cancel, refund and withdraw what is still open for payment.

    Before the event the station's policy decides the refund, not the actor's role. Staff may
    instead choose `refund_cents` themselves (role-limited like any refund); once the event
    has started that is the only refund there is (none by default), and the customer cannot
    cancel at all (409 event_started). The cancellation stands even if Stripe refuses a
    refund: the refusal is noted on the booking for staff to follow up."""
    booking.refresh_from_db()
    chosen = refund_cents is not None and not actor.is_customer
    if chosen:
        held = max(0, booking.net_paid_cents)
        if not 0 <= refund_cents <= held:
            raise ApiError(
                f"Up to {held / 100:,.2f} {booking.currency} can be refunded.",
                code="validation_error",
                fields={"refund_cents": [f"Between 0 and {held}."]},
            )
        if refund_cents:
            _check_refund_role(actor.user, booking, refund_cents)
    booking, terms = bookings.booking_cancel(booking=booking, actor=actor, reason=reason, now=now)
    amount = refund_cents if chosen else terms.refund_cents
    why = "cancellation (chosen by staff)" if chosen else f"cancellation ({terms.rule})"
    refunds = _refund_across_payments(
        booking=booking,
        amount_cents=amount,
        key=f"cancel-{booking.pk}",
        actor=actor,
        reason=why,
        by_policy=not chosen,
    )
    intents.payments_withdraw_stale(booking=booking)
    return booking, terms, refunds


def _refund_across_payments(
    *, booking: Booking, amount_cents: int, key: str, actor, reason: str, by_policy: bool
) -> list[Refund]:
    """Refund an amount from the booking's paid payments, newest first, counting refunds still
    in flight. A part Stripe refuses is noted on the booking for staff. Payments that arrived
    after the booking ended are not drawn on: they are returned whole on their own."""
    refunds, left = [], amount_cents
    paid = booking.payments.filter(succeeded=True, to_return=False)
    for payment in paid.order_by("-created_at", "-pk"):
        amount = min(left, selectors.refundable_now(payment))
        if amount <= 0:
            continue
        try:
            refunds.append(
                payment_refund(
                    payment=payment,
                    amount_cents=amount,
                    idempotency_key=f"{key}-{payment.pk}",
                    actor=actor,
                    reason=reason,
                    check_role=not by_policy,
                )
            )
        except ApiError as exc:
            bookings.booking_note(
                booking=booking,
                actor=SYSTEM,
                reason=f"refund of {amount / 100:,.2f} ({reason}) failed: refund by hand",
                data={"payment_intent": payment.stripe_payment_intent_id, "error": str(exc.detail)},
            )
        left -= amount
    return refunds


def booking_reschedule_with_payments(
    *, booking: Booking, event_date, start_time, actor: bookings.Actor, now=None
) -> tuple[Booking, dict]:
    """Reschedule (bookings.services.booking_reschedule), then settle the money with the new
    total: what the booking holds above it is refunded under the policy (or, if Stripe refuses,
    shown to staff as owed), and intents asking for more than is now due are withdrawn; a
    balance request that was open is replaced by one for the new balance."""
    booking, terms = bookings.booking_reschedule(
        booking=booking, event_date=event_date, start_time=start_time, actor=actor, now=now
    )
    if booking.credit_cents:
        _refund_across_payments(
            booking=booking,
            amount_cents=booking.credit_cents,
            key=f"credit-{booking.pk}-r{booking.reschedule_count}",
            actor=actor,
            reason="credit above the new total",
            by_policy=True,
        )
    replaced = intents.payments_withdraw_stale(booking=booking)
    booking.refresh_from_db()
    if any(p.kind == PaymentKind.BALANCE for p in replaced) and booking.balance_due_cents:
        try:
            intents.payment_request_balance(booking=booking, actor=SYSTEM)
        except (ApiError, stripe_client.StripeError):
            logger.warning("balance of %s not requested again", booking.reference, exc_info=True)
    return booking, terms


def payment_return(*, payment: Payment) -> Refund | None:
    """Refund what a payment flagged `to_return` still holds (once: a fixed key per payment;
    refunds in flight count). None when nothing is left to return."""
    amount = selectors.refundable_now(payment)
    if not payment.to_return or amount <= 0:
        return None
    if payment.refunds.filter(idempotency_key=f"late-{payment.pk}").exists():
        return None  # returned once; anything since was a person's choice
    return payment_refund(
        payment=payment,
        amount_cents=amount,
        idempotency_key=f"late-{payment.pk}",
        actor=SYSTEM,
        reason="paid after the booking ended",
        check_role=False,
    )
