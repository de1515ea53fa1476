"""
A mail relay that stalls holds up only the notifications queue, never the Stripe events.

Real processes: an SMTP server on loopback that accepts connections and never greets, and a
Celery worker process (two slots) consuming `celery` and `notifications`, as production runs.
Three deposits are paid; every booking must be confirmed before any customer e-mail gives up
on its unanswered connection (before the outbox, the drain sent each e-mail inside
the event's apply and the next event waited for the relay to time out).
"""

import os

import pytest
from django.test import Client

from bookings.models import Booking, BookingStatus, Notification
from bookings.tests.live import celery_worker, purge, smtp_relay, wait_for
from config.celery import app as celery_app
from payments.tests.conftest import WEBHOOK, build_stripe_event, deposit_of, encode

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis broker (REDIS_URL)"),
]

EMAIL_TIMEOUT = 4.0


def test_stalled_relay_does_not_hold_up_deposits(book, san_jose, sign):
    celery_app.conf.task_always_eager = False  # through the broker to the worker process
    purge("celery", "notifications")
    bookings = [book(san_jose, days=10 + n, n=n) for n in range(3)]
    client = Client()

    with (
        smtp_relay(["no-greeting"] * 10) as relay,
        celery_worker(
            smtp_port=relay.port, pool="prefork", concurrency=2, email_timeout=EMAIL_TIMEOUT
        ) as worker,
    ):
        for booking in bookings:
            body = encode(build_stripe_event("payment_intent.succeeded", deposit_of(booking)))
            response = client.post(
                WEBHOOK, data=body, content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(body),
            )  # fmt: skip
            assert response.status_code == 200

        def confirmed_or_a_mail_gave_up():
            gave_up = sum(1 for c in relay.connections if not c["open"])
            confirmed = Booking.objects.filter(
                pk__in=[b.pk for b in bookings], status=BookingStatus.CONFIRMED
            ).count()
            return (confirmed, gave_up) if confirmed == len(bookings) or gave_up else None

        state = wait_for(confirmed_or_a_mail_gave_up, timeout=30)
        assert state == (3, 0), (
            "(confirmed, e-mails timed out): the deposits waited for the stalled relay "
            f"{state}\n{worker.output()}"
        )
        assert wait_for(lambda: relay.stalled_open(), timeout=10), "no e-mail reached the relay"

        # Each confirmation is one outbox row; the relay never greets, so each send times out
        # (EMAIL_TIMEOUT) and is recorded as failed, to be retried with backoff.
        keys = sorted(Notification.objects.values_list("key", flat=True))
        assert keys == sorted(f"deposit-paid-{b.pk}" for b in bookings)

        def all_failed():
            rows = Notification.objects.filter(key__startswith="deposit-paid-")
            return all(r.status == "failed" for r in rows) and rows

        failed = wait_for(all_failed, timeout=EMAIL_TIMEOUT * 6)
        assert failed, worker.output()
        assert all(r.attempts == 1 and "timed out" in r.last_error for r in failed)
        assert relay.accepted == []
