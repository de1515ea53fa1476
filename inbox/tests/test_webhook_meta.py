"""GET, POST /api/v1/webhooks/meta: WhatsApp Cloud API, Messenger and Instagram, with Meta's
documented payloads (shared/samples/meta_*.json) signed as Meta signs them: X-Hub-Signature-256
= "sha256=" + hex HMAC-SHA256 of the raw body with the app secret."""

import copy
import hashlib
import hmac
import json

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from inbox import credentials
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Direction,
    Message,
    MessageStatus,
    Sender,
)
from inbox.services import conversation_for
from testing.factories import CustomerFactory

URL = "/api/v1/webhooks/meta"
APP_SECRET = "meta-app-secret-test"
WAMID = "wamid.HBgLMTQwODU1NTg4ODgVAgASGBQzQUVCNTQ2RTNBMUM0RkYxQjk1MwA="
VERIFY_TOKEN = "meta-verify-token-test"

WHATSAPP_INBOUND = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "14085550102",
                            "phone_number_id": "100000000000001",
                        },
                        "contacts": [
                            {"profile": {"name": "Wanda Customer"}, "wa_id": "14085558888"}
                        ],
                        "messages": [
                            {
                                "from": "14085558888",
                                "id": WAMID,
                                "timestamp": "1764093600",
                                "type": "text",
                                "text": {"body": "Hello! What's included in the hibachi package?"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
WHATSAPP_STATUS = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "14085550102",
                            "phone_number_id": "100000000000001",
                        },
                        "statuses": [
                            {
                                "id": "wamid.HBgLMTQwODU1NTg4ODgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
                                "status": "delivered",
                                "timestamp": "1764093660",
                                "recipient_id": "14085558888",
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
MESSENGER_INBOUND = {
    "object": "page",
    "entry": [
        {
            "id": "105000000000001",
            "time": 1764093600000,
            "messaging": [
                {
                    "sender": {"id": "6000000000000001"},
                    "recipient": {"id": "105000000000001"},
                    "timestamp": 1764093600000,
                    "message": {"mid": "m_AbCdEf0123456789", "text": "Do you travel to Gilroy?"},
                }
            ],
        }
    ],
}


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


@pytest.fixture
def meta_settings(settings, db):
    settings.META_APP_SECRET = APP_SECRET
    settings.META_VERIFY_TOKEN = VERIFY_TOKEN


@pytest.fixture
def whatsapp(san_jose, meta_settings):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.WHATSAPP, address="100000000000001"
    )


@pytest.fixture
def messenger(san_jose, meta_settings):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.MESSENGER, address="105000000000001"
    )


@pytest.fixture
def instagram(sacramento, meta_settings):
    return Channel.objects.create(
        station=sacramento, kind=ChannelKind.INSTAGRAM, address="17841400000000001"
    )


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def send(payload, *, secret=APP_SECRET, signature=None, raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {}
        signature = sign(body, secret) if signature is None else signature
        if signature:
            headers["HTTP_X_HUB_SIGNATURE_256"] = signature
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, body, content_type="application/json", **headers)

    return send


# --- GET: the subscription check -------------------------------------------------------------


def test_the_verify_token_gets_the_challenge_back_as_text(client, meta_settings):
    response = client.get(
        URL,
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ],
    ids=["wrong", "missing", "mode", "nothing"],
)
def test_a_wrong_verify_token_is_403(client, meta_settings, params):
    response = client.get(URL, params)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_signature"


def test_with_no_verify_token_configured_nothing_verifies(client, settings, db):
    settings.META_VERIFY_TOKEN = ""
    response = client.get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    )
    assert response.status_code == 403


def test_a_channels_own_verify_token_verifies(client, whatsapp):
    credentials.channel_set_credentials(channel=whatsapp, values={"verify_token": "own-verify"})
    params = {"hub.mode": "subscribe", "hub.verify_token": "own-verify", "hub.challenge": "7"}
    assert client.get(URL, params).content == b"7"


# --- POST: WhatsApp --------------------------------------------------------------------------


