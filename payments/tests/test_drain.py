"""
The drain of webhook events: one Celery publish per burst, and a web process that has just seen
the drain flag does not check it again for STRIPE_DRAIN_BELIEF_SECONDS. What must hold: no
event is left waiting because a process believed a drain was on its way when it had stopped.
"""

import threading
import types

import pytest
from django.core.cache import cache, caches
from django.db import connection

from payments import ledger
from payments import tasks as payment_tasks
from payments.models import EventOutcome, StripeEvent

BELIEF = 0.3


class Clock:
    """Stands in for the `time` module of payments.ledger: a monotonic clock that moves only
    when told, and a sleep that moves it (after an optional explicit signal), so no test waits
    for real time to pass and a loaded machine cannot make one too slow to prove anything."""

    def __init__(self):
        self.now = 1000.0
        self.sleeping = threading.Event()  # set when a sleep starts
        self.wake = threading.Event()  # the test lets the sleep end
        self.wake.set()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        assert self.wake.wait(timeout=30), "the test never let the sleep end"
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    moved = Clock()
    monkeypatch.setattr(
        ledger, "time", types.SimpleNamespace(monotonic=moved.monotonic, sleep=moved.sleep)
    )
    return moved


@pytest.fixture
def kicks(monkeypatch, settings, clock):
    settings.STRIPE_DRAIN_BELIEF_SECONDS = BELIEF
    monkeypatch.setattr(ledger._DrainBelief, "seen_at", None)
    published = []
    monkeypatch.setattr(payment_tasks.drain_stripe_events, "delay", lambda: published.append(1))
    cache.delete(ledger.DRAIN_FLAG)
    return published


def record(event_id: str) -> int | None:
    return ledger.stripe_event_record(
        event_id=event_id,
        event_type="customer.created",
        livemode=False,
        payload={"id": event_id, "type": "customer.created"},
    )


@pytest.mark.django_db(transaction=True)
def test_within_the_belief_events_skip_the_flag_check(kicks, clock, monkeypatch):
    checks = []
    backend = caches["default"]
    add = backend.add

    def counting_add(*args, **kwargs):
        checks.append(args[0])
        return add(*args, **kwargs)

    monkeypatch.setattr(backend, "add", counting_add)
    for n in range(5):
        assert record(f"evt_belief{n}")
    assert (len(checks), kicks) == (1, [1])  # one flag check and one publish for the burst

    clock.advance(BELIEF + 0.05)
    assert record("evt_belief_after")
    assert (len(checks), kicks) == (2, [1])  # checked again; the flag is still set: no publish


@pytest.mark.django_db(transaction=True)
def test_an_event_stored_on_a_stale_belief_is_still_applied(kicks, clock):
    """The drain clears its flag and stops; meanwhile a process that saw the flag just before
    stores an event without checking. The drain's last look, after the belief has run out,
    applies it. The drain's linger is held (explicit signals) until the late event is stored;
    the clock stands still meanwhile, so the event is stored within the belief however slowly
    the machine runs."""
    assert record("evt_first")  # sets the flag and this process's belief
    believed_at = clock.monotonic()
    assert kicks == [1]
    clock.wake.clear()

    applied = []

    def drain():
        try:
            applied.append(ledger.stripe_events_drain())
        finally:
            connection.close()

    worker = threading.Thread(target=drain)
    worker.start()
    assert clock.sleeping.wait(timeout=30), "the drain never lingered"  # it emptied the ledger
    assert cache.get(ledger.DRAIN_FLAG) is None
    assert StripeEvent.objects.get(event_id="evt_first").outcome == EventOutcome.IGNORED
    assert record("evt_late")  # no flag check: this process still believes
    assert clock.monotonic() - believed_at < BELIEF
    assert kicks == [1]
    clock.wake.set()  # the linger ends; the drain looks once more
    worker.join(timeout=30)
    assert not worker.is_alive()

    assert applied == [2]
    assert StripeEvent.objects.get(event_id="evt_late").outcome == EventOutcome.IGNORED


@pytest.mark.django_db(transaction=True)
def test_without_a_belief_every_event_checks_the_flag(kicks, settings):
    settings.STRIPE_DRAIN_BELIEF_SECONDS = 0
    assert record("evt_a")
    cache.delete(ledger.DRAIN_FLAG)  # as a finished drain does
    assert record("evt_b")
    assert kicks == [1, 1]
