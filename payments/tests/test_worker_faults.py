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
from datetime import timedelta

import pytest
from django.test import Client

from bookings.models import Booking, BookingEvent, BookingStatus
from bookings.tasks import expire_holds, sweep_notifications
from bookings.tests.helpers import next_weekday
from config.celery import app as celery_app
from config.tests.processes import SmtpSink, WorkerProcess, service_env, start_smtp
from payments.models import EventOutcome, Payment, Refund, StripeEvent
from payments.tasks import charge_due_balances, sweep_stripe_events
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
        NOTIFICATION_LEASE_SECONDS="3",
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


def beat_sweepers() -> None:
    """What beat enqueues every minute to recover lost work (here every second)."""
    sweep_stripe_events.delay()
    sweep_notifications.delay()


def supervise(
    worker: WorkerProcess, busy, rng: random.Random, kills: int, seconds=120, beat=None
) -> int:
    """Keep the worker running, restarting it whenever it dies, until `busy()` is false; on the
    way kill it `kills` times at random moments while work is left. `beat()` enqueues the
    periodic task under test once per worker start; the sweepers run every second, as beat
    runs them every minute. Returns the restarts."""
    deadline = time.monotonic() + seconds
    next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
    next_sweep = time.monotonic() + 1
    restarts = 0
    worker.start()
    if beat:
        beat()
    while busy() and time.monotonic() < deadline:
        if time.monotonic() >= next_sweep:
            beat_sweepers()
            next_sweep = time.monotonic() + 1
        if worker.process.poll() is not None:  # killed (by us or by a provider's hook)
            worker.start()
            restarts += 1
            if beat:
                beat()
        elif kills and time.monotonic() >= next_kill:
            worker.kill()
            kills -= 1
            next_kill = time.monotonic() + rng.uniform(0.3, 2.0)
        time.sleep(0.05)
    return restarts


def kill_on_the_first_messages(worker: WorkerProcess, count: int):
    """An SMTP hook: SIGKILL the worker while it sends each of its first `count` messages
    (after the relay has the envelope, before it accepts the message)."""
    left = [count]

    def hook(sink):
        if left[0] > 0:
            left[0] -= 1
            worker.kill()

    return hook


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
        if StripeEvent.objects.exclude(outcome=EventOutcome.PROCESSED).exists():
            return True
        return len(smtp.subjects()) < len(bookings)

    smtp.on_data = kill_on_the_first_messages(worker, KILLS)
    restarts = supervise(worker, waiting, rng, KILLS)
    assert not waiting(), "work left undone after the kills"
    assert restarts >= KILLS  # the kills landed while there was work

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
    for booking in bookings:
        told = [s for s in smtp.subjects() if booking.reference in s and "is booked" in s]
        assert 1 <= len(told) <= 1 + KILLS, (booking.reference, told)
    assert_the_money_adds_up()


def test_killed_while_expiring_holds_each_expires_once_and_frees_its_chef(
    book, san_jose, worker, settings
):
    from django.utils import timezone

    rng = random.Random(SEED + 1)
    holds = [book(san_jose, days=next_weekday(san_jose, 3) + 7 * n, n=n) for n in range(8)]
    Booking.objects.filter(pk__in=[b.pk for b in holds]).update(
        hold_expires_at=timezone.now() - timedelta(minutes=1)
    )
    celery_app.conf.task_always_eager = False

    def waiting() -> bool:
        return Booking.objects.filter(status=BookingStatus.PENDING_DEPOSIT).exists()

    supervise(worker, waiting, rng, KILLS, beat=expire_holds.delay)

    for booking in holds:
        booking.refresh_from_db()
        assert booking.status == BookingStatus.EXPIRED
        assert booking.events.filter(to_status=BookingStatus.EXPIRED).count() == 1


def test_killed_after_stripe_charged_the_card_the_balance_is_charged_once(
    book, san_jose, worker, fake_stripe, apply_event, settings
):
    """The worker dies after Stripe created and confirmed the off-session charge, before it
    stored the payment: the retry gets the same intent (same key), so one charge."""
    booking = book(san_jose, days=next_weekday(san_jose, 4))
    event = build_stripe_event(
        "payment_intent.succeeded", deposit_of(booking), customer="cus_1", payment_method="pm_1"
    )
    apply_event(event)
    san_jose.auto_charge_balance_days = 30
    san_jose.save()
    kills = [KILLS]

    def kill_after_the_charge(fake):
        if kills[0] > 0:
            kills[0] -= 1
            worker.kill()

    fake_stripe.hooks["/v1/payment_intents"] = kill_after_the_charge
    celery_app.conf.task_always_eager = False

    def waiting() -> bool:
        return not Payment.objects.filter(booking=booking, kind="balance").exists()

    supervise(worker, waiting, random.Random(SEED + 2), 0, beat=charge_due_balances.delay)

    charges = [c for c in fake_stripe.posts("/v1/payment_intents") if c["form"].get("confirm")]
    assert len(charges) >= KILLS + 1  # it was retried after every kill...
    assert len({c["idempotency_key"] for c in charges}) == 1  # ...always with the same key
    intents = [i for i in fake_stripe.intents.values() if i["metadata"].get("kind") == "balance"]
    assert len(intents) == 1
    [balance] = Payment.objects.filter(booking=booking, kind="balance")
    assert balance.stripe_payment_intent_id == intents[0]["id"]
    assert_the_money_adds_up()


