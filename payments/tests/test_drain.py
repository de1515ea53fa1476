"""
The drain of webhook events (payments.ledger): a flag row says "a drain is queued and has not
started"; a stored event publishes a drain only when it inserted the flag, and a drain deletes it
before its first look at the ledger.

What must hold: the webhook's ack stores the row and checks the flag, nothing more (one publish
per burst); and no event is left waiting for a drain that has already looked, in any order of
the two sides' steps. The orders are played step by step with explicit signals: nothing here
waits for time to pass.
"""

import itertools
import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from config.tests.worker import database_url_for_tests
from payments import ledger, selectors
from payments import tasks as payment_tasks
from payments.models import EventOutcome, StripeDrainQueued, StripeEvent
from payments.tests.conftest import WEBHOOK, build_stripe_event, encode, stripe_signature

pytestmark = pytest.mark.django_db(transaction=True)

# Guards against a test that hangs; no step waits for time to pass.
STEP_TIMEOUT = 30


@pytest.fixture
def published(monkeypatch):
    """The drains published (to the broker, as `config.broker.enqueue` does), not run."""
    drains = []
    monkeypatch.setattr(payment_tasks.drain_stripe_events, "delay", lambda: drains.append(1))
    return drains


def an_event() -> dict:
    """A handled event about a PaymentIntent that is not ours: applied as "ignored"."""
    return build_stripe_event("payment_intent.succeeded")


def post(client: Client, event: dict, settings) -> None:
    body = encode(event)
    response = client.post(
        WEBHOOK,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_signature(body, settings.STRIPE_WEBHOOK_SECRET),
    )
    assert response.status_code == 200, response.content


def record(event: dict) -> int:
    row_id = ledger.stripe_event_record(
        event_id=event["id"], event_type=event["type"], livemode=False, payload=event
    )
    assert row_id is not None
    return row_id


def outcome(row_id: int) -> str:
    return StripeEvent.objects.get(pk=row_id).outcome


def test_the_ack_stores_the_row_and_checks_the_flag_and_a_burst_publishes_one_drain(
    published, settings
):
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            post(client, an_event(), settings)

    # Per event: the row's INSERT, then the flag's. One publish for the whole burst.
    tables = [q["sql"].split()[2] for q in queries.captured_queries]
    assert tables == ['"payments_stripeevent"', '"payments_stripedrainqueued"'] * 5
    assert published == [1]

    assert ledger.stripe_events_drain() == 5
    assert set(StripeEvent.objects.values_list("outcome", flat=True)) == {EventOutcome.IGNORED}
    post(client, an_event(), settings)
    assert published == [1, 1]  # the drain has started: the next event queues another


# The drain's two steps and the event's two steps, in every order each side allows.
ORDERS = [
    order
    for order in itertools.permutations(["commit", "kick", "clear", "walk"])
    if order.index("commit") < order.index("kick") and order.index("clear") < order.index("walk")
]


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_no_event_waits_for_a_drain_that_has_already_looked(order, published, monkeypatch):
    """A drain is queued (the flag is set). Its steps: *clear* the flag, then *walk* the
    ledger applying what waits. An event's steps: its row *commits*, then its on-commit
    *kick* runs. Whatever the order, the event is applied by this drain or queues another;
    and a kick that comes before the drain has started queues nothing."""
    record(an_event())  # the event that queued the drain under test
    assert published == [1]

    cleared, walk = threading.Event(), threading.Event()
    clear_flag = ledger._drain_starts

    def clear_then_wait():
        clear_flag()
        cleared.set()
        assert walk.wait(STEP_TIMEOUT), "the test never let the drain walk"

    monkeypatch.setattr(ledger, "_drain_starts", clear_then_wait)

    def drain():
        try:
            ledger.stripe_events_drain()
        finally:
            connection.close()

    worker = threading.Thread(target=drain)
    kicks = []
    row_id = None
    for step in order:
        if step == "clear":
            worker.start()
            assert cleared.wait(STEP_TIMEOUT), "the drain never started"
        elif step == "walk":
            walk.set()
            worker.join(STEP_TIMEOUT)
            assert not worker.is_alive()
        elif step == "commit":
            # The row commits now; its on-commit kick is held back until the "kick" step.
            with monkeypatch.context() as held:
                held.setattr(transaction, "on_commit", lambda func, *a, **kw: kicks.append(func))
                row_id = record(an_event())
        elif step == "kick":
            (kick,) = kicks
            kick()

    applied_by_this_drain = outcome(row_id) == EventOutcome.IGNORED
    queued_another = len(published) == 2
    assert applied_by_this_drain == (order.index("commit") < order.index("walk"))
    assert queued_another == (order.index("kick") > order.index("clear"))
    assert applied_by_this_drain or queued_another
    if queued_another:
        ledger.stripe_events_drain()  # what the drain it queued does
        assert outcome(row_id) == EventOutcome.IGNORED


def test_a_row_another_worker_holds_is_left_to_it_and_the_drain_ends(published):
    held, free = record(an_event()), record(an_event())
    url = database_url_for_tests().replace("postgres://", "postgresql://")
    with psycopg.connect(url) as other_worker:
        other_worker.execute("SELECT 1 FROM payments_stripeevent WHERE id = %s FOR UPDATE", [held])
        assert ledger.stripe_events_drain() == 1  # it does not wait for the held row
        assert (outcome(held), outcome(free)) == (EventOutcome.PENDING, EventOutcome.IGNORED)
    assert ledger.stripe_events_drain() == 1
    assert outcome(held) == EventOutcome.IGNORED


def test_with_the_broker_down_the_next_event_tries_again(monkeypatch):
    attempts = []

    def broker_down(task, *args, **options):
        attempts.append(task.name)
        return False

    monkeypatch.setattr(ledger, "enqueue", broker_down)
    first, second = record(an_event()), record(an_event())

    assert attempts == ["payments.tasks.drain_stripe_events"] * 2  # no flag left behind
    assert (outcome(first), outcome(second)) == (EventOutcome.PENDING, EventOutcome.PENDING)
    # Left for the sweeper, once they are older than its grace.
    assert {first, second} <= set(selectors.stripe_events_stuck(older_than_seconds=-60))


def test_with_the_cache_down_the_ack_still_publishes_one_drain_per_burst(dead_cache, published):
    record(an_event())
    record(an_event())
    assert published == [1]  # the flag is in PostgreSQL: Redis is not asked


def test_a_flag_whose_drain_message_was_lost_is_forgotten_by_the_sweeper(published):
    first = record(an_event())
    assert published == [1]  # ... and that message is lost
    assert ledger.drain_flags_forget_lost() == 0  # a fresh flag is a drain on its way
    record(an_event())
    assert published == [1]

    StripeDrainQueued.objects.update(
        queued_at=F("queued_at") - timedelta(seconds=ledger.DRAIN_QUEUED_SECONDS + 1)
    )
    payment_tasks.sweep_stripe_events()  # forgets it (and leaves young rows to their drain)
    assert not StripeDrainQueued.objects.exists()
    third = record(an_event())
    assert published == [1, 1]  # the next event queues a drain
    ledger.stripe_events_drain()
    assert outcome(first) == outcome(third) == EventOutcome.IGNORED
