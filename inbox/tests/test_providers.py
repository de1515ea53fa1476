"""
The provider modules against local fake servers in each provider's documented format (testing/
fake_providers.py): what goes over the wire, and how each provider's errors map to permanent or
retryable ProviderErrors whose text holds no contact data.
"""

import base64
import socket
import time

import pytest

from inbox import credentials
from inbox.models import Channel, ChannelKind, MessageTemplate, TemplateCategory, TemplateKind
from inbox.providers import ProviderError, module_for
from inbox.providers.base import Outgoing
from testing.fake_providers import (
    META_TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    Reply,
    graph_error,
    postmark_error,
    running,
    twilio_error,
)

NUMBER = "+14085550142"

fake_providers = pytest.fixture(running, name="fake_providers")


@pytest.fixture
def channels(san_jose):
    def make(kind, address):
        return Channel.objects.create(station=san_jose, kind=kind, address=address)

    return {
        "sms": make(ChannelKind.SMS_TWILIO, "+14085550100"),
        "whatsapp": make(ChannelKind.WHATSAPP, "100000000000001"),
        "messenger": make(ChannelKind.MESSENGER, "200000000000001"),
        "instagram": make(ChannelKind.INSTAGRAM, "300000000000001"),
        "email": make(ChannelKind.EMAIL, "sanjose@example.com"),
    }


def outgoing(channel, to, body="Hello from San Jose", message_id=41, **extra):
    return Outgoing(
        message_id=message_id,
        key=f"message-{message_id}",
        channel=channel,
        credentials=credentials.for_channel(channel),
        to=to,
        body=body,
        **extra,
    )


def send(out):
    return module_for(out.channel.kind).send(out)


# --- Twilio --------------------------------------------------------------------------------------


def test_twilio_posts_the_messages_api_form_with_basic_auth(fake_providers, channels, settings):
    sent = send(outgoing(channels["sms"], NUMBER))
    (request,) = fake_providers.of("twilio")
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.form == {
        "From": "+14085550100",
        "To": NUMBER,
        "Body": "Hello from San Jose",
        "StatusCallback": f"{settings.PUBLIC_BASE_URL}/api/v1/webhooks/twilio/status?m=41",
    }
    auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {auth}"
    assert sent.provider_message_id.startswith("SM")
    assert len(sent.provider_message_id) == 34


@pytest.mark.parametrize(
    ("reply", "permanent", "code"),
    [
        (twilio_error(21211, f"The 'To' number {NUMBER} is not a valid phone number."), True,
         "21211"),
        (twilio_error(21610, f"Attempt to send to unsubscribed recipient {NUMBER}"), True,
         "unsubscribed"),
        (twilio_error(21614, f"'To' number {NUMBER} is not a valid mobile number"), True, "21614"),
        (twilio_error(20429, "Too Many Requests", status=429), False, "20429"),
        (twilio_error(20500, "Internal Server Error", status=500), False, "20500"),
        (Reply(503, {}), False, "503"),
        (twilio_error(21601, f"Phone number {NUMBER} is not a valid SMS-capable number"), True,
         "21601"),
    ],
)  # fmt: skip
def test_twilio_errors_map_to_permanent_or_retryable(
    fake_providers, channels, reply, permanent, code
):
    fake_providers.plan("twilio", reply)
    with pytest.raises(ProviderError) as raised:
        send(outgoing(channels["sms"], NUMBER))
    assert (raised.value.permanent, raised.value.code) == (permanent, code)
    assert NUMBER not in str(raised.value)
    assert NUMBER[2:] not in str(raised.value)


def test_twilio_wrong_credentials_are_permanent(fake_providers, channels, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"
    with pytest.raises(ProviderError) as raised:
        send(outgoing(channels["sms"], NUMBER))
    assert raised.value.permanent
    assert "credentials" in str(raised.value)


def test_a_provider_nobody_listens_on_is_retryable(fake_providers, channels, settings):
    with socket.socket() as probe:  # a loopback port that was free a moment ago: refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{port}"
    with pytest.raises(ProviderError) as raised:
        send(outgoing(channels["sms"], NUMBER))
    assert (raised.value.permanent, raised.value.code) == (False, "unreachable")


def test_a_stalled_provider_times_out_and_is_retryable(fake_providers, channels):
    fake_providers.plan("twilio", "stall")
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        send(outgoing(channels["sms"], NUMBER))
    assert time.monotonic() - started < 5  # INBOX_PROVIDER_TIMEOUT_SECONDS is 1 here
    assert (raised.value.permanent, raised.value.code) == (False, "timeout")
    assert len(fake_providers.of("twilio")) == 1


# --- Meta ----------------------------------------------------------------------------------------


def test_whatsapp_text_to_the_phone_number_id_with_our_id_echoed(fake_providers, channels):
    sent = send(outgoing(channels["whatsapp"], "14085550142", message_id=77))
    (request,) = fake_providers.of("whatsapp")
    assert request.path == "/v21.0/100000000000001/messages"
    assert request.headers["Authorization"] == f"Bearer {META_TOKEN}"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "14085550142",
        "biz_opaque_callback_data": "77",
        "type": "text",
        "text": {"preview_url": False, "body": "Hello from San Jose"},
    }
    assert sent.provider_message_id.startswith("wamid.")


