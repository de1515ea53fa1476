"""POST /api/v1/webhooks/ringcentral, with RingCentral's documented instant message-store
notification (shared/samples/ringcentral_instant_sms.json): the Validation-Token handshake, the
Verification-Token check, inbound SMS and delivery statuses."""

import copy
import json
import time

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from inbox import credentials
from inbox.models import Channel, ChannelKind, Direction, Message, MessageStatus, Sender
from inbox.services import conversation_for
from testing.factories import CustomerFactory

URL = "/api/v1/webhooks/ringcentral"
TOKEN = "rc-verification-token-test"

INSTANT_SMS = {
    "uuid": "5c0b1a2e-0000-4000-8000-000000000001",
    "event": "/restapi/v1.0/account/~/extension/101/message-store/instant?type=SMS",
    "timestamp": "2026-11-25T18:00:00.000Z",
    "subscriptionId": "0b6e2f3a-0000-4000-8000-000000000002",
    "ownerId": "101",
    "body": {
        "id": "1234567890",
        "to": [{"phoneNumber": "+14085550101", "location": "San Jose, CA"}],
        "from": {"phoneNumber": "+14085557777", "location": "San Jose, CA"},
        "type": "SMS",
        "creationTime": "2026-11-25T18:00:00.000Z",
        "lastModifiedTime": "2026-11-25T18:00:00.000Z",
        "readStatus": "Unread",
        "priority": "Normal",
        "attachments": [{"id": "1234567890", "type": "Text", "contentType": "text/plain"}],
        "direction": "Inbound",
        "availability": "Alive",
        "subject": "Can we move our party to 6pm?",
        "messageStatus": "Received",
        "conversationId": "7181818181818181818",
    },
}


def outbound_status(status: str, message_id: str = "555000111") -> dict:
    payload = copy.deepcopy(INSTANT_SMS)
    payload["body"].update(
        id=message_id,
        direction="Outbound",
        messageStatus=status,
        to=[{"phoneNumber": "+14085557777"}],
        **{"from": {"phoneNumber": "+14085550101"}},
    )
    return payload


@pytest.fixture
def channel(san_jose, settings):
    settings.RINGCENTRAL_VERIFICATION_TOKEN = TOKEN
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_RINGCENTRAL, address="+14085550101"
    )


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def send(payload, *, token=TOKEN, raw=None, **headers):
        if token is not None:
            headers["HTTP_VERIFICATION_TOKEN"] = token
        body = raw if raw is not None else json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, body, content_type="application/json", **headers)

    return send


def test_the_validation_token_is_echoed_at_once_and_nothing_is_stored(client, channel):
    started = time.monotonic()
    response = client.post(
        URL, b"", content_type="application/json", HTTP_VALIDATION_TOKEN="d6f4a3b2-validation"
    )
    assert time.monotonic() - started < 1
    assert response.status_code == 200
    assert response["Validation-Token"] == "d6f4a3b2-validation"
    assert response.content == b""
    assert Message.objects.count() == 0


def test_an_inbound_sms_is_stored_for_the_number_it_was_sent_to(channel, post):
    response = post(INSTANT_SMS)
    assert response.status_code == 200
    message = Message.objects.get()
    assert (message.channel, message.direction, message.provider_message_id) == (
        channel,
        Direction.INBOUND,
        "1234567890",
    )
    assert message.body == "Can we move our party to 6pm?"
    assert message.identity.external_id == "+14085557777"
    assert message.processed_at is not None


def test_the_same_message_id_twice_is_one_message(channel, post):
    post(INSTANT_SMS)
    post(INSTANT_SMS)
    assert Message.objects.count() == 1


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_a_missing_or_wrong_verification_token_is_403_and_stores_nothing(channel, post, token):
    response = post(INSTANT_SMS, token=token)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_signature"
    assert Message.objects.count() == 0


def test_with_no_token_configured_nothing_is_accepted(channel, post, settings):
    settings.RINGCENTRAL_VERIFICATION_TOKEN = ""
    assert post(INSTANT_SMS, token="").status_code == 403
    assert post(INSTANT_SMS, token="anything").status_code == 403
    assert Message.objects.count() == 0


def test_the_channels_own_token_is_the_one_that_counts(channel, post):
    credentials.channel_set_credentials(channel=channel, values={"verification_token": "own"})
    assert post(INSTANT_SMS).status_code == 403
    assert post(INSTANT_SMS, token="own").status_code == 200
    assert Message.objects.count() == 1


def test_a_notification_is_routed_by_its_subscription_too(channel, post):
    Channel.objects.filter(pk=channel.pk).update(subscription_id=INSTANT_SMS["subscriptionId"])
    payload = copy.deepcopy(INSTANT_SMS)
    payload["body"]["to"] = [{"phoneNumber": "+14085550999"}]  # e.g. a forwarded number
    assert post(payload).status_code == 200
    assert Message.objects.get().channel == channel


def test_a_number_we_dont_serve_is_acknowledged_and_stores_nothing(channel, post):
    payload = copy.deepcopy(INSTANT_SMS)
    payload["body"]["to"] = [{"phoneNumber": "+14085550199"}]
    response = post(payload)
    assert (response.status_code, response.json()) == (200, {"received": True, "ignored": True})
    assert Message.objects.count() == 0


