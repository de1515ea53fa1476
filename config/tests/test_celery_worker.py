"""A real Celery worker against the Redis broker runs the heartbeat, and health reports it.

The worker runs in a thread of this process, so it sees the same settings (and the test's own
cache KEY_PREFIX). The task goes to a queue of this test's own, so a worker of a running
`make run` on the same Redis cannot take it.
"""

import os
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.result import EagerResult
from django.core.cache import cache

from config.celery import app as celery_app
from config.tasks import HEARTBEAT_KEY, heartbeat

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis broker (REDIS_URL)"),
]


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    return None


@pytest.fixture
def live_worker():
    celery_app.conf.task_always_eager = False  # conftest makes tasks eager; this test must not
    queue = f"test-{uuid.uuid4().hex[:12]}"
    consumed_before = list(celery_app.amqp.queues.consume_from)
    try:
        with start_worker(
            celery_app, perform_ping_check=False, pool="solo", queues=[queue], shutdown_timeout=20
        ):
            yield queue
    finally:
        celery_app.amqp.queues.select(consumed_before)


@pytest.mark.django_db
def test_worker_runs_the_heartbeat_and_health_reports_it(live_worker, api_client):
    assert celery_app.conf.broker_url.startswith("redis://")
    assert cache.get(HEARTBEAT_KEY) is None
    assert api_client.get("/api/v1/health").json()["worker_heartbeat_age_seconds"] is None

    sent = heartbeat.apply_async(queue=live_worker)
    assert not isinstance(sent, EagerResult)  # through the broker, not run in place

    assert wait_for(lambda: cache.get(HEARTBEAT_KEY)), "the worker did not run the heartbeat"
    body = api_client.get("/api/v1/health").json()
    assert body["broker"] == "connected"
    assert body["worker_heartbeat_age_seconds"] is not None
    assert 0 <= body["worker_heartbeat_age_seconds"] <= 20


STALLING = "config.tests.stalling_tasks"


@pytest.mark.django_db(transaction=True)
def test_a_task_stuck_on_a_stalled_relay_is_ended_and_the_worker_goes_on():
    """One worker process, three tasks in a row: a send to a relay that never greets (ended by
    the soft time limit), one that ignores the soft limit (its pool process is killed at the
    hard limit and replaced), then a Stripe event, which is applied."""
    from config.tests.stall import StallingServer
    from config.tests.worker import wait_for, worker_process
    from payments.models import EventOutcome, StripeEvent
    from payments.tasks import process_stripe_event

    celery_app.conf.task_always_eager = False  # through the broker to the worker process
    row = StripeEvent.objects.create(
        event_id="evt_after_the_stall", type="customer.created", payload={"id": "x"}
    )
    with (
        StallingServer() as relay,
        worker_process(
            include=STALLING,
            EMAIL_URL=f"smtp://127.0.0.1:{relay.port}",
            EMAIL_TIMEOUT="600",  # only the time limits may end these sends
            CELERY_TASK_SOFT_TIME_LIMIT="1",
            CELERY_TASK_TIME_LIMIT="3",
        ) as (queue, log),
    ):
        celery_app.send_task(f"{STALLING}.send_mail_to_the_relay", queue=queue)
        celery_app.send_task(f"{STALLING}.send_mail_ignoring_interruptions", queue=queue)
        process_stripe_event.apply_async((row.pk,), queue=queue)

        def applied():
            row.refresh_from_db()
            return row.outcome == EventOutcome.IGNORED

        assert wait_for(applied, timeout=30), log.read_text()[-3000:]
        assert relay.accepted >= 2
        text = log.read_text()
    assert "SoftTimeLimitExceeded" in text
    assert "TimeLimitExceeded" in text.replace("SoftTimeLimitExceeded", "")