def test_a_whatsapp_text_is_stored_for_the_phone_number_id_with_name_and_phone(whatsapp, post):
    response = post(WHATSAPP_INBOUND)
    assert response.status_code == 200
    message = Message.objects.get()
    assert (message.channel, message.direction) == (whatsapp, Direction.INBOUND)
    assert message.body == "Hello! What's included in the hibachi package?"
    assert message.provider_message_id.startswith("wamid.HBgL")
    identity = message.identity
    assert (identity.kind, identity.external_id, identity.phone) == (
        "whatsapp",
        "14085558888",
        "+14085558888",
    )
    assert identity.customer.name == "Wanda Customer"
    assert identity.customer.phone == "+14085558888"
    assert message.created_at.timestamp() == 1764093600


def test_a_whatsapp_user_without_a_phone_is_known_by_the_business_scoped_id(whatsapp, post):
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [
        {"profile": {"name": "Private Person"}, "user_id": "US.13491208655302741918"}
    ]
    value["messages"][0]["from"] = "US.13491208655302741918"
    assert post(payload).status_code == 200
    identity = ContactIdentity.objects.get()
    assert (identity.external_id, identity.phone) == ("US.13491208655302741918", "")
    assert identity.customer.name == "Private Person"


def test_a_whatsapp_customer_known_by_phone_joins_their_thread(whatsapp, post, san_jose):
    customer = CustomerFactory(station=san_jose, phone="+14085558888")
    post(WHATSAPP_INBOUND)
    assert Message.objects.get().identity.customer == customer


@pytest.mark.parametrize(
    ("message", "body"),
    [
        ({"type": "image", "image": {"id": "1", "mime_type": "image/jpeg"}}, "[image]"),
        ({"type": "image", "image": {"id": "1", "caption": "our patio"}}, "[image] our patio"),
        (
            {"type": "document", "document": {"id": "1", "filename": "menu.pdf"}},
            "[document] menu.pdf",
        ),
        ({"type": "location", "location": {"latitude": 37.3, "longitude": -121.9}}, "[location]"),
        ({"type": "button", "button": {"text": "Yes, book it", "payload": "x"}}, "Yes, book it"),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "a", "title": "6 pm"},
                },
            },
            "6 pm",
        ),
        ({"type": "unsupported"}, "[unsupported]"),
    ],
)
def test_other_whatsapp_types_get_a_readable_placeholder(whatsapp, post, message, body):
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    original = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    payload["entry"][0]["changes"][0]["value"]["messages"][0] = {
        "from": original["from"],
        "id": original["id"],
        "timestamp": original["timestamp"],
        **message,
    }
    assert post(payload).status_code == 200
    assert Message.objects.get().body == body


def test_the_same_wamid_twice_is_one_message(whatsapp, post):
    assert post(WHATSAPP_INBOUND).status_code == 200
    assert post(WHATSAPP_INBOUND).status_code == 200
    assert Message.objects.count() == 1


def test_many_entries_and_changes_in_one_post_are_each_stored(whatsapp, post):
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    second_change = copy.deepcopy(payload["entry"][0]["changes"][0])
    second_change["value"]["messages"][0]["id"] = "wamid.second"
    second_entry = copy.deepcopy(payload["entry"][0])
    second_entry["changes"][0]["value"]["messages"][0]["id"] = "wamid.third"
    payload["entry"][0]["changes"].append(second_change)
    payload["entry"].append(second_entry)
    assert post(payload).json() == {"received": True, "handled": 3}
    assert Message.objects.count() == 3
    assert post(payload).status_code == 200  # Meta's retry: nothing new
    assert Message.objects.count() == 3


def test_a_phone_number_id_we_dont_serve_is_acknowledged_and_stores_nothing(whatsapp, post):
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    response = post(payload)
    assert (response.status_code, response.json()["handled"]) == (200, 0)
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=", "sha256=" + "0" * 64, "sha1=abc", "garbage"],
    ids=["missing", "empty", "wrong", "sha1", "garbage"],
)
def test_a_bad_signature_is_403_and_stores_nothing(whatsapp, post, signature):
    response = post(WHATSAPP_INBOUND, signature=signature)
    assert response.status_code == 403
    assert Message.objects.count() == 0


