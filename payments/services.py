"""
Payments: deposits and balances (Stripe PaymentIntents), refunds, and applying webhook events.

Rules (DESIGN.md §3, §4):
- No network call inside a transaction: Stripe is called before or after the database work,
  with an idempotency key derived from our ids, so a retry never charges or refunds twice.
- Events are recorded once (INSERT ... ON CONFLICT DO NOTHING on the event id), processed by a
  task, and applied idempotently and in any order: a payment's facts only grow (succeeded,
  failed, highest amount refunded, disputed) and its status is derived from them, so a refund
  seen before the success still ends refunded, and a refunded payment never goes back to paid.
- A booking's amount paid and refunded are always the sums of its payments.
"""

import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from bookings import services as bookings
from bookings.models import CALLED_OFF_STATUSES, NO_PAYMENT_STATUSES, Booking, BookingStatus
from bookings.notifications import notify_customer
from bookings.policy import CancellationTerms
from config.exceptions import ApiError
from payments import stripe_client
from payments.models import (
    OPEN_STATUSES,
    EventOutcome,
    Payment,
    PaymentKind,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeEvent,
)
from stations import tenancy
from stations.models import Role, Station

logger = logging.getLogger(__name__)

HANDLED_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
)
SYSTEM = bookings.SYSTEM


# --- Creating PaymentIntents -----------------------------------------------------------------


def _savepoint_if_in_transaction():
    """A savepoint around a write that may be refused, only when inside a transaction
    (reconcile, tests): the webhook and the deposit run in autocommit, where a refused
    statement needs no rollback and the savepoint's round trips are the cost."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _metadata(booking: Booking, kind: str) -> dict:
    return {"booking_reference": booking.reference, "station": booking.station.slug, "kind": kind}


def payment_for_deposit(*, booking: Booking) -> Payment:
    """The booking's deposit PaymentIntent, created on first call (idempotent: the Stripe
    idempotency key and the one-deposit-per-booking constraint both stop a second one).
    Raises stripe_client.StripeError when Stripe can't be reached or refuses."""
    existing = booking.payments.filter(kind=PaymentKind.DEPOSIT).first()
    if existing is not None:
        return existing
    return _create_deposit(booking)


def _create_deposit(booking: Booking) -> Payment:
    # The card is saved on a Stripe Customer, so the balance can be charged to it later; the
    # payment records the customer when Stripe's success event confirms it (card attached).
    customer_id = stripe_client.create_customer(
        email=booking.customer.email,
        name=booking.customer.name,
        metadata={"booking_reference": booking.reference, "station": booking.station.slug},
        idempotency_key=f"booking-{booking.reference}-customer",
    )
    intent = stripe_client.create_payment_intent(
        amount_cents=booking.deposit_cents,
        currency=booking.currency,
        metadata=_metadata(booking, PaymentKind.DEPOSIT),
        idempotency_key=f"booking-{booking.reference}-deposit",
        customer_email=booking.customer.email,
        save_card_for=customer_id,
    )
    try:
        with _savepoint_if_in_transaction():
            return Payment.objects.create(
                booking=booking,
                kind=PaymentKind.DEPOSIT,
                amount_cents=booking.deposit_cents,
                currency=booking.currency,
                stripe_payment_intent_id=intent.id,
                client_secret=intent.client_secret,
                offline=stripe_client.is_offline(),
            )
    except IntegrityError:  # a concurrent call (or the webhook) stored it first
        return booking.payments.get(kind=PaymentKind.DEPOSIT)


def booking_create_with_deposit(**booking_fields) -> tuple[Booking, str, Payment | None]:
    """Create a booking (bookings.services.booking_create), then its deposit PaymentIntent
    outside the booking's transaction. If Stripe is unreachable the booking still stands and
    the customer's booking link creates the intent later (payment None here)."""
    booking, token = bookings.booking_create(**booking_fields)
    try:
        payment = _create_deposit(booking)  # a new booking has none yet
    except stripe_client.StripeError:
        logger.warning(
            "deposit intent for booking %s not created; will retry on read",
            booking.reference,
            exc_info=True,
        )
        payment = None
    return booking, token, payment


