"""
The fault test (issue 10): a real Celery worker in its own process is killed with SIGKILL at
random points while it works (applying Stripe events, expiring holds, sending notifications,
charging saved cards, sweeping), with a local Stripe and a local SMTP server; it is started
again, and once the system has settled every piece of work is done exactly once (or at least
once where the provider's idempotency key makes that safe) and the money adds up.

Bounded for CI: FAULT_KILLS kills per task kind (default 3), from a seeded random generator
(FAULT_SEED, default 1) so a failure can be replayed; `FAULT_KILLS=20 FAULT_SEED=$RANDOM make test
PYTEST_ARGS=payments/tests/test_worker_faults.py` searches harder.
"""

import os
import random
import time

import pytest
from django.test import Client

from bookings.models import BookingEvent, BookingStatus
from bookings.tests.helpers import next_weekday
from config.celery import app as celery_app
from config.tests.processes import SmtpSink, WorkerProcess, service_env, start_smtp, wait_until
from payments.models import EventOutcome, Payment, StripeEvent
from payments.tests.conftest import WEBHOOK, build_stripe_event, deposit_of, encode

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis broker (REDIS_URL)"),
    pytest.mark.timeout(600),
]

KILLS = int(os.environ.get("FAULT_KILLS", "3"))
SEED = int(os.environ.get("FAULT_SEED", "1"))


@pytest.fixture
def smtp():
    sink = SmtpSink()
    stop = start_smtp(sink)
    yield sink
    stop()


@pytest.fixture
def worker(fake_stripe, smtp, settings, tmp_path):
    """A worker process on this test's database, cache and broker, with the local Stripe and
    SMTP server; tasks the test enqueues go to it (not run in place)."""
    env = service_env(
        STRIPE_SECRET_KEY="sk_test_x",
        STRIPE_PUBLISHABLE_KEY="pk_test_x",
        STRIPE_API_BASE=fake_stripe.url,
        EMAIL_URL=f"smtp://{smtp.host}:{smtp.port}",
        CELERY_VISIBILITY_TIMEOUT="2",
        STRIPE_DRAIN_BELIEF_SECONDS="0",
    )
    process = WorkerProcess(env=env, log=tmp_path / "worker.log")
    _purge_broker()
    yield process
    process.stop()
    _purge_broker()
    celery_app.conf.task_always_eager = True


def _purge_broker():
    with celery_app.connection_for_write() as conn:
        for queue in ("celery", "notifications"):
            conn.default_channel.queue_purge(queue)
        client = conn.default_channel.client
        client.delete("unacked", "unacked_index", "unacked_mutex")


def kill_at_random_points(worker: WorkerProcess, rng: random.Random, kills: int, busy) -> int:
    """Start the worker, and `kills` times kill it somewhere in its work (a random moment while
    `busy()` says work is left), then start it again. Returns how many kills hit work."""
    hit = 0
    worker.start()
    for _ in range(kills):
        if not busy():
            break
        time.sleep(rng.uniform(0.3, 2.5))  # start-up takes ~1 s: some kills land mid-task
        if busy():
            hit += 1
        worker.kill()
        worker.start()
    return hit


def post_event(event: dict, settings) -> None:
    from payments.tests.conftest import stripe_signature

    body = encode(event)
    response = Client().post(
        WEBHOOK,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_signature(body, settings.STRIPE_WEBHOOK_SECRET),
    )
    assert response.status_code == 200, response.content


def test_killed_while_applying_stripe_events_every_event_is_applied_once(
    book, san_jose, sacramento, worker, smtp, settings
):
    rng = random.Random(SEED)
    bookings = [
        book(station, days=next_weekday(station, 2) + week * 7, n=n)
        for n, (station, week) in enumerate(
            [(s, w) for s in (san_jose, sacramento) for w in range(3)]
        )
    ]
    celery_app.conf.task_always_eager = False  # from here on, work goes through the broker
    for booking in bookings:
        post_event(build_stripe_event("payment_intent.succeeded", deposit_of(booking)), settings)

    def waiting() -> bool:
        return StripeEvent.objects.exclude(outcome=EventOutcome.PROCESSED).exists()

    kill_at_random_points(worker, rng, KILLS, waiting)
    assert wait_until(lambda: not waiting(), 90), "events left unapplied after the kills"

    for booking in bookings:
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CONFIRMED
        confirmations = BookingEvent.objects.filter(
            booking=booking, from_status="pending_deposit", to_status="confirmed"
        )
        assert confirmations.count() == 1
        assert booking.amount_paid_cents == deposit_of(booking).amount_cents
    assert not Payment.objects.filter(succeeded=False, kind="deposit").exists()
    # Every customer hears that their party is booked: once, or again only where a kill landed
    # between the relay's acceptance and our record of it (the Message-ID lets them dedupe).
    wait_until(lambda: len(smtp.subjects()) >= len(bookings), 30)
    for booking in bookings:
        told = [s for s in smtp.subjects() if booking.reference in s and "is booked" in s]
        assert 1 <= len(told) <= 1 + KILLS, (booking.reference, told)
