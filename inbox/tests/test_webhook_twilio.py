"""POST /api/v1/webhooks/twilio (inbound SMS) and /twilio/status (delivery callbacks), with
Twilio's documented form payloads (shared/samples/twilio_*.form) signed the way Twilio signs:
HMAC-SHA1 of the public URL followed by the sorted parameters, base64 (written out here, not
with twilio's validator, so a mistake in its use can't hide)."""

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from inbox import credentials
from inbox.models import Channel, ChannelKind, Direction, Message, MessageStatus, Sender
from inbox.services import conversation_for
from testing.factories import CustomerFactory

URL = "/api/v1/webhooks/twilio"
STATUS_URL = "/api/v1/webhooks/twilio/status"
TOKEN = "twilio-auth-token-test"

# shared/samples/twilio_inbound_sms.form
INBOUND = {
    "ToCountry": "US",
    "ToState": "CA",
    "SmsMessageSid": "SM0123456789abcdef0123456789abcdef",
    "NumMedia": "0",
    "ToCity": "SAN JOSE",
    "FromZip": "95112",
    "SmsSid": "SM0123456789abcdef0123456789abcdef",
    "FromState": "CA",
    "SmsStatus": "received",
    "FromCity": "SAN JOSE",
    "Body": "Hi! Do you have a chef free on Dec 12 for 15 people?",
    "FromCountry": "US",
    "To": "+14085550100",
    "ToZip": "95113",
    "NumSegments": "1",
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC00000000000000000000000000000000",
    "From": "+14085557777",
    "ApiVersion": "2010-04-01",
}
# shared/samples/twilio_status_callback.form
STATUS = {
    "MessageSid": "SMfedcba9876543210fedcba9876543210",
    "SmsSid": "SMfedcba9876543210fedcba9876543210",
    "MessageStatus": "delivered",
    "SmsStatus": "delivered",
    "To": "+14085557777",
    "From": "+14085550100",
    "AccountSid": "AC00000000000000000000000000000000",
    "ApiVersion": "2010-04-01",
}


def twilio_signature(url: str, params: dict, token: str = TOKEN) -> str:
    signed = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@pytest.fixture
def channel(san_jose, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


@pytest.fixture
def post(client, settings, django_capture_on_commit_callbacks):
    def send(params, *, path=URL, query="", token=TOKEN, signature=None, base=None, **headers):
        full = path + (f"?{query}" if query else "")
        if signature is None:
            signature = twilio_signature((base or settings.PUBLIC_BASE_URL) + full, params, token)
        if signature:
            headers["HTTP_X_TWILIO_SIGNATURE"] = signature
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                full, urlencode(params), content_type="application/x-www-form-urlencoded", **headers
            )

    return send


def test_a_signed_inbound_sms_is_stored_in_the_senders_thread_and_answered_with_empty_twiml(
    channel, post
):
    response = post(INBOUND)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response/>")
    message = Message.objects.get()
    assert (message.channel, message.direction, message.sender) == (
        channel,
        Direction.INBOUND,
        Sender.CUSTOMER,
    )
    assert message.provider_message_id == "SM0123456789abcdef0123456789abcdef"
    assert message.body == INBOUND["Body"]
    assert message.identity.external_id == "+14085557777"
    assert message.identity.customer.phone == "+14085557777"
    assert message.processed_at is not None  # the inbound task ran on commit (eager Celery)
    assert message.conversation.unread


def test_the_url_signed_is_the_public_one_behind_a_tls_proxy(channel, post, settings):
    settings.PUBLIC_BASE_URL = "https://hibachi.example.com"
    # The request reaches Django over plain HTTP from the proxy; Twilio signed the https URL.
    assert post(INBOUND).status_code == 200
    assert Message.objects.count() == 1


