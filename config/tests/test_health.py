"""GET /api/v1/health: checked for real against the database, the cache and the broker."""

import socket
import time
from datetime import timedelta
from importlib.metadata import version

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from config.tasks import HEARTBEAT_KEY
from payments.models import StripeEvent

pytestmark = pytest.mark.date_sensitive

HEALTH = "/api/v1/health"


def closed_port() -> int:
    """A local port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker_redis(settings):
    """The broker's Redis with the workers' queues empty (other tests publish to it), and
    emptied again after the test."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = ["celery", "notifications", "notifications\x06\x166"]
    client.delete(*keys)
    yield client
    client.delete(*keys)


def test_healthy(api_client, db, broker_redis):
    response = api_client.get(HEALTH)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "healthy",
        "database": "connected",
        "cache": "connected",
        "broker": "connected",
        "worker_heartbeat_age_seconds": None,  # no worker has run in this test's cache space
        "queues": {"celery": 0, "notifications": 0},
        "stripe_events_waiting_oldest_seconds": None,
        "problems": [],
        "payments": "offline",  # no STRIPE_SECRET_KEY in tests
        "version": version("hibachi-ops"),
    }


def test_health_with_and_without_trailing_slash_needs_no_auth(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert api_client.get(HEALTH).status_code == 200
    assert api_client.get(f"{HEALTH}/").status_code == 200


def test_health_is_not_throttled(api_client, db, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "1/min"}
    assert [api_client.get(HEALTH).status_code for _ in range(3)] == [200, 200, 200]


def test_heartbeat_age(api_client, db):
    with time_machine.travel(timezone.now(), tick=False):
        cache.set(HEARTBEAT_KEY, time.time() - 90)
        age = api_client.get(HEALTH).json()["worker_heartbeat_age_seconds"]
    assert age == 90


@pytest.mark.django_db(transaction=True)
def test_unreachable_database_is_503_unhealthy(api_client):
    saved = dict(connection.settings_dict)
    connection.close()
    try:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=closed_port())
        response = api_client.get(HEALTH)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "unreachable"
    assert body["cache"] == "connected"
    assert body["version"] == version("hibachi-ops")
    # and the connection works again once the database is back
    assert api_client.get(HEALTH).json()["status"] == "healthy"


def test_unreachable_cache_is_200_degraded(api_client, db, settings):
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["LOCATION"] = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CACHES = caches
    response = api_client.get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["cache"]) == (
        "degraded",
        "connected",
        "unreachable",
    )
    assert body["worker_heartbeat_age_seconds"] is None


def test_unreachable_broker_is_200_degraded(api_client, db):
    from config.celery import app as celery_app

    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    try:
        response = api_client.get(HEALTH)
    finally:
        celery_app.conf.broker_url = saved
    assert response.status_code == 200
    assert response.json()["broker"] == "unreachable"
    assert response.json()["status"] == "degraded"


def test_a_per_process_cache_is_reported_as_such(api_client, db, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    body = api_client.get(HEALTH).json()
    assert body["cache"] == "local-memory"
    assert body["status"] == "healthy"


def test_a_stale_worker_heartbeat_is_200_degraded(api_client, db):
    beat = timezone.now()
    with time_machine.travel(beat, tick=False):
        cache.set(HEARTBEAT_KEY, time.time())
    with time_machine.travel(beat + timedelta(seconds=170), tick=False):
        assert api_client.get(HEALTH).json()["status"] == "healthy"
    with time_machine.travel(beat + timedelta(seconds=181), tick=False):
        response = api_client.get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["problems"]) == ("degraded", ["worker heartbeat stale"])
    assert body["worker_heartbeat_age_seconds"] == 181


def test_a_queue_backing_up_is_200_degraded(api_client, db, settings, broker_redis):
    settings.HEALTH_QUEUE_BACKLOG = 3
    broker_redis.lpush("celery", *["{}"] * 3)
    body = api_client.get(HEALTH).json()
    assert (body["status"], body["queues"]) == ("healthy", {"celery": 3, "notifications": 0})

    broker_redis.lpush("notifications", *["{}"] * 2)
    broker_redis.lpush("notifications\x06\x166", *["{}"] * 2)  # a priority's own list
    response = api_client.get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert body["queues"] == {"celery": 3, "notifications": 4}
    assert (body["status"], body["problems"]) == ("degraded", ["queue notifications backing up"])


def test_a_stripe_event_waiting_too_long_is_200_degraded(api_client, db):
    received = timezone.now()
    with time_machine.travel(received, tick=False):
        StripeEvent.objects.create(event_id="evt_waiting", type="customer.created", payload={})
        body = api_client.get(HEALTH).json()
    assert (body["status"], body["stripe_events_waiting_oldest_seconds"]) == ("healthy", 0)

    with time_machine.travel(received + timedelta(seconds=301), tick=False):
        response = api_client.get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["problems"]) == ("degraded", ["stripe events waiting"])
    assert body["stripe_events_waiting_oldest_seconds"] == 301

    StripeEvent.objects.update(outcome="processed")
    with time_machine.travel(received + timedelta(seconds=301), tick=False):
        body = api_client.get(HEALTH).json()
    assert (body["status"], body["stripe_events_waiting_oldest_seconds"]) == ("healthy", None)


def test_with_a_rabbitmq_broker_queue_lengths_are_null(api_client, db):
    from config.celery import app as celery_app

    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    try:
        response = api_client.get(HEALTH)
    finally:
        celery_app.conf.broker_url = saved
    assert response.status_code == 200
    assert response.json()["queues"] == {"celery": None, "notifications": None}
    assert health_queue_lengths_with_amqp() == {"celery": None, "notifications": None}


def health_queue_lengths_with_amqp():
    """The queue check itself, asked with an AMQP broker that answers: no crash, null."""
    from config.celery import app as celery_app
    from config.health import queue_lengths

    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = "amqp://guest:guest@127.0.0.1:5672//"
    try:
        return queue_lengths()
    finally:
        celery_app.conf.broker_url = saved


def test_each_check_is_bounded_in_time(api_client, db):
    """A broker that accepts and never answers costs the health check seconds, not minutes."""
    from config.celery import app as celery_app
    from config.tests.stall import StallingServer

    saved = celery_app.conf.broker_url
    with StallingServer() as stalled:
        celery_app.conf.broker_url = f"redis://127.0.0.1:{stalled.port}/0"
        try:
            start = time.monotonic()
            body = api_client.get(HEALTH).json()
            elapsed = time.monotonic() - start
        finally:
            celery_app.conf.broker_url = saved
    assert body["broker"] == "unreachable"
    assert body["queues"] == {"celery": None, "notifications": None}
    assert elapsed < 10