def test_a_signature_with_another_secret_is_403(whatsapp, post):
    assert post(WHATSAPP_INBOUND, secret="someone-else").status_code == 403
    assert Message.objects.count() == 0


def test_the_signature_is_over_the_raw_bytes(whatsapp, post):
    raw = json.dumps(WHATSAPP_INBOUND, indent=2).encode()  # same JSON, other bytes
    compact_signature = sign(json.dumps(WHATSAPP_INBOUND).encode())
    assert post(None, raw=raw, signature=compact_signature).status_code == 403
    assert post(None, raw=raw).status_code == 200


def test_with_no_app_secret_configured_nothing_verifies(whatsapp, post, settings):
    settings.META_APP_SECRET = ""
    assert post(WHATSAPP_INBOUND, secret="").status_code == 403
    assert Message.objects.count() == 0


def test_a_channel_with_its_own_app_secret_takes_only_its_own_signature(whatsapp, post):
    credentials.channel_set_credentials(channel=whatsapp, values={"app_secret": "own-secret"})
    assert post(WHATSAPP_INBOUND).json()["handled"] == 0  # signed by the environment's app
    assert Message.objects.count() == 0
    assert post(WHATSAPP_INBOUND, secret="own-secret").json()["handled"] == 1
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'{"object": "whatsapp_business_account"}', b"\xff\xfe", b"[" * 5000],
)
def test_a_signed_malformed_body_is_400_and_stores_nothing(whatsapp, post, raw):
    response = post(None, raw=raw)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail", "fields"}
    assert Message.objects.count() == 0


def test_one_malformed_message_stores_none_of_the_post(whatsapp, post):
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    broken = copy.deepcopy(payload["entry"][0])
    del broken["changes"][0]["value"]["messages"][0]["id"]
    payload["entry"].append(broken)
    assert post(payload).status_code == 400
    assert Message.objects.count() == 0


def test_an_object_we_dont_handle_is_acknowledged(post, meta_settings):
    response = post({"object": "user", "entry": [{"id": "1", "changes": []}]})
    assert response.status_code == 200
    assert Message.objects.count() == 0


