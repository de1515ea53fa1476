"""
Every hand-written SQL statement of the inbox app, and why it is not the ORM (the pattern:
config/sql.py; payments/sql.py is its twin for the Stripe ledger).
"""

from config.sql import Insert, Table
from inbox.models import InboundDrainQueued, InboundEvent

_event = Table(InboundEvent)

# --- The Twilio webhook's ack (inbox.ledger.inbound_record) ----------------------------------

# Store a verified inbound message once: a redelivery (same channel and provider id) inserts
# nothing and returns no row, safely under concurrency. One statement in autocommit on the
# ack's hot path, instead of inbound_receive's ~11 (duplicate check, identity, conversation,
# savepoint, insert, release, thread update, begin/commit) and their ORM compilation.
NEW_INBOUND_EVENT = Insert(
    InboundEvent,
    {
        "channel": "%(channel_id)s",
        "provider_message_id": "%(provider_message_id)s",
        "sender": "%(sender)s",
        "body": "%(body)s",
        "received_at": "now()",
    },
)
INBOUND_EVENT_INSERT = (
    f"INSERT INTO {_event} ({NEW_INBOUND_EVENT.columns}) VALUES ({NEW_INBOUND_EVENT.values}) "
    f"ON CONFLICT ({_event.channel}, {_event.provider_message_id}) DO NOTHING "
    f"RETURNING {_event.pk}"
)

# --- The drain flag (inbox.ledger._queue_drain, the drain, the sweeper) ------------------------

# "A drain is queued and has not started": the presence of the one row (payments/sql.py explains
# why ON CONFLICT DO NOTHING makes this one cheap statement for every event but a burst's first).
_drain = Table(InboundDrainQueued)
NEW_DRAIN_QUEUED = Insert(InboundDrainQueued, {"id": "1", "queued_at": "now()"})
DRAIN_QUEUE = (
    f"INSERT INTO {_drain} ({NEW_DRAIN_QUEUED.columns}) VALUES ({NEW_DRAIN_QUEUED.values}) "
    f"ON CONFLICT ({_drain.pk}) DO NOTHING RETURNING {_drain.pk}"
)
DRAIN_START = f"DELETE FROM {_drain}"
DRAIN_FORGET_LOST = (
    f"DELETE FROM {_drain} WHERE {_drain.queued_at} < now() - %s * interval '1 second'"
)