def payment_request_balance(*, booking: Booking, actor: bookings.Actor) -> Payment:
    """A PaymentIntent for what is still due, and a message to the customer with the link.
    Idempotent per amount: asking twice for the same balance gives the same intent."""
    due = booking.balance_due_cents
    if due <= 0:
        raise ApiError("Nothing is due on this booking.", code="nothing_due", status_code=409)
    if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED):
        raise ApiError(
            "Only confirmed bookings have a balance to collect.",
            code="invalid_transition",
            status_code=409,
        )
    key = f"booking-{booking.reference}-balance-{due}"
    payment = _balance_payment(booking, due, key)
    bookings.booking_note(
        booking=booking,
        actor=actor,
        reason="balance requested",
        data={"amount_cents": due, "payment_intent": payment.stripe_payment_intent_id},
    )
    transaction.on_commit(
        lambda: notify_customer(
            booking=booking,
            subject=f"Balance for your hibachi party ({booking.reference})",
            text=f"The balance of {due / 100:,.2f} {booking.currency} for booking "
            f"{booking.reference} can be paid from your booking link.",
        )
    )
    return payment


def _balance_payment(
    booking: Booking, due: int, key: str, saved_card: tuple | None = None
) -> Payment:
    existing = (
        booking.payments.filter(kind=PaymentKind.BALANCE, amount_cents=due)
        .exclude(status=PaymentStatus.FAILED)
        .first()
    )
    if existing is not None:
        return existing
    intent = stripe_client.create_payment_intent(
        amount_cents=due,
        currency=booking.currency,
        metadata=_metadata(booking, PaymentKind.BALANCE),
        idempotency_key=key,
        customer_email=booking.customer.email,
        off_session_with=saved_card,
    )
    payment, _ = Payment.objects.get_or_create(
        stripe_payment_intent_id=intent.id,
        defaults={
            "booking": booking,
            "kind": PaymentKind.BALANCE,
            "amount_cents": due,
            "currency": booking.currency,
            "client_secret": intent.client_secret,
            "offline": stripe_client.is_offline(),
        },
    )
    return payment


def payment_charge_saved_card(*, booking: Booking) -> Payment | None:
    """Charge the balance to the card saved with the deposit (the station's automatic option);
    None when there is no saved card or nothing due. Safe to retry: same key, same intent."""
    due = booking.balance_due_cents
    deposit = (
        booking.payments.filter(kind=PaymentKind.DEPOSIT, succeeded=True)
        .exclude(stripe_payment_method_id="")
        .first()
    )
    if due <= 0 or deposit is None or not deposit.stripe_customer_id:
        return None
    card = (deposit.stripe_customer_id, deposit.stripe_payment_method_id)
    return _balance_payment(booking, due, f"booking-{booking.reference}-autobalance-{due}", card)


# --- Refunds ---------------------------------------------------------------------------------