def test_a_signature_over_the_internal_url_is_refused(channel, post, settings):
    settings.PUBLIC_BASE_URL = "https://hibachi.example.com"
    response = post(INBOUND, base="http://testserver")
    assert response.status_code == 403
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "signature",
    ["", "not-base64!", base64.b64encode(b"x" * 20).decode()],
    ids=["missing", "garbage", "wrong"],
)
def test_a_bad_signature_stores_nothing_and_queues_nothing(channel, post, signature):
    response = post(INBOUND, signature=signature)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_signature"
    assert Message.objects.count() == 0


def test_a_signature_with_another_token_is_refused(channel, post):
    assert post(INBOUND, token="someone-elses-token").status_code == 403
    assert Message.objects.count() == 0


def test_a_tampered_body_is_refused(channel, post, client, settings):
    signature = twilio_signature(settings.PUBLIC_BASE_URL + URL, INBOUND)
    response = post({**INBOUND, "Body": "changed"}, signature=signature)
    assert response.status_code == 403
    assert Message.objects.count() == 0


def test_the_channels_own_token_is_the_one_that_counts(channel, post, settings):
    credentials.channel_set_credentials(
        channel=channel, values={"account_sid": "AC1", "auth_token": "channel-own-token"}
    )
    assert post(INBOUND).status_code == 403  # the environment's token no longer signs for it
    assert post(INBOUND, token="channel-own-token").status_code == 200
    assert Message.objects.count() == 1


