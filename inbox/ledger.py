"""
The inbound ledger: what the Twilio SMS webhook stores in its ack, and the drain that threads it.

The ack verifies the request and stores the message with ONE statement (inbox/sql.py,
INSERT ... ON CONFLICT (channel, provider message id) DO NOTHING RETURNING id) instead of
threading it in the request (services.inbound_receive: ~11 statements, their ORM compilation
and a Celery publish per message). A drain task threads the stored rows into their customers'
conversations with that same inbound_receive (idempotent: a Message is unique per channel and
provider id, and a row is marked processed in the transaction that threads it); a sweeper
(inbox.tasks.sweep_inbound_events, every minute) queues a drain again when rows wait longer
than SWEEPER_GRACE_SECONDS (the broker was down). SMS keywords (STOP, START, HELP...) are not
stored here: the webhook threads them in the request, so an opt-out holds from the moment the
provider has our answer.

Two shortcuts, each measured (bench: `python -m bench --only inbox_webhook`; the figures are in
README.md, "Shortcuts taken for speed"):
- Draining like the Stripe ledger (payments.ledger): one flag row (InboundDrainQueued) means
  "a drain is queued and has not started", so one publish serves a burst.
- Routing cached in process memory (`twilio_route`, below).
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.utils import timezone

from config.broker import enqueue
from inbox import credentials, services, sql
from inbox.models import ChannelKind, InboundEvent
from inbox.services import SenderInfo

logger = logging.getLogger(__name__)


# --- Routing, cached ---------------------------------------------------------------------------
#
# What it saves: the channel lookup (a SELECT joined to the station, compiled by the ORM) and
# unsealing the channel's own credentials (a decryption) on every message to a number: measured
# in-process (/tmp/prof_twilio.py style, 300 signed messages) at ~0.35 ms of a ~1.3 ms ack.
# What it assumes: a channel's routing (switched off, its number, its token) may be up to
# ROUTE_TTL_SECONDS stale in each web process. A channel switched off stops receiving, and a
# rotated token takes over, within that time (inbox/tests/test_inbound_ledger.py holds it to
# that). A number we do not serve is never cached, so a new channel receives at once. The
# cached token is never shown (repr) or logged.

ROUTE_TTL_SECONDS = 30.0
ROUTES_MAX = 2048  # numbers per process; the cache starts over when full
_clock = time.monotonic  # tests move it
_routes: dict[tuple[str, str], tuple[float, "Route"]] = {}


@dataclass(frozen=True)
class Route:
    """Where an inbound webhook for a number goes, and the token its requests are signed with."""

    channel_id: int
    station_id: int
    auth_token: str = field(repr=False)


def twilio_route(address: str) -> Route | None:
    """The active Twilio SMS channel receiving on `address` (E.164), from this process's memory
    when looked up less than ROUTE_TTL_SECONDS ago; None for a number we don't serve."""
    key = (ChannelKind.SMS_TWILIO, address)
    now = _clock()
    cached = _routes.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    channel = services.channel_find(kind=ChannelKind.SMS_TWILIO, address=address)
    if channel is None:
        _routes.pop(key, None)
        return None
    route = Route(
        channel_id=channel.pk,
        station_id=channel.station_id,
        auth_token=credentials.for_channel(channel)["auth_token"],
    )
    if len(_routes) >= ROUTES_MAX:
        _routes.clear()
    _routes[key] = (now + ROUTE_TTL_SECONDS, route)
    return route


def routes_forget(**_) -> None:
    """Forget every cached route (a route holds values derived from settings: the
    environment's token, the key that seals a channel's own)."""
    _routes.clear()


setting_changed.connect(routes_forget, dispatch_uid="inbox.ledger.routes_forget")


# --- Storing -------------------------------------------------------------------------------------


