"""
Issue 11, point 4: a Redis outage degrades the site, never breaks it.

A live server whose cache and broker are a redis-server of this test's own (started on a free
loopback port, so the machine's Redis and other tests are untouched). Redis is killed mid-test:
availability, booking and a signed Stripe webhook still answer as usual and health says which
part is down. Redis comes back on the same port: the sweeper (as beat runs it every minute)
re-enqueues the stored event and a real worker applies it.
"""

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import timedelta

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from bookings.models import Booking, BookingStatus
from bookings.tests.helpers import booking_payload, future_date, next_weekday
from config.celery import app as celery_app
from config.tests.live import post_json
from payments.models import EventOutcome, StripeEvent
from payments.tests.conftest import (
    BOOKINGS,
    WEBHOOK,
    build_stripe_event,
    deposit_of,
    encode,
    stripe_signature,
)

REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs the redis-server binary"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    return None


class OwnRedis:
    """A throwaway redis-server on 127.0.0.1:<port>, without persistence, that can be killed
    and started again on the same port."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def _pings(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def start(self) -> None:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = subprocess.Popen(  # noqa: S603 - the installed redis-server, our arguments
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert _wait_for(self._pings), "redis-server did not start"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        assert not self._pings()


def _reset_broker_pools():
    """Make the app look up its connection and producer pools again, so the next publish goes
    to the broker_url now configured. (kombu keeps the pools per URL, for the whole process:
    the other URL's pools stay open for the tests that use them.)"""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def own_redis(settings):
    """The cache and the Celery broker on an OwnRedis; tasks go through the broker."""
    server = OwnRedis()
    server.start()
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"] = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": server.url,
        "KEY_PREFIX": "outage",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }
    settings.CACHES = caches
    conf = celery_app.conf
    saved = (conf.broker_url, conf.broker_write_url, conf.broker_read_url)
    conf.broker_url, conf.broker_write_url, conf.broker_read_url = server.url, None, None
    conf.task_always_eager = False
    _reset_broker_pools()
    try:
        yield server
    finally:
        _reset_broker_pools()
        conf.broker_url, conf.broker_write_url, conf.broker_read_url = saved
        server.kill()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_site_answers_and_the_webhook_event_is_applied_later(
    live_server, own_redis, san_jose, world, settings
):
    settings.SWEEPER_GRACE_SECONDS = 0
    start = future_date(san_jose, 5)
    availability = (
        f"{live_server.url}/api/v1/stations/san-jose/availability/"
        f"?start={start.isoformat()}&end={(start + timedelta(days=6)).isoformat()}&guests=10"
    )
    code, before = _get(availability)
    assert code == 200, before  # with Redis up (the cache is warm now)

    own_redis.kill()

    began = time.monotonic()
    code, during = _get(availability)
    assert code == 200, during
    assert during == before

    body = booking_payload(san_jose, days=next_weekday(san_jose, 2))
    code, created = post_json(f"{live_server.url}{BOOKINGS}", body)
    assert code == 201, created
    booking = Booking.objects.get(reference=created["reference"])
    assert booking.status == BookingStatus.PENDING_DEPOSIT

    event = encode(build_stripe_event("payment_intent.succeeded", deposit_of(booking)))
    signature = stripe_signature(event, settings.STRIPE_WEBHOOK_SECRET)
    code, answer = post_json(f"{live_server.url}{WEBHOOK}", event, {"Stripe-Signature": signature})
    assert code == 200, answer
    assert answer == {"received": True, "duplicate": False}
    row = StripeEvent.objects.get()
    assert row.outcome == EventOutcome.PENDING  # stored; nothing could take it to a worker

    code, health = _get(f"{live_server.url}/api/v1/health")
    assert code == 200
    assert (health["status"], health["database"]) == ("degraded", "connected")
    assert (health["cache"], health["broker"]) == ("unreachable", "unreachable")
    assert {"cache unreachable", "broker unreachable"} <= set(health["problems"])
    assert time.monotonic() - began < 20  # a dead Redis fails fast, it does not hang requests

    own_redis.start()  # back, empty (no persistence), on the same port

    from payments.tasks import sweep_stripe_events

    with contextlib.ExitStack() as stack:
        stack.enter_context(
            start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=20)
        )
        assert sweep_stripe_events() == 1  # what beat runs every minute

        def applied():
            row.refresh_from_db()
            return row.outcome == EventOutcome.PROCESSED

        assert _wait_for(applied, seconds=30), (row.outcome, row.error)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED

    code, health = _get(f"{live_server.url}/api/v1/health")
    assert (code, health["cache"], health["broker"]) == (200, "connected", "connected")


# --- The pieces, without a live server ----------------------------------------------------------


def test_fail_soft_answers_as_an_empty_cache_that_loses_writes(dead_cache):
    from config.cache import fail_soft

    assert fail_soft.get("k", "default") == "default"
    assert fail_soft.get_many(["a", "b"]) == {}
    assert fail_soft.add("k", 1) is None  # not known either way
    assert fail_soft.set("k", 1) is False
    assert fail_soft.set_many({"k": 1}) is False
    assert fail_soft.incr("k") is None


@pytest.mark.django_db
def test_rate_limits_hold_per_process_while_the_cache_is_down(dead_cache, api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "3/day"}
    url = "/api/v1/stations/does-not-exist/availability/"
    codes = [api_client.get(url).status_code for _ in range(4)]
    assert codes[-1] == 429
    assert 429 not in codes[:3]


@pytest.mark.django_db(transaction=True)
def test_a_redis_that_hangs_costs_a_webhook_seconds_and_the_next_ones_nothing(
    world, settings, client
):
    """Cache and broker on a server that accepts and never answers: an event that asks them
    waits for their timeouts (seconds) and is answered 200; after their failure, events skip
    Redis for a while (config.cache.BYPASS_SECONDS) and answer at once."""
    from config.tests.stall import StallingServer

    conf = celery_app.conf
    saved = (conf.broker_url, conf.broker_write_url, conf.broker_read_url)
    with StallingServer() as stalled:
        url = f"redis://127.0.0.1:{stalled.port}/0"
        caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
        caches["default"] = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
        settings.CACHES = caches
        conf.broker_url, conf.broker_write_url, conf.broker_read_url = url, None, None
        conf.task_always_eager = False
        _reset_broker_pools()
        try:
            took = []
            for n in range(3):
                event = encode(build_stripe_event("payment_intent.succeeded"))
                began = time.monotonic()
                response = client.post(
                    WEBHOOK,
                    data=event,
                    content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=stripe_signature(event, settings.STRIPE_WEBHOOK_SECRET),
                )
                took.append(time.monotonic() - began)
                assert response.status_code == 200, (n, response.content)
        finally:
            _reset_broker_pools()
            conf.broker_url, conf.broker_write_url, conf.broker_read_url = saved
    assert StripeEvent.objects.filter(outcome=EventOutcome.PENDING).count() == 3
    assert max(took) < 15, took
    assert took[-1] < 0.5, took