def test_a_channel_without_any_token_refuses_everything(channel, post, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    assert post(INBOUND, token="").status_code == 403
    assert post(INBOUND, token="anything").status_code == 403
    assert Message.objects.count() == 0


def test_a_number_we_dont_serve_is_acknowledged_and_stores_nothing(channel, post):
    response = post({**INBOUND, "To": "+14085550199"})
    assert response.status_code == 200
    assert response.content.decode().endswith("<Response/>")
    assert Message.objects.count() == 0


def test_an_inactive_channel_stores_nothing(channel, post):
    Channel.objects.filter(pk=channel.pk).update(active=False)
    assert post(INBOUND).status_code == 200
    assert Message.objects.count() == 0


def test_the_same_message_sid_twice_is_one_message(channel, post):
    assert post(INBOUND).status_code == 200
    assert post(INBOUND).status_code == 200
    assert Message.objects.count() == 1


def test_stop_opts_the_number_out(channel, post):
    post({**INBOUND, "Body": "stop"})
    message = Message.objects.get(direction=Direction.INBOUND)
    message.identity.refresh_from_db()
    assert message.identity.opted_out


def test_a_verified_body_without_a_sender_number_is_400_and_stores_nothing(channel, post):
    params = {k: v for k, v in INBOUND.items() if k != "From"}
    response = post(params)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail", "fields"}
    assert Message.objects.count() == 0


def test_a_verified_body_without_a_message_sid_is_400(channel, post):
    params = {k: v for k, v in INBOUND.items() if k not in ("MessageSid", "SmsSid")}
    assert post(params).status_code == 400
    assert Message.objects.count() == 0


def test_get_is_405(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


# --- Delivery statuses -----------------------------------------------------------------------


@pytest.fixture
def outbound(channel, san_jose):
    customer = CustomerFactory(station=san_jose, phone="+14085557777")
    return Message.objects.create(
        conversation=conversation_for(customer),
        channel=channel,
        direction=Direction.OUTBOUND,
        sender=Sender.USER,
        body="See you on the 12th!",
        provider_message_id=STATUS["MessageSid"],
        status=MessageStatus.SENT,
        status_rank=2,
        created_at=timezone.now(),
    )


def test_delivered_then_a_late_sent_stays_delivered(outbound, post):
    assert post(STATUS, path=STATUS_URL).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.DELIVERED
    late = {**STATUS, "MessageStatus": "sent", "SmsStatus": "sent"}
    assert post(late, path=STATUS_URL).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.DELIVERED


def test_the_same_status_twice_changes_nothing_the_second_time(outbound, post):
    post(STATUS, path=STATUS_URL)
    outbound.refresh_from_db()
    first_at = outbound.status_at
    post(STATUS, path=STATUS_URL)
    outbound.refresh_from_db()
    assert (outbound.status, outbound.status_at) == (MessageStatus.DELIVERED, first_at)


def test_undelivered_counts_as_failed_with_the_error_code(outbound, post):
    params = {**STATUS, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert post(params, path=STATUS_URL).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.FAILED
    assert outbound.error == "Twilio error 30003"


def test_a_status_callback_on_the_main_url_is_told_apart(outbound, post):
    assert post(STATUS).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.DELIVERED
    assert Message.objects.filter(direction=Direction.INBOUND).count() == 0


def test_our_message_id_on_the_callback_url_finds_a_send_that_was_never_recorded(outbound, post):
    Message.objects.filter(pk=outbound.pk).update(
        provider_message_id="", status=MessageStatus.UNKNOWN, status_rank=1
    )
    response = post(STATUS, path=STATUS_URL, query=f"m={outbound.pk}")
    assert response.status_code == 200
    outbound.refresh_from_db()
    assert (outbound.status, outbound.provider_message_id) == (
        MessageStatus.DELIVERED,
        STATUS["MessageSid"],
    )


@pytest.mark.parametrize("query", ["m=abc", "m=-3", "m=0", "m="])
def test_a_query_that_is_not_our_id_is_ignored(outbound, post, query):
    Message.objects.filter(pk=outbound.pk).update(provider_message_id="", status_rank=1)
    assert post(STATUS, path=STATUS_URL, query=query).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status_rank == 1


def test_a_status_callback_signed_without_the_query_string_is_refused(outbound, post, settings):
    signature = twilio_signature(settings.PUBLIC_BASE_URL + STATUS_URL, STATUS)
    response = post(STATUS, path=STATUS_URL, query=f"m={outbound.pk}", signature=signature)
    assert response.status_code == 403
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.SENT


def test_a_bad_signature_on_a_status_changes_nothing(outbound, post):
    assert post(STATUS, path=STATUS_URL, token="wrong").status_code == 403
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.SENT


@pytest.mark.parametrize("status", ["queued", "accepted", "sending", "canceled", "weird"])
def test_statuses_that_add_nothing_are_acknowledged(outbound, post, status):
    assert post({**STATUS, "MessageStatus": status}, path=STATUS_URL).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.SENT


# --- Junk, signed ----------------------------------------------------------------------------

printable = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(st.sampled_from([*INBOUND, "MessageStatus", "X"]), printable))
def test_signed_junk_is_never_a_500_and_stores_nothing_unless_it_is_a_message(
    channel, post, params
):
    before = Message.objects.count()
    response = post(params)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert Message.objects.count() == before


def test_a_signed_status_with_a_nul_in_the_error_code_is_stored_without_it(outbound, post):
    # PostgreSQL text holds no NUL: the error text must be cleaned, not answered with a 500.
    params = {**STATUS, "MessageStatus": "undelivered", "ErrorCode": "300\x0005"}
    assert post(params, path=STATUS_URL).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.FAILED
    assert outbound.error == "Twilio error 30005"


def test_an_inbound_sms_is_stored_in_the_ledger_and_threaded_once_the_drain_runs(
    channel, client, settings, django_capture_on_commit_callbacks
):
    from inbox.models import InboundEvent

    signature = twilio_signature(settings.PUBLIC_BASE_URL + URL, INBOUND)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            URL,
            urlencode(INBOUND),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=signature,
        )
    assert response.status_code == 200
    assert InboundEvent.objects.filter(channel=channel, processed_at__isnull=True).count() == 1
    assert not Message.objects.exists()
    for callback in callbacks:  # the drain (eager Celery)
        callback()
    assert Message.objects.get().provider_message_id == INBOUND["MessageSid"]
    assert InboundEvent.objects.get().processed_at is not None
