"""The drain of Stripe events in a real worker process, at its soft time limit: it stops
between events (the one in flight rolls back and stays pending, its attempt uncounted) and
hands over to a new drain, so every event is still applied once, without waiting for the
sweeper."""

import os

import psycopg
import pytest

from config.celery import app as celery_app
from config.tests.worker import database_url_for_tests, wait_for, worker_process
from payments.models import EventOutcome, StripeEvent
from payments.tasks import drain_stripe_events
from payments.tests.conftest import build_stripe_event, deposit_of

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis broker (REDIS_URL)"),
]


@pytest.mark.django_db(transaction=True)
def test_a_drain_at_its_soft_time_limit_hands_over_without_losing_an_event(deposit_booking):
    celery_app.conf.task_always_eager = False
    payment = deposit_of(deposit_booking)
    rows = [
        StripeEvent.objects.create(
            event_id=event["id"], type=event["type"], payload=event, livemode=False
        )
        for event in (build_stripe_event("charge.dispute.created", payment) for _ in range(3))
    ]
    # Another transaction holds the payment's row: applying its events waits for the lock
    # past the drain's soft time limit, twice, before the lock is let go.
    with (
        psycopg.connect(database_url_for_tests().replace("postgres://", "postgresql://")) as locker,
        worker_process() as (queue, log),
    ):
        locker.execute("SELECT 1 FROM payments_payment WHERE id = %s FOR UPDATE", [payment.pk])
        drain_stripe_events.apply_async(queue=queue, soft_time_limit=1, time_limit=10)
        handed_over = lambda: log.read_text().count("handing over") >= 2  # noqa: E731
        assert wait_for(handed_over, timeout=30), log.read_text()[-3000:]
        locker.rollback()

        def all_applied():
            return all(
                StripeEvent.objects.get(pk=r.pk).outcome == EventOutcome.PROCESSED for r in rows
            )

        assert wait_for(all_applied, timeout=30), log.read_text()[-3000:]
    attempts = [StripeEvent.objects.get(pk=r.pk).attempts for r in rows]
    assert attempts == [1, 1, 1]  # the interrupted attempts rolled back with their event
    assert deposit_booking.events.filter(reason__startswith="card payment disputed").count() == 1
