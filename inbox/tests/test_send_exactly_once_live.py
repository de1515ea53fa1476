"""
Exactly once with real processes: a Celery worker process sends an SMS to a local fake Twilio
(testing/fake_providers.py) that takes the request and holds its answer; the worker is killed
with SIGKILL right then (the provider has the message, our record does not). A second worker
and the beat's sweeper must never send it again: the message ends `unknown` ("check before
sending again") with exactly one request at the provider, and Twilio's status callback, which
carries our id, then fills it in. And a provider that stalls never freezes the worker: the
timeout fires, the message waits for its retry, and the next message goes out meanwhile.

Date-proof: the worker processes run on the real clock; the station has no quiet hours.
"""

import os
from datetime import time

import pytest
from django.db import transaction

from bookings.tests.live import celery_worker, purge, wait_for
from config.celery import app as celery_app
from inbox import outbound, services
from inbox.models import Channel, ChannelKind, Message, Sender
from testing.factories import CustomerFactory
from testing.fake_providers import serve, settings_for

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis broker (REDIS_URL)"),
]

NUMBER = "+14085550142"
PROVIDER_TIMEOUT = 2
LEASE = 3


@pytest.fixture
def fake(monkeypatch, settings):
    """The fake providers, and the environment of the worker processes pointing at them (the
    workers inherit this process's environment: bookings.tests.live.celery_worker)."""
    with serve() as fake:
        for name, value in settings_for(fake).items():
            monkeypatch.setenv(name, value)
            setattr(settings, name, value)
        monkeypatch.setenv("INBOX_PROVIDER_TIMEOUT_SECONDS", str(PROVIDER_TIMEOUT))
        monkeypatch.setenv("INBOX_SEND_LEASE_SECONDS", str(LEASE))
        yield fake


@pytest.fixture
def thread(san_jose):
    san_jose.quiet_hours_start = san_jose.quiet_hours_end = time(0, 0)  # none
    san_jose.save()
    sms = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )
    customer = CustomerFactory(station=san_jose, phone=NUMBER, sms_opt_in=True)
    return sms, services.conversation_for(customer)


def queue(thread, body):
    sms, conversation = thread
    with transaction.atomic():  # published to the broker when this commits
        return outbound.message_queue(
            conversation=conversation, channel=sms, body=body, sender=Sender.USER
        )


def status(message) -> str:
    return Message.objects.filter(pk=message.pk).values_list("status", flat=True)[0]


def test_a_worker_killed_while_the_provider_holds_the_request_never_sends_twice(fake, thread):
    celery_app.conf.task_always_eager = False  # through the broker to the worker processes
    purge("celery", "notifications")
    fake.plan("twilio", "hold")

    with celery_worker(smtp_port=1) as first:
        message = queue(thread, "Your chef is on the way")
        assert fake.wait_for_requests(1), first.output()
        first.kill()  # the provider has the message; our record does not
    fake.release.set()
    assert status(message) == "sending"

    with celery_worker(smtp_port=1) as second:

        def swept_to_unknown():
            celery_app.send_task("inbox.tasks.sweep_outbound")
            return wait_for(lambda: status(message) == "unknown", timeout=1)

        assert wait_for(swept_to_unknown, timeout=30), second.output()
        for _ in range(3):  # and later sweeps send nothing either
            last = celery_app.send_task("inbox.tasks.sweep_outbound")
        assert wait_for(lambda: f"[{last.id}] succeeded" in second.output(), timeout=20)

    assert len(fake.of("twilio")) == 1
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.attempts, row.provider_message_id) == ("unknown", 1, "")
    assert "check" in row.error

    sms, _ = thread
    assert services.status_apply(
        channel=sms, provider_message_id="SM" + "c" * 32, status="delivered",
        our_message_id=message.pk,
    )  # fmt: skip
    assert status(message) == "delivered"


def test_a_stalled_provider_never_freezes_the_worker(fake, thread):
    celery_app.conf.task_always_eager = False
    purge("celery", "notifications")
    fake.plan("twilio", "stall")

    with celery_worker(smtp_port=1) as worker:
        stalled = queue(thread, "first")
        assert fake.wait_for_requests(1), worker.output()
        following = queue(thread, "second")
        # One process: the second message goes out once the first one's timeout has fired.
        assert wait_for(lambda: status(following) == "sent", timeout=PROVIDER_TIMEOUT + 15), (
            worker.output()
        )
        row = Message.objects.get(pk=stalled.pk)
        assert (row.status, row.attempts) == ("queued", 1)  # waiting for its retry
        assert "did not answer" in row.error
        assert row.send_after is not None
    assert [r.form["Body"] for r in fake.of("twilio")] == ["first", "second"]
