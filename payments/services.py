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
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from bookings import services as bookings
from bookings.models import CALLED_OFF_STATUSES, NO_PAYMENT_STATUSES, Booking, BookingStatus
from bookings.notifications import notify_customer
from bookings.policy import CancellationTerms
from config.broker import enqueue
from config.cache import fail_soft
from config.exceptions import ApiError
from payments import stripe_client
from payments.models import (
    FINAL_OUTCOMES,
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
from stations.models import Membership, Role

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
    the customer's booking link creates the intent later (payment None here). A retried
    request finds its booking (see booking_create) and its deposit, created once."""
    booking, token = bookings.booking_create(**booking_fields)
    try:
        payment = payment_for_deposit(booking=booking)
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
    Asking twice for the same balance while it is open gives the same intent; once it was
    paid and refunded (or withdrawn), asking again makes a new one. Whatever else was still
    open for payment (the deposit, an older request) is withdrawn: this one covers it all."""
    booking.refresh_from_db()
    due = booking.balance_due_cents
    if due <= 0:
        raise ApiError("Nothing is due on this booking.", code="nothing_due", status_code=409)
    if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED):
        raise ApiError(
            "Only confirmed bookings have a balance to collect.",
            code="invalid_transition",
            status_code=409,
        )
    payment = _balance_payment(booking, due)
    payments_withdraw_stale(booking=booking, keep=payment)
    bookings.booking_note(
        booking=booking,
        actor=actor,
        reason="balance requested",
        data={"amount_cents": due, "payment_intent": payment.stripe_payment_intent_id},
    )
    notify_customer(  # the outbox: sent after this commits
        booking=booking,
        subject=f"Balance for your hibachi party ({booking.reference})",
        key=f"balance-requested-{payment.pk}-{due}",
        text=f"The balance of {due / 100:,.2f} {booking.currency} for booking "
        f"{booking.reference} can be paid from your booking link.",
    )
    return payment


def _balance_payment(booking: Booking, due: int, saved_card: tuple | None = None) -> Payment:
    """The open balance intent for exactly `due` of this kind (a request for the customer to
    pay, or a charge of the saved card), else a new one.

    The Stripe idempotency key counts the booking's balance payments, so a retry after Stripe
    answered but before our row was stored gets the same intent, while a new request after
    the last one was paid and refunded, or withdrawn, gets a new one (reusing a key would
    bring back the old, finished intent)."""
    off_session = saved_card is not None
    existing = booking.payments.filter(
        kind=PaymentKind.BALANCE,
        amount_cents=due,
        off_session=off_session,
        status__in=OPEN_STATUSES,
    ).first()
    if existing is not None:
        return existing
    number = booking.payments.filter(kind=PaymentKind.BALANCE).count() + 1
    kind = "autobalance" if off_session else "balance"
    key = f"booking-{booking.reference}-{kind}-{number}-{due}"
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
            "off_session": off_session,
        },
    )
    return payment


def payment_charge_saved_card(*, booking: Booking) -> Payment | None:
    """Charge the balance to the card saved with the deposit (the station's automatic option);
    None when there is no saved card or nothing due. Safe to retry: same key, same intent.
    A balance request still open for the customer does not stop it (it is withdrawn once
    the card is charged)."""
    booking.refresh_from_db()
    due = booking.balance_due_cents
    deposit = (
        booking.payments.filter(kind=PaymentKind.DEPOSIT, succeeded=True)
        .exclude(stripe_payment_method_id="")
        .first()
    )
    if due <= 0 or deposit is None or not deposit.stripe_customer_id:
        return None
    card = (deposit.stripe_customer_id, deposit.stripe_payment_method_id)
    return _balance_payment(booking, due, card)


# --- Refunds ---------------------------------------------------------------------------------