def test_other_events_are_acknowledged_and_ignored(channel, post):
    reminder = {
        "uuid": "1",
        "event": "/restapi/v1.0/subscription/~?threshold=86400&interval=3600",
        "subscriptionId": INSTANT_SMS["subscriptionId"],
        "body": {"id": INSTANT_SMS["subscriptionId"], "expiresIn": 86000},
    }
    assert post(reminder).json() == {"received": True, "ignored": True}
    fax = copy.deepcopy(INSTANT_SMS)
    fax["body"]["type"] = "Fax"
    assert post(fax).json()["ignored"]
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"event": "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"}',
        json.dumps({**INSTANT_SMS, "body": {**INSTANT_SMS["body"], "id": None}}).encode(),
        json.dumps({**INSTANT_SMS, "body": {**INSTANT_SMS["body"], "from": {}}}).encode(),
        b"\xff",
    ],
)
def test_a_verified_malformed_body_is_400_and_stores_nothing(channel, post, raw):
    response = post(None, raw=raw)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail", "fields"}
    assert Message.objects.count() == 0


def test_a_malformed_body_with_a_wrong_token_is_403(channel, post):
    assert post(None, raw=b"not json", token="wrong").status_code == 403


# --- Delivery statuses -----------------------------------------------------------------------


@pytest.fixture
def sent_sms(channel, san_jose):
    customer = CustomerFactory(station=san_jose, phone="+14085557777")
    return Message.objects.create(
        conversation=conversation_for(customer),
        channel=channel,
        direction=Direction.OUTBOUND,
        sender=Sender.USER,
        body="6pm works.",
        provider_message_id="555000111",
        status=MessageStatus.SENT,
        status_rank=2,
        created_at=timezone.now(),
    )


def test_delivered_then_a_late_sent_stays_delivered(sent_sms, post):
    assert post(outbound_status("Delivered")).status_code == 200
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED
    post(outbound_status("Sent"))
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED
    assert Message.objects.filter(direction=Direction.INBOUND).count() == 0


@pytest.mark.parametrize("status", ["DeliveryFailed", "SendingFailed"])
def test_failures_count_as_failed(sent_sms, post, status):
    post(outbound_status(status))
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.error) == (MessageStatus.FAILED, f"RingCentral {status}")


def test_a_status_with_a_wrong_token_changes_nothing(sent_sms, post):
    assert post(outbound_status("Delivered"), token="wrong").status_code == 403
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.SENT


# --- Junk, verified --------------------------------------------------------------------------

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event",
                    "body",
                    "id",
                    "to",
                    "from",
                    "phoneNumber",
                    "direction",
                    "type",
                    "subject",
                    "messageStatus",
                    "subscriptionId",
                    "creationTime",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=junk, sms_event=st.booleans())
def test_verified_junk_is_never_a_500(channel, post, payload, sms_event):
    if sms_event and isinstance(payload, dict):
        payload["event"] = INSTANT_SMS["event"]
    before = Message.objects.count()
    response = post(payload)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert Message.objects.count() == before


def test_stop_by_ringcentral_opts_the_number_out_with_one_confirmation(channel, post):
    from inbox.models import ContactIdentity

    stop = copy.deepcopy(INSTANT_SMS)
    stop["body"]["subject"] = " stop "
    assert post(stop).status_code == 200
    assert post(stop).status_code == 200  # RingCentral's retry of the same message
    again = copy.deepcopy(stop)
    again["body"]["id"] = "1234567891"  # and a second STOP
    assert post(again).status_code == 200

    identity = ContactIdentity.objects.get(external_id="+14085557777")
    assert identity.opted_out
    assert not identity.customer.sms_opt_in
    confirmations = Message.objects.filter(direction=Direction.OUTBOUND, opt_out_confirmation=True)
    assert confirmations.count() == 1
    assert confirmations.get().channel == channel


def test_an_sms_delivered_by_another_stations_subscription_is_stored_for_its_numbers_station(
    channel, post, sacramento
):
    """Stations sharing the environment's RingCentral app subscribe to the same extension, so
    each SMS comes once per subscription: it belongs to the station of the number it was sent
    to, never to the station whose subscription happened to deliver it."""
    Channel.objects.filter(pk=channel.pk).update(subscription_id="sub-san-jose")
    theirs = Channel.objects.create(
        station=sacramento,
        kind=ChannelKind.SMS_RINGCENTRAL,
        address="+19165550101",
        subscription_id="sub-sacramento",
    )
    for subscription in ("sub-sacramento", "sub-san-jose"):
        payload = copy.deepcopy(INSTANT_SMS)  # to San Jose's +14085550101
        payload["subscriptionId"] = subscription
        assert post(payload).status_code == 200

    assert Message.objects.filter(channel=theirs).count() == 0
    assert Message.objects.filter(channel=channel).count() == 1


def test_a_subscription_of_another_app_does_not_store_for_a_channel_it_cannot_verify(
    channel, post, sacramento
):
    """Sacramento's channel has its own app and token; a notification verified by its token
    about San Jose's number (whose token is the environment's) stores nothing."""
    theirs = Channel.objects.create(
        station=sacramento,
        kind=ChannelKind.SMS_RINGCENTRAL,
        address="+19165550101",
        subscription_id="sub-sacramento",
    )
    credentials.channel_set_credentials(channel=theirs, values={"verification_token": "sac-own"})
    payload = copy.deepcopy(INSTANT_SMS)
    payload["subscriptionId"] = "sub-sacramento"
    response = post(payload, token="sac-own")
    assert response.status_code == 200
    assert Message.objects.count() == 0
    assert post(payload, token=TOKEN).status_code == 403  # not the subscription's token