def inbound_record(
    *, channel_id: int, sender: str, provider_message_id: str, body: str
) -> int | None:
    """Store a verified inbound message once; returns the new row's id, or None when the
    channel already has that provider message (a redelivery). One INSERT ... ON CONFLICT DO
    NOTHING, safe under concurrency; a drain is queued when the row commits."""
    params = {
        "channel_id": channel_id,
        "sender": sender,
        "provider_message_id": provider_message_id,
        "body": (body or "").replace("\x00", ""),  # PostgreSQL text holds no NUL
        **sql.NEW_INBOUND_EVENT.defaults(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.INBOUND_EVENT_INSERT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    transaction.on_commit(_queue_drain)
    return row[0]


# --- Draining ----------------------------------------------------------------------------------
#
# As payments.ledger ("Draining"): after a stored row commits, _queue_drain inserts the flag row
# (ON CONFLICT DO NOTHING) and publishes a drain only if it inserted it; a drain deletes the
# flag first, then threads every waiting row. So a stored row either finds the flag, whose drain
# has not looked yet and will see it, or queues a drain itself. A lost drain message leaves a
# flag the sweeper deletes after DRAIN_QUEUED_SECONDS, and rows it queues a drain for.

DRAIN_QUEUED_SECONDS = 10
# A row that fails this many times stays for staff (its error on the row), not retried forever.
MAX_ATTEMPTS = 8
# A drain stops after this long and queues the next one, well inside Celery's soft time limit.
DRAIN_BUDGET_SECONDS = 60.0


def _queue_drain() -> None:
    """Make sure a drain looks at the ledger after this moment (on commit of a stored row)."""
    from inbox.tasks import drain_inbound_events

    with connection.cursor() as cursor:
        cursor.execute(sql.DRAIN_QUEUE, sql.NEW_DRAIN_QUEUED.defaults())
        queued = cursor.fetchone() is not None
    if queued and not enqueue(drain_inbound_events):
        # The broker is down: the rows wait for the sweeper; let the next message try again.
        _drain_starts()


def _drain_starts() -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.DRAIN_START)


def drain_flags_forget_lost() -> int:
    """Delete a flag whose drain never started (its message was lost); the sweeper's call."""
    with connection.cursor() as cursor:
        cursor.execute(sql.DRAIN_FORGET_LOST, [DRAIN_QUEUED_SECONDS])
        return cursor.rowcount


def inbound_events_drain(*, batch: int = 100) -> int:
    """Thread every waiting row, oldest first; returns how many were threaded. Walks the ledger
    once in id order (rows arriving meanwhile queue the next drain); a row another drain holds
    is skipped; a failing row keeps its error and is tried again by a later drain."""
    _drain_starts()
    deadline = _clock() + DRAIN_BUDGET_SECONDS
    threaded, after = 0, 0
    while ids := _waiting_ids(after=after, batch=batch):
        for row_id in ids:
            if _clock() > deadline:
                _queue_drain()  # hand over: the rest is the next drain's
                return threaded
            try:
                threaded += inbound_event_apply(event_id=row_id, skip_locked=True) == "threaded"
            except Exception:  # recorded on the row; a later drain tries it again
                logger.exception("inbound ledger row %s failed", row_id)
        after = ids[-1]
    return threaded


def _waiting_ids(*, after: int, batch: int) -> list[int]:
    return list(
        InboundEvent.objects.filter(
            processed_at__isnull=True, attempts__lt=MAX_ATTEMPTS, pk__gt=after
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )


def inbound_event_apply(*, event_id: int, skip_locked: bool = False) -> str:
    """Thread one stored row into its customer's conversation, once: the row is locked, a
    processed row is skipped, and it is marked processed in the same transaction. Returns
    "threaded", "duplicate" (the Message was there already), "done before" or "busy"; a
    failure is recorded on the row and re-raised."""
    with transaction.atomic():
        row = (
            InboundEvent.objects.select_for_update(of=("self",), skip_locked=skip_locked)
            .select_related("channel__station")
            .filter(pk=event_id)
            .first()
        )
        if row is None:
            return "busy"
        if row.processed_at is not None:
            return "done before"
        row.attempts += 1
        try:
            with transaction.atomic():
                message = services.inbound_receive(
                    channel=row.channel,
                    sender=SenderInfo(external_id=row.sender, phone=row.sender),
                    provider_message_id=row.provider_message_id,
                    body=row.body,
                    received_at=row.received_at,
                )
        except Exception as exc:
            row.error = f"{type(exc).__name__}"[:2000]  # no message text: it may hold contact data
            row.save(update_fields=["attempts", "error"])
            failure = exc
        else:
            failure = None
            row.processed_at, row.error = timezone.now(), ""
            row.save(update_fields=["attempts", "error", "processed_at"])
    if failure is not None:
        raise failure
    return "threaded" if message is not None else "duplicate"


def inbound_events_waiting(*, grace_seconds: float | None = None) -> int:
    """How many rows have waited longer than the grace (their drain was lost)."""
    grace = settings.SWEEPER_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = timezone.now() - timedelta(seconds=grace)
    return InboundEvent.objects.filter(
        processed_at__isnull=True, attempts__lt=MAX_ATTEMPTS, received_at__lt=cutoff
    ).count()


# A threaded row is a copy of its Message (the sender's number, the text): kept this long for
# looking into a problem, then deleted by the sweeper.
KEEP_THREADED_DAYS = 7


def inbound_events_purge(*, now=None) -> int:
    """Delete the rows threaded more than KEEP_THREADED_DAYS ago."""
    cutoff = (now or timezone.now()) - timedelta(days=KEEP_THREADED_DAYS)
    deleted, _ = InboundEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted


def inbound_events_sweep() -> int:
    """The sweeper: forget a lost drain's flag, queue a drain when rows waited too long, and
    delete the rows threaded long ago."""
    drain_flags_forget_lost()
    inbound_events_purge()
    waiting = inbound_events_waiting()
    if waiting:
        _queue_drain()
    return waiting