def test_other_change_fields_are_ignored(whatsapp, post):
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    payload["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    assert post(payload).json()["handled"] == 0


# --- POST: WhatsApp statuses -----------------------------------------------------------------


@pytest.fixture
def sent_whatsapp(whatsapp, san_jose):
    customer = CustomerFactory(station=san_jose, phone="+14085558888")
    return Message.objects.create(
        conversation=conversation_for(customer),
        channel=whatsapp,
        direction=Direction.OUTBOUND,
        sender=Sender.USER,
        body="Our package includes fried rice.",
        provider_message_id="wamid.HBgLMTQwODU1NTg4ODgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
        status=MessageStatus.SENT,
        status_rank=2,
        created_at=timezone.now(),
    )


def status_payload(status: str, **extra) -> dict:
    payload = copy.deepcopy(WHATSAPP_STATUS)
    payload["entry"][0]["changes"][0]["value"]["statuses"][0].update(status=status, **extra)
    return payload


def test_delivered_then_a_late_sent_stays_delivered(sent_whatsapp, post):
    assert post(WHATSAPP_STATUS).status_code == 200
    sent_whatsapp.refresh_from_db()
    assert sent_whatsapp.status == MessageStatus.DELIVERED
    post(status_payload("sent"))
    sent_whatsapp.refresh_from_db()
    assert sent_whatsapp.status == MessageStatus.DELIVERED
    post(status_payload("read"))
    sent_whatsapp.refresh_from_db()
    assert sent_whatsapp.status == MessageStatus.READ


def test_a_failed_status_records_metas_error_code(sent_whatsapp, post):
    post(status_payload("failed", errors=[{"code": 131047, "title": "Re-engagement message"}]))
    sent_whatsapp.refresh_from_db()
    assert (sent_whatsapp.status, sent_whatsapp.error) == (
        MessageStatus.FAILED,
        "WhatsApp error 131047",
    )


def test_biz_opaque_callback_data_finds_a_send_that_was_never_recorded(sent_whatsapp, post):
    Message.objects.filter(pk=sent_whatsapp.pk).update(
        provider_message_id="", status=MessageStatus.UNKNOWN, status_rank=1
    )
    post(status_payload("delivered", biz_opaque_callback_data=str(sent_whatsapp.pk)))
    sent_whatsapp.refresh_from_db()
    assert sent_whatsapp.status == MessageStatus.DELIVERED
    assert sent_whatsapp.provider_message_id.startswith("wamid.")


def test_a_bad_signature_on_a_status_changes_nothing(sent_whatsapp, post):
    assert post(WHATSAPP_STATUS, secret="wrong").status_code == 403
    sent_whatsapp.refresh_from_db()
    assert sent_whatsapp.status == MessageStatus.SENT


# --- POST: Messenger and Instagram -----------------------------------------------------------


def test_a_messenger_message_is_stored_for_the_page_by_psid(messenger, post):
    assert post(MESSENGER_INBOUND).status_code == 200
    message = Message.objects.get()
    assert message.channel == messenger
    assert message.body == "Do you travel to Gilroy?"
    assert message.provider_message_id == "m_AbCdEf0123456789"
    assert (message.identity.kind, message.identity.external_id) == (
        "messenger",
        "6000000000000001",
    )
    assert message.created_at.timestamp() == 1764093600


def test_an_instagram_message_goes_to_the_instagram_channel(instagram, messenger, post):
    payload = copy.deepcopy(MESSENGER_INBOUND)
    payload["object"] = "instagram"
    payload["entry"][0]["id"] = payload["entry"][0]["messaging"][0]["recipient"]["id"] = (
        "17841400000000001"
    )
    assert post(payload).status_code == 200
    message = Message.objects.get()
    assert message.channel == instagram
    assert message.conversation.station == instagram.station
    assert message.identity.kind == "instagram"


def test_echoes_and_non_message_events_are_skipped(messenger, post):
    payload = copy.deepcopy(MESSENGER_INBOUND)
    event = payload["entry"][0]["messaging"][0]
    echo = copy.deepcopy(event)
    echo["message"] = {"mid": "m_echo", "text": "our own reply", "is_echo": True}
    read = {k: v for k, v in event.items() if k != "message"} | {"read": {"watermark": 1}}
    postback = {k: v for k, v in event.items() if k != "message"} | {
        "postback": {"title": "Get started", "payload": "START"}
    }
    payload["entry"][0]["messaging"] = [echo, read, postback]
    assert post(payload).json()["handled"] == 0
    assert Message.objects.count() == 0


def test_a_messenger_attachment_gets_a_placeholder(messenger, post):
    payload = copy.deepcopy(MESSENGER_INBOUND)
    payload["entry"][0]["messaging"][0]["message"] = {
        "mid": "m_photo",
        "attachments": [{"type": "image", "payload": {"url": "https://example.com/x.jpg"}}],
    }
    post(payload)
    assert Message.objects.get().body == "[image]"


def test_the_same_mid_twice_is_one_message(messenger, post):
    post(MESSENGER_INBOUND)
    post(MESSENGER_INBOUND)
    assert Message.objects.count() == 1


def test_a_messenger_delivery_receipt_marks_ours_delivered_never_back(messenger, post, san_jose):
    customer = CustomerFactory(station=san_jose)
    ours = Message.objects.create(
        conversation=conversation_for(customer),
        channel=messenger,
        direction=Direction.OUTBOUND,
        sender=Sender.USER,
        body="Yes, we do!",
        provider_message_id="m_ours",
        status=MessageStatus.READ,
        status_rank=4,
        created_at=timezone.now(),
    )
    receipt = copy.deepcopy(MESSENGER_INBOUND)
    event = receipt["entry"][0]["messaging"][0]
    del event["message"]
    # Meta's documented message_deliveries event: sender is the person (PSID), recipient the
    # page, as for a message.
    event["delivery"] = {"mids": ["m_ours"], "watermark": 1764093600000}
    assert post(receipt).status_code == 200
    ours.refresh_from_db()
    assert ours.status == MessageStatus.READ  # read already: delivered does not move it back
    Message.objects.filter(pk=ours.pk).update(status=MessageStatus.SENT, status_rank=2)
    post(receipt)
    ours.refresh_from_db()
    assert ours.status == MessageStatus.DELIVERED


def test_a_messenger_bad_signature_stores_nothing(messenger, post):
    assert post(MESSENGER_INBOUND, signature="sha256=" + "f" * 64).status_code == 403
    assert Message.objects.count() == 0


def test_put_is_405(client):
    assert client.put(URL).status_code == 405


# --- Junk, signed ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "object",
                    "entry",
                    "changes",
                    "value",
                    "messages",
                    "statuses",
                    "metadata",
                    "id",
                    "from",
                    "type",
                    "text",
                    "body",
                    "messaging",
                    "sender",
                    "recipient",
                    "message",
                    "mid",
                    "phone_number_id",
                    "field",
                    "contacts",
                    "timestamp",
                    "delivery",
                    "mids",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=json_values,
    obj=st.sampled_from(["whatsapp_business_account", "page", "instagram", None]),
)
def test_signed_junk_is_never_a_500(whatsapp, messenger, post, payload, obj):
    if obj is not None and isinstance(payload, dict):
        payload["object"] = obj
    before = Message.objects.count()
    response = post(payload)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert Message.objects.count() == before


