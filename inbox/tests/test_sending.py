"""
The sender (inbox.sending.message_send), against local fake provider servers: claimed once,
checked again, the provider called at most once per message, the outcome recorded; retries with
backoff; never twice, even when recording the provider's answer fails.

Date-proof: every test runs at T0 (Wednesday 2027-03-10 11:00 in San Jose, outside quiet hours)
or an explicit instant after it.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from inbox import outbound, sending, services, tasks
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Message,
    Sender,
)
from inbox.services import SenderInfo
from testing.factories import CustomerFactory
from testing.fake_providers import (
    running,
    twilio_error,
)

T0 = datetime(2027, 3, 10, 19, 0, tzinfo=UTC)  # 11:00 PST
NUMBER = "+14085550142"

fake_providers = pytest.fixture(running, name="fake_providers")


@pytest.fixture(autouse=True)
def at_t0():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sms(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


@pytest.fixture
def email(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.EMAIL, address="sanjose@example.com"
    )


@pytest.fixture
def customer(san_jose):
    return CustomerFactory(station=san_jose, phone=NUMBER, sms_opt_in=True, name="Kim Lee")


def queue(customer, channel, body="Your table is ready", **options):
    conversation = services.conversation_for(customer)
    options = {"sender": Sender.USER, **options}
    return outbound.message_queue(conversation=conversation, channel=channel, body=body, **options)


def reload(message) -> Message:
    return Message.objects.get(pk=message.pk)


def test_sent_once_with_the_providers_id(fake_providers, sms, customer):
    message = queue(customer, sms)
    assert sending.message_send(message_id=message.pk) == "sent"
    assert sending.message_send(message_id=message.pk) == "sent"  # a second task: nothing
    (request,) = fake_providers.of("twilio")
    assert request.form["To"] == NUMBER
    assert request.query == ""
    row = reload(message)
    assert (row.status, row.attempts, row.claimed_until, row.sent_at) == ("sent", 1, None, T0)
    assert row.provider_message_id.startswith("SM")
    identity = ContactIdentity.objects.get(customer=customer, kind="sms")
    assert (row.identity_id, identity.external_id) == (identity.pk, NUMBER)


def test_a_message_held_by_another_worker_is_left_alone(fake_providers, sms, customer):
    message = queue(customer, sms)
    assert sending._claim(message.pk, T0) == 1
    assert sending.message_send(message_id=message.pk) == "busy"
    assert fake_providers.of("twilio") == []


def test_not_before_send_after(fake_providers, sms, customer, at_t0):
    message = queue(customer, sms)
    Message.objects.filter(pk=message.pk).update(send_after=T0 + timedelta(minutes=5))
    assert sending.message_send(message_id=message.pk) == "not due"
    assert sending.messages_due() == []
    at_t0.shift(timedelta(minutes=5))
    assert sending.messages_due() == [message.pk]
    assert sending.message_send(message_id=message.pk) == "sent"


def test_a_channel_without_credentials_never_pretends(fake_providers, sms, customer, settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    message = queue(customer, sms)
    assert sending.message_send(message_id=message.pk) == "not_sent"
    row = reload(message)
    assert row.status == "not_sent"
    assert row.error.startswith("not sent: channel offline")
    assert fake_providers.requests == []


def test_consent_is_asked_again_at_sending(fake_providers, sms, customer):
    message = queue(customer, sms, sender=Sender.AI, automated=True)
    type(customer).objects.filter(pk=customer.pk).update(sms_opt_in=False)
    assert sending.message_send(message_id=message.pk) == "not_sent"
    assert reload(message).error == "not sent: the customer has not agreed to texts"
    assert fake_providers.requests == []


def test_a_permanent_error_fails_it_with_the_reason(fake_providers, sms, customer):
    fake_providers.plan("twilio", twilio_error(21211, f"The 'To' number {NUMBER} is invalid."))
    message = queue(customer, sms)
    assert sending.message_send(message_id=message.pk) == "failed"
    row = reload(message)
    assert row.status == "failed"
    assert "not a valid phone number" in row.error
    assert NUMBER not in row.error
    assert sending.messages_due(now=T0 + timedelta(days=1)) == []


def test_unsubscribed_at_twilio_opts_the_number_out(fake_providers, sms, customer):
    fake_providers.plan("twilio", twilio_error(21610, "Attempt to send to unsubscribed recipient"))
    message = queue(customer, sms)
    assert sending.message_send(message_id=message.pk) == "failed"
    identity = ContactIdentity.objects.get(customer=customer, kind="sms")
    assert identity.opted_out
    customer.refresh_from_db()
    assert customer.sms_opt_in is False
    later = queue(customer, sms, body="and another")
    assert sending.message_send(message_id=later.pk) == "not_sent"
    assert len(fake_providers.of("twilio")) == 1


def test_retryable_errors_back_off_then_fail_after_the_last_attempt(
    fake_providers, sms, customer, settings, at_t0
):
    settings.INBOX_SEND_MAX_ATTEMPTS = 3
    fake_providers.plan("twilio", *[twilio_error(20500, "Internal Server Error", 500)] * 3)
    message = queue(customer, sms)
    for attempt, delay in ((1, 30), (2, 60)):
        with pytest.raises(sending.RetryLater) as retry:
            sending.message_send(message_id=message.pk)
        assert retry.value.countdown == delay
        row = reload(message)
        assert (row.status, row.attempts) == ("queued", attempt)
        assert row.send_after == at_t0_now() + timedelta(seconds=delay)
        assert sending.message_send(message_id=message.pk) == "not due"
        at_t0.shift(timedelta(seconds=delay))
        assert sending.messages_due() == [message.pk]
    assert sending.message_send(message_id=message.pk) == "failed"
    assert reload(message).attempts == 3
    assert len(fake_providers.of("twilio")) == 3


def at_t0_now():
    from django.utils import timezone

    return timezone.now()


def test_the_task_retries_a_retryable_error_and_the_sweeper_picks_it_up(
    fake_providers, sms, customer, at_t0
):
    fake_providers.plan("twilio", twilio_error(20429, "Too Many Requests", 429))
    message = queue(customer, sms)
    assert tasks.send_message.delay(message.pk).get() == "retry later"  # eager: no loop
    at_t0.shift(timedelta(seconds=31))
    assert tasks.sweep_outbound.delay().get() == 1
    assert reload(message).status == "sent"
    assert len(fake_providers.of("twilio")) == 2


# --- Exactly once --------------------------------------------------------------------------------


def test_accepted_then_recording_fails_the_rerun_never_calls_the_provider_again(
    fake_providers, sms, customer, monkeypatch, at_t0
):
    message = queue(customer, sms)

    def broken(message, sent):
        raise ConnectionError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(sending, "_record_sent", broken)
        with pytest.raises(ConnectionError):
            sending.message_send(message_id=message.pk)
    assert len(fake_providers.of("twilio")) == 1  # the provider took it
    assert reload(message).status == "sending"

    assert sending.message_send(message_id=message.pk) == "busy"  # the task, run again
    at_t0.shift(timedelta(seconds=sending.lease_seconds() + 1))
    assert tasks.sweep_outbound.delay().get() == 0  # nothing to send again
    assert sending.message_send(message_id=message.pk) == "unknown"
    row = reload(message)
    assert row.status == "unknown"
    assert "check" in row.error
    assert len(fake_providers.of("twilio")) == 1

    # Twilio's status callback carries our id (StatusCallback ?m=<id>): it fills the gap.
    sid = "SM" + "a" * 32
    assert services.status_apply(
        channel=sms, provider_message_id=sid, status="delivered", our_message_id=message.pk
    )
    row = reload(message)
    assert (row.status, row.provider_message_id) == ("delivered", sid)
    assert len(fake_providers.of("twilio")) == 1


def test_a_stalled_provider_times_out_and_the_message_is_retried(
    fake_providers, sms, customer, at_t0
):
    fake_providers.plan("twilio", "stall")
    message = queue(customer, sms)
    started = time.monotonic()
    with pytest.raises(sending.RetryLater):
        sending.message_send(message_id=message.pk)
    assert time.monotonic() - started < 5  # the 1 s timeout fired: the worker is free again
    assert reload(message).status == "queued"
    at_t0.shift(timedelta(seconds=31))
    assert sending.message_send(message_id=message.pk) == "sent"
    assert len(fake_providers.of("twilio")) == 2


def test_a_status_callback_during_the_backoff_stops_the_retry(fake_providers, sms, customer, at_t0):
    """The stalled request was taken after all: its callback (with our id) arrives while the
    message waits to be retried, and the retry does not send it again."""
    fake_providers.plan("twilio", "stall")
    message = queue(customer, sms)
    with pytest.raises(sending.RetryLater):
        sending.message_send(message_id=message.pk)
    services.status_apply(
        channel=sms, provider_message_id="SM" + "b" * 32, status="sent", our_message_id=message.pk
    )
    at_t0.shift(timedelta(seconds=31))
    assert sending.messages_due() == []
    assert sending.message_send(message_id=message.pk) == "sent"
    assert len(fake_providers.of("twilio")) == 1


def test_a_lost_task_is_found_by_the_sweeper(fake_providers, sms, customer, at_t0):
    message = queue(customer, sms)  # its on-commit enqueue never ran (a broker down)
    assert sending.messages_due() == []
    at_t0.shift(timedelta(seconds=sending.QUEUED_GRACE_SECONDS + 1))
    assert sending.messages_due() == [message.pk]


# --- Channels --------------------------------------------------------------------------------


def test_email_reply_threads_under_the_customers_last_mail(fake_providers, email, customer):
    inbound = services.inbound_receive(
        channel=email,
        sender=SenderInfo(external_id=customer.email, email=customer.email),
        provider_message_id="<CAF1234@mail.example.com>",
        body="Do you cater for 40?",
        subject="Party on Saturday",
        received_at=T0 - timedelta(hours=1),
    )
    assert inbound.identity.customer_id == customer.pk
    message = queue(customer, email, body="We do!")
    assert sending.message_send(message_id=message.pk) == "sent"
    (request,) = fake_providers.of("postmark")
    assert request.json["To"] == customer.email
    assert request.json["Subject"] == "Re: Party on Saturday"
    headers = {h["Name"]: h["Value"] for h in request.json["Headers"]}
    assert headers["In-Reply-To"] == "<CAF1234@mail.example.com>"
    assert headers["References"] == "<CAF1234@mail.example.com>"


def test_whatsapp_answers_the_user_id_that_wrote(fake_providers, san_jose, customer):
    whatsapp = Channel.objects.create(
        station=san_jose, kind=ChannelKind.WHATSAPP, address="100000000000001"
    )
    services.inbound_receive(
        channel=whatsapp,
        sender=SenderInfo(external_id="14085550142", phone=NUMBER, name="Kim"),
        provider_message_id="wamid.IN1",
        body="hello",
        received_at=T0 - timedelta(hours=2),
    )
    message = queue(customer, whatsapp, body="Hi Kim")
    assert sending.message_send(message_id=message.pk) == "sent"
    (request,) = fake_providers.of("whatsapp")
    assert request.json["to"] == "14085550142"
    assert request.json["biz_opaque_callback_data"] == str(message.pk)
    assert reload(message).provider_message_id.startswith("wamid.")


def test_queued_in_a_transaction_sent_only_after_commit(
    fake_providers, sms, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = queue(customer, sms, key="reply-1")
        assert queue(customer, sms, key="reply-1").pk == message.pk
        assert fake_providers.requests == []
    assert reload(message).status == "sent"
    assert len(fake_providers.of("twilio")) == 1
