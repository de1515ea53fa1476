"""
Every hand-written SQL statement of the payments app, and why it is not the ORM (the pattern:
config/sql.py; checked against the model and the table by config/tests/test_sql.py).
"""

from config.sql import Insert, Table
from payments.models import StripeEvent

_event = Table(StripeEvent)

# --- The webhook's ack (ledger.stripe_event_record) --------------------------------------------

# Store a verified event once: a redelivery (same event id) inserts nothing and returns no row,
# safely under concurrency. One statement in autocommit, on the ack's hot path: the ORM's
# get_or_create would be a SELECT, a savepoint and an INSERT (and a retry on the race).
NEW_STRIPE_EVENT = Insert(
    StripeEvent,
    {
        "event_id": "%(event_id)s",
        "type": "%(type)s",
        "payload": "%(payload)s::jsonb",
        "livemode": "%(livemode)s",
        "outcome": "%(outcome)s",
        "received_at": "now()",
    },
)
STRIPE_EVENT_INSERT = (
    f"INSERT INTO {_event} ({NEW_STRIPE_EVENT.columns}) VALUES ({NEW_STRIPE_EVENT.values}) "
    f"ON CONFLICT ({_event.event_id}) DO NOTHING RETURNING {_event.pk}"
)