@pytest.mark.parametrize(
    "message",
    [
        {"type": "image", "image": {"id": "1", "caption": "our\x00party"}},
        {"type": "document", "document": {"id": "1", "filename": "menu\x00.pdf"}},
        {"type": "button", "button": {"text": "Yes\x00please", "payload": "y"}},
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "1", "title": "A\x00"}},
        },
        {"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "\x00"}},
    ],
)
def test_a_nul_in_a_non_text_whatsapp_message_is_dropped_not_a_500(whatsapp, post, message):
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    original = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    payload["entry"][0]["changes"][0]["value"]["messages"][0] = {
        **{k: original[k] for k in ("from", "id", "timestamp")},
        **message,
    }
    assert post(payload).status_code == 200
    assert "\x00" not in Message.objects.get().body


def test_a_nul_in_a_whatsapp_status_error_code_is_dropped_not_a_500(whatsapp, post, san_jose):
    customer = CustomerFactory(station=san_jose)
    ours = Message.objects.create(
        conversation=conversation_for(customer),
        channel=whatsapp,
        direction=Direction.OUTBOUND,
        sender=Sender.USER,
        body="Hi",
        provider_message_id="wamid.ours",
        status=MessageStatus.SENT,
        status_rank=2,
        created_at=timezone.now(),
    )
    payload = copy.deepcopy(WHATSAPP_STATUS)
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(id="wamid.ours", status="failed", errors=[{"code": "131\x00026"}])
    assert post(payload).status_code == 200
    ours.refresh_from_db()
    assert (ours.status, ours.error) == (MessageStatus.FAILED, "WhatsApp error 131026")


def test_a_post_signed_by_one_stations_app_stores_nothing_for_another_stations_channel(
    whatsapp, post, sacramento
):
    """San Jose's own app secret signs a batch that also names Sacramento's phone-number id
    (whose channel uses the environment's app): only San Jose's message is stored; and the
    environment's signature does not reach San Jose's channel."""
    credentials.channel_set_credentials(channel=whatsapp, values={"app_secret": "sj-own-secret"})
    theirs = Channel.objects.create(
        station=sacramento, kind=ChannelKind.WHATSAPP, address="100000000000009"
    )
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    other = copy.deepcopy(payload["entry"][0])
    value = other["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = "100000000000009"
    value["messages"][0]["id"] = "wamid.for-sacramento"
    payload["entry"].append(other)

    assert post(payload, secret="sj-own-secret").json()["handled"] == 1
    assert list(Message.objects.values_list("channel", flat=True)) == [whatsapp.pk]
    assert post(payload).json()["handled"] == 1  # the environment's app: Sacramento's only
    assert Message.objects.filter(channel=theirs).count() == 1
    assert Message.objects.filter(channel=whatsapp).count() == 1
