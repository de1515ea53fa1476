"""
Every hand-written SQL statement of the payments app, and why it is not the ORM (the pattern:
config/sql.py; checked against the model and the table by config/tests/test_sql.py).
"""

from bookings.models import Booking, Customer
from config.sql import Insert, Table, columns
from payments.models import Payment, StripeDrainQueued, StripeEvent
from stations.models import Station

_event = Table(StripeEvent)
_payment = Table(Payment)
_booking = Table(Booking)
_station = Table(Station)
_customer = Table(Customer)

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


# --- Applying an event (ledger.stripe_event_apply) -------------------------------------------

# Our payment for a PaymentIntent, with its booking, the booking's station and customer (what
# applying an event reads), locking the payment and the booking: the lock order everywhere is
# payments, then their booking (payments.facts). The station and the customer are read, not
# locked (the ORM's select_for_update() would have locked them too, holding up every other
# event of the station). Plain SQL: the ORM compiled this ~100-column join on every event,
# most of the worker's CPU for an event (bench/README.md, received -> applied).
PAYMENT_FOR_INTENT = (
    f"SELECT {columns(Payment, 'p')}, {columns(Booking, 'b')}, "
    f"{columns(Station, 's')}, {columns(Customer, 'c')} "
    f"FROM {_payment} p "
    f"JOIN {_booking} b ON b.{_booking.pk} = p.{_payment.booking} "
    f"JOIN {_station} s ON s.{_station.pk} = b.{_booking.station} "
    f"JOIN {_customer} c ON c.{_customer.pk} = b.{_booking.customer} "
    f"WHERE p.{_payment.stripe_payment_intent_id} = %s "
    f"FOR UPDATE OF p, b"
)


# --- The drain flag (ledger._queue_drain, ledger._drain_starts, the sweeper) -----------------

# "A drain is queued and has not started": the presence of the one row. Set by the event whose
# INSERT below returns a row (ON CONFLICT DO NOTHING takes no lock and writes nothing when the
# row is there, which is every event but the first of a burst); cleared by the drain before its
# first look, and by the sweeper when its drain message was lost.
_drain = Table(StripeDrainQueued)
NEW_DRAIN_QUEUED = Insert(StripeDrainQueued, {"id": "1", "queued_at": "now()"})
DRAIN_QUEUE = (
    f"INSERT INTO {_drain} ({NEW_DRAIN_QUEUED.columns}) VALUES ({NEW_DRAIN_QUEUED.values}) "
    f"ON CONFLICT ({_drain.pk}) DO NOTHING RETURNING {_drain.pk}"
)
DRAIN_START = f"DELETE FROM {_drain}"
DRAIN_FORGET_LOST = (
    f"DELETE FROM {_drain} WHERE {_drain.queued_at} < now() - %s * interval '1 second'"
)
