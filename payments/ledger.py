"""
The Stripe event ledger: each verified webhook event is stored once under its id, applied by a
task, and its outcome (processed, ignored, failed with the error, rejected) kept on its row.

- Stored once: INSERT ... ON CONFLICT DO NOTHING on the event id, so a redelivery changes
  nothing. Applying is enqueued when the row commits: a drain of the waiting rows (below); a
  sweeper (payments.tasks) takes over rows the broker never delivered.
- Applied once, in any order: the row is locked while it is applied, a row with a final outcome
  is skipped, and what an event does is recorded as a payment's facts (payments.facts), which
  converge whatever order Stripe sends them in.
- Trusted only as far as it proves: only PaymentIntents we created pay a booking, and an event
  whose money is not its payment's is rejected and noted on the booking.
"""

import json
import logging
from datetime import UTC, datetime
from functools import partial

from django.db import DataError, connection, transaction
from django.utils import timezone

from bookings import services as bookings
from bookings.models import Booking, Customer
from config.broker import enqueue
from config.db import savepoint_if_in_transaction
from config.sql import instances_from_row
from payments import facts, intents, refunds, sql
from payments.models import FINAL_OUTCOMES, EventOutcome, Payment, StripeEvent
from stations.models import Station

logger = logging.getLogger(__name__)

# The event types we apply: the webhook stores only these (others are acknowledged and dropped),
# reconciliation asks Stripe only for these.
HANDLED_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
)
SYSTEM = bookings.SYSTEM