def _refunded_by_managers(booking_id: int, station_id: int) -> int:
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
    before = _refunded_by_managers(booking.pk, station.pk)
    if before + amount_cents > limit:
        raise ApiError(
            f"Managers can refund up to {limit / 100:,.2f} on one booking "
            f"({before / 100:,.2f} already); ask an owner.",
            code="refund_over_limit",
            status_code=403,
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
        available = refundable_now(locked)
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
        _save_booking_totals(locked.booking_id)
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
        _save_booking_totals(payment.booking_id)
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
    payments_withdraw_stale(booking=booking)
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
        amount = min(left, refundable_now(payment))
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
    replaced = payments_withdraw_stale(booking=booking)
    booking.refresh_from_db()
    if any(p.kind == PaymentKind.BALANCE for p in replaced) and booking.balance_due_cents:
        try:
            payment_request_balance(booking=booking, actor=SYSTEM)
        except (ApiError, stripe_client.StripeError):
            logger.warning("balance of %s not requested again", booking.reference, exc_info=True)
    return booking, terms


def payments_withdraw_stale(*, booking: Booking, keep: Payment | None = None) -> list[Payment]:
    """Cancel the PaymentIntents the customer should no longer pay: all of them once the
    booking takes no more money, else those asking for more than is due and balance requests
    for another amount than the balance (and, with `keep`, every other open one). Returns the
    payments withdrawn. One Stripe cannot cancel (it is being paid right now) stays; if its
    money lands, the booking shows the credit for staff."""
    booking.refresh_from_db()
    due = booking.balance_due_cents
    withdrawn = []
    for payment in booking.payments.filter(status__in=OPEN_STATUSES).order_by("pk"):
        if keep is not None and payment.pk == keep.pk:
            continue
        stale = (
            keep is not None
            or booking.status in NO_PAYMENT_STATUSES
            or payment.amount_cents > due
            or (payment.kind == PaymentKind.BALANCE and payment.amount_cents != due)
        )
        if stale and _withdraw(payment):
            withdrawn.append(payment)
    return withdrawn


def payments_withdraw_open(*, booking: Booking) -> int:
    """Withdraw what an ended booking still offered (the sweeper's call); how many."""
    return len(payments_withdraw_stale(booking=booking))


def _withdraw(payment: Payment) -> bool:
    """Cancel one intent at Stripe, then mark it withdrawn (unless its money arrived)."""
    try:
        stripe_client.cancel_payment_intent(
            payment_intent_id=payment.stripe_payment_intent_id,
            idempotency_key=f"withdraw-{payment.pk}",
        )
    except stripe_client.StripeError:
        logger.warning("intent of payment %s not cancelled at Stripe; sweeper retries", payment.pk)
        return False
    Payment.objects.filter(pk=payment.pk, succeeded=False).update(
        status=PaymentStatus.CANCELED, updated_at=timezone.now()
    )
    return True


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
    # None: the cache is unreachable, so nobody can tell whether a drain is on its way: send one.
    added = fail_soft.add(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS)
    if added is not False and not enqueue(drain_stripe_events):
        # The broker is down: the event stays stored and pending, and the sweeper enqueues it
        # when the broker is back. Let the next event try again rather than trust the flag.
        if added:
            fail_soft.delete(DRAIN_FLAG)
        return
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
            fail_soft.delete(DRAIN_FLAG)  # unreachable: the flag expires by itself
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
            applied += outcome in FINAL_OUTCOMES


def _waiting_ids(batch: int) -> list[int]:
    return list(
        StripeEvent.objects.filter(outcome=EventOutcome.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )


@dataclass
class _Effects:
    """Network work an event's apply leaves for after its commit (Stripe calls). Messages to
    the customer are not effects: they go into the outbox in the apply's own transaction."""

    after_commit: list


class EventRejected(Exception):
    """A signed event that does not match what we asked for (an intent we did not create, an
    amount or currency not ours): recorded on the ledger row and the booking, never applied."""

    def __init__(self, message: str, *, booking: Booking, note: str, data: dict):
        super().__init__(message)
        self.booking, self.note, self.data = booking, note, data


# An intent we created is stored before its client secret or saved card can be used, but an
# off-session charge's success can race our insert: an unknown intent of one of our bookings is
# looked for again (the sweeper, a minute apart) this many times before it is rejected.
UNKNOWN_INTENT_ATTEMPTS = 3


def stripe_event_apply(*, event_row_id: int, skip_locked: bool = False) -> str:
    """Apply one ledger row, once: the row is locked, a row already processed or ignored is
    skipped, and the outcome (processed, ignored, failed with the error) is recorded on it.
    Returns the outcome ("busy" when skip_locked and another worker holds the row); a failure
    is recorded and re-raised for the task to retry."""
    effects = _Effects(after_commit=[])
    with transaction.atomic():
        row = (
            StripeEvent.objects.select_for_update(skip_locked=skip_locked)
            .filter(pk=event_row_id)
            .first()
        )
        if row is None:
            return "busy"
        if row.outcome in FINAL_OUTCOMES:
            return row.outcome
        row.attempts += 1
        try:
            with transaction.atomic():
                outcome = _apply(row, effects)
        except EventRejected as exc:
            # The booking's note is written here, after _apply's savepoint rolled back.
            bookings.booking_note(booking=exc.booking, actor=SYSTEM, reason=exc.note, data=exc.data)
            row.outcome, row.error = EventOutcome.REJECTED, str(exc)[:2000]
            row.processed_at = timezone.now()
            row.save(update_fields=["outcome", "error", "attempts", "processed_at", "station"])
            logger.warning("stripe event %s rejected: %s", row.event_id, exc)
            return row.outcome
        except _NotStoredYet as exc:
            row.outcome, row.error = EventOutcome.FAILED, str(exc)[:2000]
            row.save(update_fields=["outcome", "error", "attempts"])
            return row.outcome  # the sweeper looks again; no task retry storm
        except Exception as exc:
            row.outcome, row.error = EventOutcome.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
            row.save(update_fields=["outcome", "error", "attempts"])
            failure = exc
        else:
            failure = None
            row.outcome, row.error, row.processed_at = outcome, "", timezone.now()
            row.save(update_fields=["outcome", "error", "attempts", "processed_at", "station"])
            for send in effects.after_commit:
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
    payment = _payment_for_event(row, intent_id, obj)
    if payment is None:
        return EventOutcome.IGNORED  # not one of ours
    row.station_id = payment.booking.station_id
    _check_matches(row, payment, obj)
    if row.type == "payment_intent.succeeded":
        _apply_succeeded(payment, obj, effects, paid_at=_event_time(row))
    elif row.type == "payment_intent.payment_failed":
        _apply_failed(payment, obj, effects)
    elif row.type == "charge.refunded":
        _apply_refunded_total(payment, int(obj.get("amount_refunded") or 0), effects)
    elif row.type == "charge.dispute.created":
        _apply_dispute(payment, obj)
    return EventOutcome.PROCESSED


def _event_time(row: StripeEvent):
    """When Stripe says the event happened (its signed `created`), else when we received it."""
    created = row.payload.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and 0 < created < 2**33:
        return datetime.fromtimestamp(created, tz=UTC)
    return row.received_at


class _NotStoredYet(Exception):
    """An intent naming one of our bookings that we have no row for (yet)."""


def _payment_for_event(row: StripeEvent, intent_id, obj: dict) -> Payment | None:
    """Our payment for this PaymentIntent, locked; None for an intent that is not ours.

    Only intents we created pay a booking: metadata naming a booking proves nothing (anyone
    with access to the Stripe account can write it). Such an event is looked for again a few
    times (an off-session charge's event can beat our insert), then rejected and noted on the
    booking it names, for staff to review."""
    if not isinstance(intent_id, str) or not intent_id:
        return None
    payment = (
        Payment.objects.select_for_update()
        .select_related("booking__station", "booking__customer")
        .filter(stripe_payment_intent_id=intent_id)
        .first()
    )
    if payment is not None:
        return payment
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    reference = meta.get("booking_reference")
    booking = (
        Booking.objects.filter(reference=reference).first() if isinstance(reference, str) else None
    )
    if booking is None:
        return None
    row.station_id = booking.station_id
    if row.attempts < UNKNOWN_INTENT_ATTEMPTS:
        raise _NotStoredYet(f"PaymentIntent {intent_id} is not one we have stored (yet).")
    raise EventRejected(
        f"PaymentIntent {intent_id} was not created by us; nothing applied.",
        booking=booking,
        note="a Stripe event for a payment we did not create was rejected: review",
        data={"event": row.event_id, "payment_intent": intent_id, "type": row.type},
    )


def _cents(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_matches(row: StripeEvent, payment: Payment, obj: dict) -> None:
    """The event's money must be the payment's: same currency, and for a success or a charge,
    the same amount. A mismatch is rejected and noted on the booking."""
    currency = obj.get("currency")
    problems = []
    if not isinstance(currency, str) or currency.upper() != payment.currency:
        problems.append(f"currency {currency!r}, expected {payment.currency}")
    if row.type == "payment_intent.succeeded":
        received = _cents(obj.get("amount_received", obj.get("amount")))
        if received != payment.amount_cents:
            problems.append(f"amount received {received!r}, expected {payment.amount_cents}")
    elif row.type == "charge.refunded":
        amount, refunded = _cents(obj.get("amount")), _cents(obj.get("amount_refunded"))
        if amount != payment.amount_cents:
            problems.append(f"charge amount {amount!r}, expected {payment.amount_cents}")
        if refunded is None or not 0 <= refunded <= payment.amount_cents:
            problems.append(f"amount refunded {refunded!r}")
    if problems:
        raise EventRejected(
            "; ".join(problems),
            booking=payment.booking,
            note="a Stripe event that does not match our payment was rejected: review",
            data={"event": row.event_id, "type": row.type, "problems": problems},
        )


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
    _save_booking_totals(payment.booking_id)


def _save_booking_totals(booking_id: int) -> None:
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


def _mark_succeeded(payment: Payment, effects: _Effects, paid_at=None) -> None:
    """Record that the money arrived; confirm the booking on its deposit (once). Money for a
    booking that has ended is handled by _late_payment."""
    if payment.succeeded:
        return
    payment.succeeded = True
    _save(payment)
    booking = Booking.objects.select_related("station", "customer").get(pk=payment.booking_id)
    # Whatever else was open may now ask for more than is due: withdrawn after commit.
    effects.after_commit.append(lambda: _withdraw_stale_quietly(payment.booking_id))
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
    if payment.kind == PaymentKind.DEPOSIT and booking.status == BookingStatus.PENDING_DEPOSIT:
        bookings.booking_transition(
            booking=booking, to_status=BookingStatus.CONFIRMED, actor=SYSTEM, reason="deposit paid"
        )
        notify_customer(
            booking=booking,
            subject=f"Your hibachi party is booked ({booking.reference})",
            key=f"deposit-paid-{booking.pk}",
            text=f"Thank you! Your deposit is in and booking {booking.reference} is confirmed.",
        )


def _late_payment(payment: Payment, booking: Booking, paid_at, effects: _Effects) -> None:
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
    effects.after_commit.append(lambda: _return_quietly(payment.pk))
    notify_customer(
        booking=booking,
        subject=f"Your payment is being refunded ({booking.reference})",
        key=f"payment-returned-{payment.pk}",
        text=f"We received {money} for booking {booking.reference}, but {why}. "
        "The full amount is on its way back to your card. Please contact us to book again.",
    )


def payment_return(*, payment: Payment) -> Refund | None:
    """Refund what a payment flagged `to_return` still holds (once: a fixed key per payment;
    refunds in flight count). None when nothing is left to return."""
    amount = refundable_now(payment)
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


def payments_to_return() -> list[int]:
    """Payments flagged to return that hold money and were not returned yet (sweeper input)."""
    return list(
        Payment.objects.filter(
            to_return=True, succeeded=True, amount_refunded_cents__lt=F("amount_cents")
        )
        .exclude(refunds__idempotency_key__startswith="late-")
        .values_list("pk", flat=True)[:200]
    )


def _return_quietly(payment_id: int) -> None:
    payment = Payment.objects.select_related("booking__station").filter(pk=payment_id).first()
    if payment is None:
        return
    try:
        payment_return(payment=payment)
    except Exception:  # the sweeper returns it
        logger.warning("late payment %s not returned yet", payment_id, exc_info=True)


def _withdraw_stale_quietly(booking_id: int) -> None:
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is None:
        return
    try:
        payments_withdraw_stale(booking=booking)
    except Exception:  # the sweeper withdraws what is left; the event stays applied
        logger.warning("stale intents of booking %s not withdrawn", booking_id, exc_info=True)


def _apply_succeeded(payment: Payment, obj: dict, effects: _Effects, paid_at=None) -> None:
    payment.stripe_customer_id = obj.get("customer") or payment.stripe_customer_id
    payment.stripe_payment_method_id = obj.get("payment_method") or payment.stripe_payment_method_id
    if payment.succeeded:
        _save(payment)
        return
    _mark_succeeded(payment, effects, paid_at=paid_at)


def _apply_failed(payment: Payment, obj: dict, effects: _Effects) -> None:
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


def _apply_refunded_total(
    payment: Payment, refunded_cents: int, effects: _Effects | None = None
) -> None:
    """Charges report their cumulative refunded amount: keep the highest seen. A refund
    implies the charge was paid, whatever order the events came in."""
    refunded_cents = min(max(refunded_cents, payment.amount_refunded_cents), payment.amount_cents)
    if not payment.succeeded:
        _mark_succeeded(payment, effects or _Effects(after_commit=[]))
    payment.amount_refunded_cents = refunded_cents
    covered = 0
    for refund in payment.refunds.exclude(status=RefundStatus.FAILED).order_by("created_at", "pk"):
        covered += refund.amount_cents
        if covered <= refunded_cents and refund.status == RefundStatus.PENDING:
            refund.status = RefundStatus.SUCCEEDED
            refund.save(update_fields=["status"])
    _save(payment)


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