def test_whatsapp_template_by_name_and_language(fake_providers, channels, san_jose):
    template = MessageTemplate.objects.create(
        station=san_jose, kind=TemplateKind.WHATSAPP, name="booking_update", body="Hi {{1}}",
        language="en_US", category=TemplateCategory.UTILITY, approved=True,
    )  # fmt: skip
    send(outgoing(channels["whatsapp"], "14085550142", template=template))
    (request,) = fake_providers.of("whatsapp")
    assert request.json["type"] == "template"
    assert request.json["template"] == {"name": "booking_update", "language": {"code": "en_US"}}
    assert "text" not in request.json


@pytest.mark.parametrize("kind", ["messenger", "instagram"])
def test_messenger_and_instagram_answer_through_me_messages(fake_providers, channels, kind):
    sent = send(outgoing(channels[kind], "6500000000000042"))
    (request,) = fake_providers.of("messenger")
    assert request.path == "/v21.0/me/messages"
    assert request.headers["Authorization"] == f"Bearer {META_TOKEN}"
    assert request.json == {
        "recipient": {"id": "6500000000000042"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hello from San Jose"},
    }
    assert sent.provider_message_id.startswith("m_")


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        (graph_error(131047, "Re-engagement message"), True),
        (graph_error(131026, "Message undeliverable"), True),
        (graph_error(130429, "Rate limit hit", status=429), False),
        (graph_error(80007, "Rate limit issues"), False),
        (graph_error(4, "Application request limit reached"), False),
        (graph_error(131000, "Something went wrong", status=500), False),
        (Reply(502, {}), False),
        (graph_error(100, f"Invalid parameter: {NUMBER}"), True),
    ],
)
def test_graph_errors_map_to_permanent_or_retryable(fake_providers, channels, reply, permanent):
    fake_providers.plan("whatsapp", reply)
    with pytest.raises(ProviderError) as raised:
        send(outgoing(channels["whatsapp"], NUMBER))
    assert raised.value.permanent is permanent
    assert NUMBER not in str(raised.value)


def test_meta_refuses_a_wrong_token_permanently(fake_providers, channels, settings):
    settings.META_ACCESS_TOKEN = "expired"
    with pytest.raises(ProviderError) as raised:
        send(outgoing(channels["messenger"], "6500000000000042"))
    assert raised.value.permanent
    assert raised.value.code == "190"


# --- E-mail --------------------------------------------------------------------------------------


def test_email_through_postmark_threads_under_the_customers_mail(fake_providers, channels):
    sent = send(
        outgoing(
            channels["email"], "kim@example.com", subject="Re: Party on Saturday",
            headers={"In-Reply-To": "<abc@mail.example.com>",
                     "References": "<abc@mail.example.com>"},
        )
    )  # fmt: skip
    (request,) = fake_providers.of("postmark")
    payload = request.json
    assert payload["To"] == "kim@example.com"
    assert payload["From"] == "San Jose <sanjose@example.com>"
    assert payload["Subject"] == "Re: Party on Saturday"
    assert payload["TextBody"] == "Hello from San Jose"
    headers = {h["Name"]: h["Value"] for h in payload["Headers"]}
    assert headers["In-Reply-To"] == "<abc@mail.example.com>"
    assert headers["Message-ID"].startswith("<message-41.")
    assert headers["Message-ID"].endswith("@example.com>")
    assert len(sent.provider_message_id) == 36  # Postmark's MessageID (a UUID)


def test_email_refused_recipient_is_permanent_and_a_5xx_retryable(fake_providers, channels):
    fake_providers.plan(
        "postmark",
        postmark_error(
            406,
            "You tried to send to a recipient that has been marked as inactive.\n"
            "Found inactive addresses: kim@example.com.\n"
            "Inactive recipients are ones that have generated a hard bounce or a spam complaint.",
        ),
        Reply(500, {"ErrorCode": 500, "Message": "Internal Server Error"}),
    )
    with pytest.raises(ProviderError) as refused:
        send(outgoing(channels["email"], "kim@example.com"))
    assert (refused.value.permanent, refused.value.code) == (True, "recipient_refused")
    with pytest.raises(ProviderError) as broken:
        send(outgoing(channels["email"], "kim@example.com"))
    assert broken.value.permanent is False
    assert "kim@example.com" not in str(refused.value) + str(broken.value)


def test_email_without_a_postmark_token_uses_djangos_backend(channels, settings, mailoutbox):
    settings.POSTMARK_SERVER_TOKEN = ""
    sent = send(outgoing(channels["email"], "kim@example.com", subject="Hello"))
    (mail,) = mailoutbox
    assert mail.to == ["kim@example.com"]
    assert mail.from_email == "San Jose <sanjose@example.com>"
    assert mail.extra_headers["Message-ID"] == sent.provider_message_id