def assert_the_money_adds_up() -> None:
    """The invariants of the money test (test_money_machine), over every booking."""
    for booking in Booking.objects.all():
        payments = list(booking.payments.all())
        paid = [p for p in payments if p.succeeded]
        assert {p.currency for p in payments} <= {booking.currency}
        assert booking.amount_paid_cents == sum(p.amount_cents for p in paid)
        assert booking.amount_refunded_cents == sum(p.amount_refunded_cents for p in paid)
        assert booking.amount_refunded_cents + booking.amount_refund_pending_cents <= (
            booking.amount_paid_cents
        )
        for payment in payments:
            asked = sum(r.amount_cents for r in payment.refunds.exclude(status="failed"))
            assert asked <= (payment.amount_cents if payment.succeeded else 0)


def test_killed_while_sending_reminders_each_goes_out_and_never_for_the_old_date(
    book, san_jose, worker, smtp, settings
):
    from django.utils import timezone

    from bookings.tasks import send_reminders

    san_jose.quiet_hours_start = san_jose.quiet_hours_end  # no quiet hours: any time of day
    san_jose.save()
    parties = [book(san_jose, days=next_weekday(san_jose, 2) + 7 * n, n=n) for n in range(4)]
    soon = timezone.now() + timedelta(hours=30)  # the 72-hour reminder is due
    for n, booking in enumerate(parties):
        starts = soon + timedelta(minutes=n)
        Booking.objects.filter(pk=booking.pk).update(
            status=BookingStatus.CONFIRMED, starts_at=starts, ends_at=starts + timedelta(hours=2)
        )
    celery_app.conf.task_always_eager = False
    smtp.on_data = kill_on_the_first_messages(worker, KILLS)

    def waiting() -> bool:
        told = {s for s in smtp.subjects() if "coming up" in s}
        return any(not any(b.reference in s for s in told) for b in parties)

    restarts = supervise(worker, waiting, random.Random(SEED + 3), KILLS, beat=send_reminders.delay)

    from bookings.models import Notification

    rows = list(Notification.objects.values_list("key", "status", "attempts", "last_error"))
    assert not waiting(), f"a reminder was lost: {rows} sent={smtp.subjects()}"
    assert restarts >= KILLS
    for booking in parties:
        sent = [s for s in smtp.subjects() if booking.reference in s]
        assert 1 <= len(sent) <= 1 + KILLS, (booking.reference, sent)


def test_killed_after_stripe_refunded_late_money_it_is_refunded_once(
    book, san_jose, worker, fake_stripe, apply_event, api_client, monkeypatch
):
    """Money paid to cancelled bookings is returned by the sweeper; the worker dies right after
    Stripe made each refund, before it was recorded: the retry (same key) gets the same
    refund, so each customer is refunded once, in full."""
    from payments import ledger

    monkeypatch.setattr(ledger, "_return_quietly", lambda payment_id: None)  # lost after commit
    cancelled = []
    for n in range(3):
        booking = book(san_jose, days=next_weekday(san_jose, 2) + 7 * n, n=n)
        response = api_client.post(
            f"/api/v1/bookings/{booking.reference}/cancel",
            {},
            format="json",
            HTTP_X_BOOKING_TOKEN=booking.created["manage_token"],
        )
        assert response.status_code == 200
        apply_event(build_stripe_event("payment_intent.succeeded", deposit_of(booking)))
        cancelled.append(booking)
    assert Payment.objects.filter(to_return=True, amount_refunded_cents=0).count() == 3
    kills = [KILLS]

    def kill_after_the_refund(fake):
        if kills[0] > 0:
            kills[0] -= 1
            worker.kill()

    fake_stripe.hooks["/v1/refunds"] = kill_after_the_refund
    celery_app.conf.task_always_eager = False

    def waiting() -> bool:  # a refund Stripe has accepted, for each payment to return
        accepted = Refund.objects.exclude(stripe_refund_id="").values("payment")
        return Payment.objects.filter(to_return=True).exclude(pk__in=accepted).exists()

    restarts = supervise(worker, waiting, random.Random(SEED + 4), 0, beat=beat_sweepers)

    assert not waiting()
    assert restarts >= KILLS
    celery_app.conf.task_always_eager = True
    for booking in cancelled:  # Stripe reports the refunds
        apply_event(build_stripe_event("charge.refunded", deposit_of(booking)))
    for booking in cancelled:
        deposit = deposit_of(booking)
        assert deposit.amount_refunded_cents == deposit.amount_cents
        at_stripe = [
            r for r in fake_stripe.refunds.values()
            if r["payment_intent"] == deposit.stripe_payment_intent_id
        ]  # fmt: skip
        assert [r["amount"] for r in at_stripe] == [deposit.amount_cents]
        assert deposit.refunds.get().stripe_refund_id == at_stripe[0]["id"]
    assert_the_money_adds_up()