def stripe_event_record(
    *, event_id: str, event_type: str, livemode: bool, payload: str | dict
) -> int | None:
    """Store a verified event once (payload: the raw JSON body as Stripe signed it, or the
    event as a dict). Returns the new row's id, or None when the event id was already stored
    (a redelivery). Safe under concurrency: one INSERT ... ON CONFLICT DO NOTHING. Processing
    is enqueued when the row commits."""
    if not isinstance(payload, str):
        payload = json.dumps(payload)
    params = {
        "event_id": event_id,
        "type": event_type,
        "payload": payload,
        "livemode": livemode,
        "outcome": EventOutcome.PENDING,
        **sql.NEW_STRIPE_EVENT.defaults(),
    }
    with connection.cursor() as cursor:
        try:
            with savepoint_if_in_transaction():
                cursor.execute(sql.STRIPE_EVENT_INSERT, params)
        except DataError:
            # jsonb refuses \u0000, which JSON allows: keep it as visible text instead.
            params["payload"] = payload.replace("\\u0000", "\\\\u0000")
            cursor.execute(sql.STRIPE_EVENT_INSERT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    transaction.on_commit(_queue_drain)
    return row[0]


# --- Draining: applying what the webhook stored ----------------------------------------------
#
# A stored event is applied by a *drain*: a task that applies every waiting row. One flag, the
# presence of the single StripeDrainQueued row, says "a drain is queued and has not started
# yet" (payments/sql.py):
#   - after each stored row commits, _queue_drain inserts the flag row (ON CONFLICT DO NOTHING,
#     its own statement, so it runs after that commit) and, only if it inserted it, publishes a
#     drain;
#   - a drain deletes the flag row first (committed), then applies every waiting row.
# So an event either finds the flag row there, and the queued drain, which has not deleted it,
# hence not looked yet, sees its row, committed before; or inserts it and queues a drain
# itself. (If the drain's DELETE is in flight, the INSERT waits for it and then inserts.) No
# event waits for a drain that has already looked, whatever the timing, and no process keeps any
# state. If the drain message is lost, the sweeper (payments.tasks, every minute) deletes a
# flag older than DRAIN_QUEUED_SECONDS and applies the rows left waiting longer than
# SWEEPER_GRACE_SECONDS, e.g. while the broker was down.

# A flag this old has lost its drain message (a drain starts within a second when workers run).
DRAIN_QUEUED_SECONDS = 10


def _queue_drain() -> None:
    """Make sure a drain looks at the ledger after this moment (on commit of a stored row).

    What the flag saves (measured in-process, webhook view, 2-core VM): a Celery publish per
    event adds 0.6 - 1.0 ms of CPU to an ack that costs 0.6 - 0.8 ms without it, and one task
    per event made the workers fall behind at 100 events/s; with the flag, one publish serves
    a burst whose rows a drain applies in a loop. The flag is a PostgreSQL row, not a Redis
    key: the statement costs about 55 us of wall time against 150 - 250 us for a Redis SET NX
    through the cache client, and the ack no longer needs Redis to coalesce."""
    from payments.tasks import drain_stripe_events

    with connection.cursor() as cursor:
        cursor.execute(sql.DRAIN_QUEUE, sql.NEW_DRAIN_QUEUED.defaults())
        queued = cursor.fetchone() is not None
    if queued and not enqueue(drain_stripe_events):
        # The broker is down: the row stays pending for the sweeper. Let the next event try
        # again rather than leave a flag that no drain will clear.
        _drain_starts()


def _drain_starts() -> None:
    """Delete the flag before the drain's first look: from here on, a newly stored event
    queues another drain."""
    with connection.cursor() as cursor:
        cursor.execute(sql.DRAIN_START)


def drain_flags_forget_lost() -> int:
    """Delete a flag whose drain never started (its message was lost); the sweeper's call."""
    with connection.cursor() as cursor:
        cursor.execute(sql.DRAIN_FORGET_LOST, [DRAIN_QUEUED_SECONDS])
        return cursor.rowcount


def stripe_events_drain(*, batch: int = 100) -> int:
    """Apply every waiting ledger row, oldest first; returns how many were applied.

    The drain walks the ledger once, in id order, so it ends even while events keep coming
    (they queue the next drain, which a second worker process may run beside this one). A row
    another drain or task holds is skipped: its holder applies it, or, if the holder dies, the
    sweeper. A row that fails is recorded as failed and left to the sweeper's retries with
    backoff."""
    _drain_starts()
    applied, after = 0, 0
    while ids := _waiting_ids(after=after, batch=batch):
        for row_id in ids:
            try:
                outcome = stripe_event_apply(event_row_id=row_id, skip_locked=True)
            except Exception:  # recorded on the row; the sweeper retries it with backoff
                logger.exception("stripe event row %s failed", row_id)
                continue
            applied += outcome in FINAL_OUTCOMES
        after = ids[-1]
    return applied


def _waiting_ids(*, after: int, batch: int) -> list[int]:
    return list(
        StripeEvent.objects.filter(outcome=EventOutcome.PENDING, pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )


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
    effects = facts.AfterCommit()
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
            for booking_id in effects.withdraw_stale_intents_of:
                transaction.on_commit(partial(_withdraw_stale_quietly, booking_id))
            for payment_id in effects.return_payments:
                transaction.on_commit(partial(_return_quietly, payment_id))
    if failure is not None:
        raise failure
    return row.outcome


def _apply(row: StripeEvent, effects: facts.AfterCommit) -> str:
    if row.type not in HANDLED_EVENTS:  # stored before the webhook dropped other types
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
        facts.payment_record_success(
            payment=payment, obj=obj, effects=effects, paid_at=_event_time(row)
        )
    elif row.type == "payment_intent.payment_failed":
        facts.payment_record_failure(payment=payment, obj=obj)
    elif row.type == "charge.refunded":
        refunded = int(obj.get("amount_refunded") or 0)
        facts.payment_record_refunded_total(
            payment=payment, refunded_cents=refunded, effects=effects
        )
    elif row.type == "charge.dispute.created":
        facts.payment_record_dispute(payment=payment, obj=obj)
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
    payment = _payment_locked(intent_id)
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


def _payment_locked(intent_id: str) -> Payment | None:
    """Our payment for the intent with its booking, station and customer loaded, the payment
    and the booking locked (payments.sql.PAYMENT_FOR_INTENT)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.PAYMENT_FOR_INTENT, [intent_id])
        row = cursor.fetchone()
    if row is None:
        return None
    payment, booking, station, customer = instances_from_row(
        row, Payment, Booking, Station, Customer
    )
    booking._state.fields_cache.update(station=station, customer=customer)
    payment._state.fields_cache["booking"] = booking
    return payment


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


def _return_quietly(payment_id: int) -> None:
    payment = Payment.objects.select_related("booking__station").filter(pk=payment_id).first()
    if payment is None:
        return
    try:
        refunds.payment_return(payment=payment)
    except Exception:  # the sweeper returns it
        logger.warning("late payment %s not returned yet", payment_id, exc_info=True)


def _withdraw_stale_quietly(booking_id: int) -> None:
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is None:
        return
    try:
        intents.payments_withdraw_stale(booking=booking)
    except Exception:  # the sweeper withdraws what is left; the event stays applied
        logger.warning("stale intents of booking %s not withdrawn", booking_id, exc_info=True)
