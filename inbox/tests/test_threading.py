"""Threading and the inbox's own rules, through the services every webhook calls."""

from datetime import UTC, datetime, timedelta

import pytest

from inbox import services
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Conversation,
    Message,
    MessageStatus,
)
from inbox.services import SenderInfo
from testing.factories import CustomerFactory

T0 = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


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


def receive(channel, external_id, pid, body="hi", at=T0, **sender):
    return services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=external_id, **sender),
        provider_message_id=pid,
        body=body,
        received_at=at,
    )


def test_a_customer_who_texts_then_emails_is_one_thread(sms, email, san_jose):
    customer = CustomerFactory(station=san_jose, phone="+14085550177", email="kim@example.com")
    first = receive(sms, "+14085550177", "SM1")
    second = receive(email, "kim@example.com", "<m1@example.com>", at=T0 + timedelta(hours=1))
    assert first.conversation_id == second.conversation_id
    assert first.identity.customer_id == second.identity.customer_id == customer.pk
    assert Conversation.objects.filter(customer=customer).count() == 1


def test_an_unknown_sender_becomes_a_new_customer_without_touching_others(sms, san_jose):
    other = CustomerFactory(station=san_jose, phone="+14085550111", name="Known")
    message = receive(sms, "+14085550199", "SM2", name="Stranger")
    customer = message.identity.customer
    assert customer.pk != other.pk
    assert customer.phone == "+14085550199"
    other.refresh_from_db()
    assert other.name == "Known"


def test_the_same_provider_message_twice_is_one_row(sms):
    assert receive(sms, "+14085550199", "SM3") is not None
    assert receive(sms, "+14085550199", "SM3", body="changed") is None
    assert Message.objects.filter(provider_message_id="SM3").count() == 1
    assert Message.objects.get(provider_message_id="SM3").body == "hi"


def test_the_thread_waits_since_the_oldest_unanswered_message(sms):
    later = receive(sms, "+14085550199", "SM4", at=T0 + timedelta(minutes=5))
    receive(sms, "+14085550199", "SM5", at=T0)  # delivered late, written earlier
    conversation = Conversation.objects.get(pk=later.conversation_id)
    assert conversation.unread
    assert conversation.waiting_since == T0 + timedelta(minutes=5)
    assert conversation.last_message_at == T0 + timedelta(minutes=5)
    assert conversation.last_inbound_channel_id == sms.pk


def _outbound(conversation, channel, pid):
    return Message.objects.create(
        conversation=conversation,
        channel=channel,
        direction="out",
        sender="user",
        body="hello",
        provider_message_id=pid,
        status=MessageStatus.SENT,
        status_rank=2,
        created_at=T0,
    )


def test_a_status_never_moves_backwards(sms):
    inbound = receive(sms, "+14085550199", "SM6")
    message = _outbound(inbound.conversation, sms, "SMout1")
    assert services.status_apply(channel=sms, provider_message_id="SMout1", status="delivered")
    assert not services.status_apply(channel=sms, provider_message_id="SMout1", status="sent")
    message.refresh_from_db()
    assert message.status == "delivered"
    assert services.status_apply(channel=sms, provider_message_id="SMout1", status="read")


def test_stop_opts_the_number_out_and_start_back_in(sms, san_jose):
    customer = CustomerFactory(station=san_jose, phone="+14085550123", sms_opt_in=True)
    stop = receive(sms, "+14085550123", "SM7", body="  stop ")
    identity = ContactIdentity.objects.get(pk=stop.identity_id)
    customer.refresh_from_db()
    assert identity.opted_out
    assert not customer.sms_opt_in
    receive(sms, "+14085550123", "SM8", body="Start", at=T0 + timedelta(minutes=1))
    identity.refresh_from_db()
    customer.refresh_from_db()
    assert not identity.opted_out
    assert customer.sms_opt_in


@pytest.mark.parametrize("text", ["stop please", "STOP!!", "don't stop", "STOPP"])
def test_a_keyword_counts_only_alone(sms, text):
    message = receive(sms, "+14085550124", "SM9", body=text)
    assert not ContactIdentity.objects.get(pk=message.identity_id).opted_out


def test_a_message_delivered_days_late_whose_task_was_lost_is_swept(sms):
    """Meta retries for days: a message written a week ago and stored now is still processed."""
    old = receive(sms, "+14085550125", "SM10", at=T0 - timedelta(days=7))
    assert old.pk in services.inbound_unprocessed(now=T0)
    services.inbound_process(message_id=old.pk)
    assert old.pk not in services.inbound_unprocessed(now=T0)


def test_a_webhook_that_loses_the_same_race_three_times_answers_503_and_stores_nothing(
    sms, client, settings, monkeypatch
):
    from config.exceptions import Conflict
    from inbox.tests.test_webhook_twilio import INBOUND, twilio_signature

    def always_raced(**kwargs):
        raise Conflict("Please try again.", code="try_again")

    monkeypatch.setattr("inbox.services.customer_upsert", always_raced)
    settings.TWILIO_AUTH_TOKEN = "token"
    url = "/api/v1/webhooks/twilio"
    # A keyword: threaded in the request (other texts go to inbox.ledger, whose drain retries).
    params = {**INBOUND, "Body": "STOP"}
    answer = client.post(
        url,
        params,
        HTTP_X_TWILIO_SIGNATURE=twilio_signature(settings.PUBLIC_BASE_URL + url, params, "token"),
    )
    assert answer.status_code == 503
    assert answer["Retry-After"]
    assert answer.json()["error"] == "try_again"
    assert not Message.objects.exists()
