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