def _check_refund_role(user, station: Station, amount_cents: int) -> None:
    if tenancy.is_superuser(user):
        return
    role = tenancy.role_at(user, station.pk)
    if role == Role.OWNER:
        return
    if role == Role.MANAGER and amount_cents <= station.manager_refund_limit_cents:
        return
    if role == Role.MANAGER:
        limit = station.manager_refund_limit_cents / 100
        raise ApiError(
            f"Managers can refund up to {limit:,.2f}; ask an owner.",
            code="refund_over_limit",
            status_code=403,
        )
    raise ApiError("Your role cannot issue refunds.", code="refund_not_allowed", status_code=403)


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
    station's limit; owners any) unless the station's policy orders it (check_role=False).
    Idempotent per key: the same key returns the first refund. Stripe reports completion
    through charge.refunded; offline refunds complete at once."""
    station = payment.booking.station
    if check_role:
        _check_refund_role(actor.user, station, amount_cents)
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.payment_id, existing.amount_cents) != (locked.pk, amount_cents):
                raise ApiError(
                    "This Idempotency-Key was already used for another refund.",
                    code="idempotency_key_reused",
                    status_code=422,
                )
            return existing
        in_flight = (
            locked.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount_cents"))[
                "total"
            ]
            or 0
        )
        available = locked.refundable_cents - in_flight
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
        )
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
            _apply_refunded_total(locked, locked.amount_refunded_cents + refund.amount_cents)
    refund.refresh_from_db()
    return refund


def booking_cancel_with_refund(
    *, booking: Booking, actor: bookings.Actor, reason: str = ""
) -> tuple[Booking, CancellationTerms, list[Refund]]:
    """Cancel under the station's policy, refund what the policy gives back (newest payments
    first) and withdraw what is still open for payment. The policy, not the actor's role,
    decides the amount. The cancellation stands even if Stripe refuses a refund: the refusal is
    noted on the booking for staff to follow up."""
    booking, terms = bookings.booking_cancel(booking=booking, actor=actor, reason=reason)
    refunds, left = [], terms.refund_cents
    for payment in booking.payments.filter(succeeded=True).order_by("-created_at"):
        amount = min(left, payment.refundable_cents)
        if amount <= 0:
            continue
        try:
            refunds.append(
                payment_refund(
                    payment=payment,
                    amount_cents=amount,
                    idempotency_key=f"cancel-{booking.pk}-{payment.pk}",
                    actor=actor,
                    reason=f"cancellation ({terms.rule})",
                    check_role=False,
                )
            )
        except ApiError as exc:
            bookings.booking_note(
                booking=booking,
                actor=SYSTEM,
                reason=f"refund of {amount / 100:,.2f} on cancellation failed: refund by hand",
                data={"payment_intent": payment.stripe_payment_intent_id, "error": str(exc.detail)},
            )
        left -= amount
    payments_withdraw_open(booking=booking)
    return booking, terms, refunds


def payments_withdraw_open(*, booking: Booking) -> int:
    """Cancel the PaymentIntents of an ended booking that are still waiting to be paid, so its
    link offers nothing to pay. A payment that lands anyway is flagged for review."""
    withdrawn = 0
    for payment in booking.payments.filter(status__in=OPEN_STATUSES):
        try:
            stripe_client.cancel_payment_intent(
                payment_intent_id=payment.stripe_payment_intent_id,
                idempotency_key=f"withdraw-{payment.pk}",
            )
        except stripe_client.StripeError:
            logger.warning(
                "intent of payment %s not cancelled at Stripe; the sweeper retries", payment.pk
            )
            continue
        Payment.objects.filter(pk=payment.pk, succeeded=False).update(
            status=PaymentStatus.CANCELED, updated_at=timezone.now()
        )
        withdrawn += 1
    return withdrawn


def bookings_with_open_payments_ended() -> list[int]:
    """Ended bookings (cancelled, expired) that still have payments waiting (sweeper input)."""
    return list(
        Booking.objects.filter(
            status__in=CALLED_OFF_STATUSES,
            payments__status__in=OPEN_STATUSES,
        )
        .values_list("pk", flat=True)
        .distinct()[:200]
    )


# --- Webhook events --------------------------------------------------------------------------


def stripe_event_record(
    *, event_id: str, event_type: str, livemode: bool, payload: str | dict
) -> int | None:
    """Store a verified event once (payload: the raw JSON body as Stripe signed it, or the
    event as a dict). Returns the new row's id, or None when the event id was already stored
    (a redelivery). Safe under concurrency: one INSERT ... ON CONFLICT DO NOTHING. Processing
    is enqueued when the row commits."""
    if not isinstance(payload, str):
        payload = json.dumps(payload)
    sql = (
        "INSERT INTO payments_stripeevent "
        "(event_id, type, payload, livemode, outcome, error, attempts, received_at) "
        "VALUES (%s, %s, %s::jsonb, %s, %s, '', 0, now()) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING id"
    )
    params = [event_id, event_type, payload, livemode, EventOutcome.PENDING]
    with connection.cursor() as cursor:
        try:
            with _savepoint_if_in_transaction():
                cursor.execute(sql, params)
        except DataError:
            # jsonb refuses \u0000, which JSON allows: keep it as visible text instead.
            params[2] = payload.replace("\\u0000", "\\\\u0000")
            cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    transaction.on_commit(_kick_drain)
    return row[0]


DRAIN_FLAG = "stripe-events-drain-scheduled"
DRAIN_FLAG_SECONDS = 10


class _DrainBelief:
    """When this process last saw the drain flag set (time.monotonic()). For
    settings.STRIPE_DRAIN_BELIEF_SECONDS after that, its events skip the flag check (a Redis
    round trip that cost as much as verifying the event); the drain lingers longer than that
    before its last look, so such an event is still seen (see stripe_events_drain)."""

    seen_at: float | None = None


def _kick_drain() -> None:
    """Make sure a drain task is on its way: one publish per burst of events, not per event
    (a Celery publish costs more than storing the event). The flag expires by itself if that
    task is lost, and the sweeper catches anything older than a minute."""
    from payments.tasks import drain_stripe_events

    now = time.monotonic()
    belief = settings.STRIPE_DRAIN_BELIEF_SECONDS
    if _DrainBelief.seen_at is not None and now - _DrainBelief.seen_at < belief:
        return
    if cache.add(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS):
        drain_stripe_events.delay()
    _DrainBelief.seen_at = now  # the flag was set at this moment, or before it


def stripe_events_drain(*, batch: int = 100) -> int:
    """Apply every waiting ledger row, oldest first, until none is left; returns how many were
    applied. Rows another drain holds are skipped.

    Stopping without losing an event: the drain clears its flag, waits longer than any web
    process may go on believing the flag is set, and looks once more. An event stored after
    the flag was cleared either kicks a new drain (its process checked the flag) or was stored
    on a belief formed before the clearing, hence committed before that last look."""
    applied = 0
    while True:
        ids = _waiting_ids(batch)
        if not ids:
            cache.delete(DRAIN_FLAG)
            if settings.STRIPE_DRAIN_BELIEF_SECONDS:
                time.sleep(settings.STRIPE_DRAIN_BELIEF_SECONDS * 1.5)
            ids = _waiting_ids(batch)
            if not ids:
                return applied
        for row_id in ids:
            try:
                outcome = stripe_event_apply(event_row_id=row_id, skip_locked=True)
            except Exception:  # recorded on the row; the sweeper retries it with backoff
                logger.exception("stripe event row %s failed", row_id)
                continue
            applied += outcome in (EventOutcome.PROCESSED, EventOutcome.IGNORED)


def _waiting_ids(batch: int) -> list[int]:
    return list(
        StripeEvent.objects.filter(outcome=EventOutcome.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )


@dataclass
class _Effects:
    notify: list


def stripe_event_apply(*, event_row_id: int, skip_locked: bool = False) -> str:
    """Apply one ledger row, once: the row is locked, a row already processed or ignored is
    skipped, and the outcome (processed, ignored, failed with the error) is recorded on it.
    Returns the outcome ("busy" when skip_locked and another worker holds the row); a failure
    is recorded and re-raised for the task to retry."""
    effects = _Effects(notify=[])
    with transaction.atomic():
        row = (
            StripeEvent.objects.select_for_update(skip_locked=skip_locked)
            .filter(pk=event_row_id)
            .first()
        )
        if row is None:
            return "busy"
        if row.outcome in (EventOutcome.PROCESSED, EventOutcome.IGNORED):
            return row.outcome
        row.attempts += 1
        try:
            with transaction.atomic():
                outcome = _apply(row, effects)
        except Exception as exc:
            row.outcome, row.error = EventOutcome.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
            row.save(update_fields=["outcome", "error", "attempts"])
            failure = exc
        else:
            failure = None
            row.outcome, row.error, row.processed_at = outcome, "", timezone.now()
            row.save(update_fields=["outcome", "error", "attempts", "processed_at", "station"])
            for send in effects.notify:
                transaction.on_commit(send)
    if failure is not None:
        raise failure
    return row.outcome


def _apply(row: StripeEvent, effects: _Effects) -> str:
    if row.type not in HANDLED_EVENTS:
        return EventOutcome.IGNORED
    obj = row.payload.get("data", {}).get("object", {})
    intent_id = (
        obj.get("id") if row.type.startswith("payment_intent.") else obj.get("payment_intent")
    )
    payment = _payment_for_event(intent_id, obj)
    if payment is None:
        return EventOutcome.IGNORED  # not one of ours
    row.station_id = payment.booking.station_id
    if row.type == "payment_intent.succeeded":
        _apply_succeeded(payment, obj, effects)
    elif row.type == "payment_intent.payment_failed":
        _apply_failed(payment, obj, effects)
    elif row.type == "charge.refunded":
        _apply_refunded_total(payment, int(obj.get("amount_refunded") or 0), effects)
    elif row.type == "charge.dispute.created":
        _apply_dispute(payment, obj)
    return EventOutcome.PROCESSED


def _payment_for_event(intent_id: str | None, obj: dict) -> Payment | None:
    """Our payment for this PaymentIntent, locked. An intent of ours whose row is not stored
    yet (the event beat our own write) is stored from the event, found by its metadata."""
    if not intent_id:
        return None
    payment = (
        Payment.objects.select_for_update()
        .select_related("booking__station", "booking__customer")
        .filter(stripe_payment_intent_id=intent_id)
        .first()
    )
    if payment is not None:
        return payment
    meta = obj.get("metadata") or {}
    booking = Booking.objects.filter(reference=meta.get("booking_reference", "")).first()
    if booking is None or meta.get("kind") not in PaymentKind.values:
        return None
    Payment.objects.get_or_create(
        stripe_payment_intent_id=intent_id,
        defaults={
            "booking": booking,
            "kind": meta["kind"],
            "amount_cents": int(obj.get("amount") or 0),
            "currency": (obj.get("currency") or booking.currency).upper(),
        },
    )
    return _payment_for_event(intent_id, {})


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
    sums = Payment.objects.filter(booking_id=payment.booking_id, succeeded=True).aggregate(
        paid=Sum("amount_cents"), refunded=Sum("amount_refunded_cents")
    )
    bookings.booking_set_payment_totals(
        booking_id=payment.booking_id,
        paid_cents=sums["paid"] or 0,
        refunded_cents=sums["refunded"] or 0,
    )


def _mark_succeeded(payment: Payment, effects: _Effects) -> None:
    """Record that the money arrived; confirm the booking on its deposit (once)."""
    if payment.succeeded:
        return
    payment.succeeded = True
    _save(payment)
    booking = Booking.objects.select_related("station", "customer").get(pk=payment.booking_id)
    if booking.status in NO_PAYMENT_STATUSES:
        bookings.booking_note(
            booking=booking,
            actor=SYSTEM,
            reason=f"{payment.kind} paid while the booking was {booking.status}: review",
            data={"payment_intent": payment.stripe_payment_intent_id},
        )
        return
    if payment.kind == PaymentKind.DEPOSIT and booking.status == BookingStatus.PENDING_DEPOSIT:
        bookings.booking_transition(
            booking=booking, to_status=BookingStatus.CONFIRMED, actor=SYSTEM, reason="deposit paid"
        )
        effects.notify.append(
            lambda: notify_customer(
                booking=booking,
                subject=f"Your hibachi party is booked ({booking.reference})",
                text=f"Thank you! Your deposit is in and booking {booking.reference} is confirmed.",
            )
        )


def _apply_succeeded(payment: Payment, obj: dict, effects: _Effects) -> None:
    payment.stripe_customer_id = obj.get("customer") or payment.stripe_customer_id
    payment.stripe_payment_method_id = obj.get("payment_method") or payment.stripe_payment_method_id
    if payment.succeeded:
        _save(payment)
        return
    _mark_succeeded(payment, effects)


def _apply_failed(payment: Payment, obj: dict, effects: _Effects) -> None:
    if payment.failed:
        return
    payment.failed = True
    payment.failure_message = ((obj.get("last_payment_error") or {}).get("message") or "")[:300]
    _save(payment)
    if payment.succeeded:
        return  # an older failure arriving late: the money is in
    booking = payment.booking
    effects.notify.append(
        lambda: notify_customer(
            booking=booking,
            subject=f"Your payment did not go through ({booking.reference})",
            text=f"The payment for booking {booking.reference} was declined. Your date is held "
            "until the hold time runs out; please try again from your booking link.",
        )
    )


def _apply_refunded_total(
    payment: Payment, refunded_cents: int, effects: _Effects | None = None
) -> None:
    """Charges report their cumulative refunded amount: keep the highest seen. A refund
    implies the charge was paid, whatever order the events came in."""
    refunded_cents = min(max(refunded_cents, payment.amount_refunded_cents), payment.amount_cents)
    if not payment.succeeded:
        _mark_succeeded(payment, effects or _Effects(notify=[]))
    payment.amount_refunded_cents = refunded_cents
    _save(payment)
    covered = 0
    for refund in payment.refunds.exclude(status=RefundStatus.FAILED).order_by("created_at"):
        covered += refund.amount_cents
        if covered <= refunded_cents and refund.status == RefundStatus.PENDING:
            refund.status = RefundStatus.SUCCEEDED
            refund.save(update_fields=["status"])


def _apply_dispute(payment: Payment, obj: dict) -> None:
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


def stripe_events_stuck(*, older_than_seconds: int = 60, max_attempts: int = 8) -> list[int]:
    """Ledger rows still waiting (the broker was down) or failed with attempts left."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        StripeEvent.objects.filter(
            outcome__in=[EventOutcome.PENDING, EventOutcome.FAILED],
            attempts__lt=max_attempts,
            received_at__lt=cutoff,
        ).values_list("pk", flat=True)[:500]
    )


def refunds_unsent(*, older_than_seconds: int = 60) -> list[int]:
    """Refunds created but not yet accepted by Stripe (it was unreachable when they were)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
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
