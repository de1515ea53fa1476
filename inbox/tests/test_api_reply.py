"""Replying through the staff API: queued on the right channel, refused with the reason when
compliance forbids it (409 send_refused), and queued once per Idempotency-Key."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from inbox import services
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageTemplate,
    Sender,
    TemplateCategory,
    TemplateKind,
)
from inbox.services import SenderInfo

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/staff/conversations/"
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


@pytest.fixture
def whatsapp(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.WHATSAPP, address="100000000000001"
    )


@pytest.fixture
def clock():
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False) as traveller:
        yield traveller


def receive(channel, external_id, pid, body="hello", at=T0, **sender) -> Conversation:
    return services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=external_id, **sender),
        provider_message_id=pid,
        body=body,
        received_at=at,
    ).conversation


def reply(client, conversation, body=None, **headers):
    return client.post(
        f"{CONVERSATIONS}{conversation.pk}/reply",
        {"body": "Yes we do!"} if body is None else body,
        **headers,
    )


def outbound():
    return Message.objects.filter(direction=Direction.OUTBOUND, is_note=False)


def test_a_reply_is_queued_on_the_channel_the_customer_wrote_on(
    staff_client, sj_agent, sms, email, clock
):
    conversation = receive(sms, "+14085550177", "SM1", email="kim@example.com")

    response = reply(staff_client(sj_agent), conversation)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == MessageStatus.QUEUED
    assert (body["channel"], body["channel_kind"]) == (sms.pk, "sms_twilio")
    assert (body["sender"], body["author"], body["is_note"]) == (Sender.USER, sj_agent.pk, False)
    assert body["body"] == "Yes we do!"
    assert "idempotency_key" not in body
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    assert conversation.first_response_at == T0 + timedelta(minutes=5)
    assert outbound().count() == 1


def test_a_chosen_channel_is_used(staff_client, sj_agent, sms, email, clock, san_jose):
    conversation = receive(sms, "+14085550177", "SM1")
    conversation.customer.email = "kim@example.com"
    conversation.customer.save()

    response = reply(staff_client(sj_agent), conversation, {"body": "Hi", "channel": email.pk})

    assert response.status_code == 201, response.json()
    assert response.json()["channel_kind"] == "email"


def test_the_same_idempotency_key_queues_once(staff_client, sj_agent, sms, clock):
    conversation = receive(sms, "+14085550177", "SM1")
    client = staff_client(sj_agent)

    first = reply(client, conversation, HTTP_IDEMPOTENCY_KEY="reply-1")
    again = reply(client, conversation, HTTP_IDEMPOTENCY_KEY="reply-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert outbound().count() == 1
    other = reply(client, conversation, {"body": "Something else"}, HTTP_IDEMPOTENCY_KEY="reply-1")
    assert other.status_code == 422
    assert reply(client, conversation, HTTP_IDEMPOTENCY_KEY="reply-2").status_code == 201
    assert outbound().count() == 2


def test_a_retry_after_the_first_answer_was_lost_finds_the_same_message(
    staff_client, sj_agent, sms, clock
):
    """The request died after queueing (its claim never got an answer): the retry takes the
    claim over and finds the message by the key derived from the claim, not a second one."""
    from config.models import IdempotencyKey

    conversation = receive(sms, "+14085550177", "SM1")
    client = staff_client(sj_agent)
    first = reply(client, conversation, HTTP_IDEMPOTENCY_KEY="lost-answer")
    IdempotencyKey.objects.update(
        response_status=None, response_sealed=None, created_at=T0 - timedelta(hours=1)
    )

    retried = reply(client, conversation, HTTP_IDEMPOTENCY_KEY="lost-answer")

    assert retried.status_code == 201
    assert retried.json()["id"] == first.json()["id"]
    assert outbound().count() == 1


def test_whatsapp_outside_the_window_is_refused_with_the_reason(
    staff_client, sj_agent, whatsapp, clock
):
    conversation = receive(whatsapp, "wa-1", "wamid.1", phone="+14085550177", at=T0)
    clock.move_to(T0 + timedelta(hours=25))

    response = reply(staff_client(sj_agent), conversation)

    assert response.status_code == 409
    assert response.json()["error"] == "send_refused"
    assert "24-hour" in response.json()["detail"]
    assert not outbound().exists()


def test_an_approved_template_goes_out_of_the_window(
    staff_client, sj_agent, whatsapp, clock, san_jose
):
    template = MessageTemplate.objects.create(
        station=san_jose,
        kind=TemplateKind.WHATSAPP,
        name="follow_up",
        body="Hi {{1}}, still planning your party?",
        category=TemplateCategory.UTILITY,
        approved=True,
    )
    conversation = receive(whatsapp, "wa-1", "wamid.1", phone="+14085550177", at=T0)
    clock.move_to(T0 + timedelta(hours=25))

    response = reply(staff_client(sj_agent), conversation, {"template": template.pk})

    assert response.status_code == 201, response.json()
    assert response.json()["template"] == template.pk
    assert response.json()["body"] == template.body


def test_a_number_that_texted_stop_gets_no_reply(staff_client, sj_agent, sms, clock):
    conversation = receive(sms, "+14085550177", "SM1", body="STOP")

    response = reply(staff_client(sj_agent), conversation)

    assert response.status_code == 409
    assert response.json()["error"] == "send_refused"
    assert "STOP" in response.json()["detail"]
    assert not outbound().filter(sender=Sender.USER).exists()


def test_no_channel_to_answer_on_is_a_conflict(staff_client, sj_agent, san_jose, clock):
    web = Channel.objects.create(station=san_jose, kind=ChannelKind.WEB, address="san-jose")
    conversation = receive(web, "kim@example.com", "web-1")

    response = reply(staff_client(sj_agent), conversation)

    assert response.status_code == 409
    assert response.json()["error"] == "no_channel"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"body": "  "},
        {"body": 12},
        {"body": "hi", "channel": "sms"},
        {"body": "hi", "channel": 0},
        {"body": "hi", "unknown": 1},
    ],
)
def test_a_bad_reply_is_400(staff_client, sj_agent, sms, body, clock):
    conversation = receive(sms, "+14085550177", "SM1")

    response = reply(staff_client(sj_agent), conversation, body)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not outbound().exists()


def test_another_stations_channel_or_template_is_400(
    staff_client, sj_agent, sms, sacramento, clock
):
    theirs = Channel.objects.create(
        station=sacramento, kind=ChannelKind.SMS_TWILIO, address="+19165550100"
    )
    template = MessageTemplate.objects.create(
        station=sacramento, kind=TemplateKind.CANNED, name="hi", body="Hello!"
    )
    conversation = receive(sms, "+14085550177", "SM1")
    client = staff_client(sj_agent)

    by_channel = reply(client, conversation, {"body": "hi", "channel": theirs.pk})
    by_template = reply(client, conversation, {"template": template.pk})

    assert by_channel.status_code == 400
    assert "channel" in by_channel.json()["fields"]
    assert by_template.status_code == 400
    assert "template" in by_template.json()["fields"]
    assert not outbound().exists()


def test_a_canned_reply_fills_the_body(staff_client, sj_agent, sms, san_jose, clock):
    canned = MessageTemplate.objects.create(
        station=san_jose, kind=TemplateKind.CANNED, name="thanks", body="Thanks for writing!"
    )
    conversation = receive(sms, "+14085550177", "SM1")

    response = reply(staff_client(sj_agent), conversation, {"template": canned.pk})

    assert response.status_code == 201
    assert response.json()["body"] == "Thanks for writing!"
    assert response.json()["template"] is None  # a canned reply is text, not a provider template
