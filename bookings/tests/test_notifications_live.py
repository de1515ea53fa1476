"""
A reminder survives a worker killed while sending it, and goes out exactly once.

Real processes: a loopback SMTP server whose first connection takes the message and never
answers it, and Celery worker processes. The first worker runs the reminder run and is killed
with SIGKILL while its e-mail hangs; a second worker is started, and the beat's periodic tasks
(the reminder run and the outbox's sweeper) are sent to it until the reminder is accepted by
the relay; then more of them must send nothing more. Before the outbox, the claim row was
committed before delivery and released only on an exception, so after the kill the reminder
was never sent.

Date-proof: the booking is two days ahead of the real clock (the worker processes run on it),
and the station has no quiet hours.
"""

import os
import time
from datetime import time as clock_time
from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.models import Notification
from bookings.scheduling import station_tz
from bookings.tests.live import celery_worker, purge, smtp_relay, wait_for
from config.celery import app as celery_app
from testing.factories import make_booking

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis broker (REDIS_URL)"),
]

LEASE_SECONDS = 2.0


def run_beat_tasks(worker, rounds: int = 1) -> None:
    """Send the outbox's sweeper and the reminder run `rounds` times, and wait until the
    worker (one process, taking its queue in order) has finished the last reminder run."""
    for _ in range(rounds):
        celery_app.send_task("bookings.tasks.sweep_notifications")
        last = celery_app.send_task("bookings.tasks.send_reminders").id
    done = wait_for(lambda: f"[{last}] succeeded" in worker.output())
    assert done, worker.output()


def test_a_reminder_is_sent_once_after_its_worker_was_killed_mid_send(san_jose):
    celery_app.conf.task_always_eager = False  # through the broker to the worker processes
    purge("celery", "notifications")
    san_jose.quiet_hours_start = san_jose.quiet_hours_end = clock_time(0, 0)  # none
    san_jose.save()
    now = timezone.now()
    day = now.astimezone(station_tz(san_jose)).date() + timedelta(days=2)
    booking = make_booking(
        san_jose, event_date=day, start="18:00", now=now - timedelta(days=3), status="confirmed"
    )
    assert timedelta(hours=24) < booking.starts_at - now <= timedelta(hours=72)  # 72h is due

    with smtp_relay(["stall-data"]) as relay:
        worker_args = {"smtp_port": relay.port, "email_timeout": 60, "lease_seconds": LEASE_SECONDS}
        with celery_worker(**worker_args) as first:
            celery_app.send_task("bookings.tasks.send_reminders")
            hanging = wait_for(lambda: relay.connections and relay.connections[0]["data_taken"])
            assert hanging, first.output()
            first.kill()
        assert relay.accepted == []
        assert len(relay.unanswered) == 1

        with celery_worker(**worker_args) as second:
            deadline = time.monotonic() + 30
            while not relay.accepted and time.monotonic() < deadline:
                run_beat_tasks(second)
                time.sleep(0.2)  # polling the worker process, bounded by the deadline
            assert len(relay.accepted) == 1, f"the reminder was lost\n{second.output()}"
            run_beat_tasks(second, rounds=3)  # and nothing goes out twice

    (mail,) = relay.accepted
    assert booking.reference in mail["Subject"]
    local = booking.starts_at.astimezone(station_tz(san_jose))
    assert f"{local:%A, %B %-d}" in mail.get_payload()
    assert mail["Message-ID"] == relay.unanswered[0]["Message-ID"]  # the same message again
    row = Notification.objects.get(booking=booking)
    assert (row.status, row.reminder_kind, row.attempts) == ("sent", "72h", 2)
