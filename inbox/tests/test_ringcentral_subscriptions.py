# ruff: noqa: F811 (the fake_ringcentral fixture is imported)
"""RingCentral over HTTP against a local fake RingCentral (testing/fake_ringcentral.py): the JWT
login and its cached token, webhook subscriptions kept alive by subscriptions_renew (created,
renewed before expiry, a blacklisted one recorded, reported on /api/v1/health and replaced),
and sending an SMS with errors mapped to permanent or retryable."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import credentials, subscriptions
from inbox.models import Channel, ChannelKind, SubscriptionState
from inbox.providers import ringcentral
from inbox.providers.base import Outgoing, ProviderError
from inbox.tasks import renew_ringcentral_subscriptions
from testing.fake_ringcentral import VERIFICATION_TOKEN, fake_ringcentral  # noqa: F401

HEALTH = "/api/v1/health"


@pytest.fixture
def channel(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_RINGCENTRAL, address="+14085550101"
    )


def reload(channel: Channel) -> Channel:
    channel.refresh_from_db()
    return channel


# --- Subscriptions ---------------------------------------------------------------------------


def test_a_channel_without_a_subscription_gets_one_for_our_webhook(
    channel, fake_ringcentral, settings
):
    settings.PUBLIC_BASE_URL = "https://hibachi.example.com"
    assert renew_ringcentral_subscriptions() == 1
    channel = reload(channel)
    record = fake_ringcentral.subscriptions[channel.subscription_id]
    assert record["deliveryMode"] == {
        "transportType": "WebHook",
        "encryption": False,
        "address": "https://hibachi.example.com/api/v1/webhooks/ringcentral",
    }
    assert record["verificationToken"] == VERIFICATION_TOKEN
    assert record["eventFilters"] == [ringcentral.SMS_EVENT_FILTER]
    assert channel.subscription_state == SubscriptionState.ACTIVE
    assert channel.subscription_expires_at > timezone.now() + timedelta(days=6)
    assert channel.subscription_error == ""


def test_the_login_is_a_jwt_grant_and_its_token_is_reused(channel, fake_ringcentral):
    subscriptions.subscriptions_renew()
    subscriptions.subscriptions_renew()
    logins = fake_ringcentral.calls("POST", "/restapi/oauth/token")
    assert len(logins) == 1
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in logins[0]["body"]
    assert logins[0]["authorization"].startswith("Basic ")
    api_calls = fake_ringcentral.calls("GET", "/restapi/v1.0/subscription/")
    assert api_calls
    assert all(c["authorization"].startswith("Bearer rc-at-") for c in api_calls)


def test_a_subscription_far_from_expiry_is_only_checked(channel, fake_ringcentral):
    sub_id = fake_ringcentral.add_subscription()
    Channel.objects.filter(pk=channel.pk).update(subscription_id=sub_id)
    assert subscriptions.subscriptions_renew() == 0
    assert fake_ringcentral.calls("POST", f"/restapi/v1.0/subscription/{sub_id}/renew") == []
    assert reload(channel).subscription_state == SubscriptionState.ACTIVE


def test_a_subscription_expiring_within_the_window_is_renewed(channel, fake_ringcentral, settings):
    settings.RINGCENTRAL_RENEW_BEFORE_SECONDS = 86_400
    sub_id = fake_ringcentral.add_subscription(remaining=3_600)
    Channel.objects.filter(pk=channel.pk).update(subscription_id=sub_id)
    assert subscriptions.subscriptions_renew() == 1
    assert len(fake_ringcentral.calls("POST", f"/restapi/v1.0/subscription/{sub_id}/renew")) == 1
    channel = reload(channel)
    assert channel.subscription_id == sub_id
    assert channel.subscription_expires_at > timezone.now() + timedelta(days=6)


def test_a_subscription_ringcentral_no_longer_knows_is_made_again(channel, fake_ringcentral):
    Channel.objects.filter(pk=channel.pk).update(subscription_id="gone-long-ago")
    assert subscriptions.subscriptions_renew() == 1
    channel = reload(channel)
    assert channel.subscription_id in fake_ringcentral.subscriptions
    assert channel.subscription_state == SubscriptionState.ACTIVE


def test_a_blacklisted_subscription_is_recorded_and_shown_on_health_when_it_cannot_be_replaced(
    channel, fake_ringcentral, api_client
):
    sub_id = fake_ringcentral.add_subscription()
    Channel.objects.filter(pk=channel.pk).update(subscription_id=sub_id)
    fake_ringcentral.blacklist(sub_id, reason="Webhook responses with code: [503]")
    fake_ringcentral.fail_next(
        "POST", "/restapi/v1.0/subscription", 400, {"errorCode": "SUB-521", "message": "Bad URL"}
    )
    subscriptions.subscriptions_renew()
    channel = reload(channel)
    assert channel.subscription_state == SubscriptionState.BLACKLISTED
    assert "Webhook responses with code: [503]" in channel.subscription_error
    assert "SUB-521" in channel.subscription_error
    assert list(subscriptions.blacklisted_channels()) == [channel]

    body = api_client.get(HEALTH).json()
    assert body["status"] == "degraded"
    problem = next(p for p in body["problems"] if p.startswith("RingCentral subscription"))
    assert "+14085550101" in problem
    assert "san-jose" in problem
    text = json.dumps(body)
    for secret in ("fake-rc-client-secret", "fake.rc.jwt", VERIFICATION_TOKEN, "rc-at-"):
        assert secret not in text


def test_a_blacklisted_subscription_is_replaced_by_a_new_one(channel, fake_ringcentral, api_client):
    sub_id = fake_ringcentral.add_subscription()
    Channel.objects.filter(pk=channel.pk).update(subscription_id=sub_id)
    fake_ringcentral.blacklist(sub_id)
    assert subscriptions.subscriptions_renew() == 1
    channel = reload(channel)
    assert channel.subscription_id != sub_id
    assert channel.subscription_state == SubscriptionState.ACTIVE
    assert "replaced a blacklisted subscription" in channel.subscription_error
    assert sub_id not in fake_ringcentral.subscriptions  # the dead one deleted
    assert not any(p.startswith("RingCentral") for p in api_client.get(HEALTH).json()["problems"])


def test_a_ringcentral_outage_is_recorded_as_failed_and_reported(
    channel, fake_ringcentral, api_client
):
    sub_id = fake_ringcentral.add_subscription(remaining=60)
    Channel.objects.filter(pk=channel.pk).update(subscription_id=sub_id)
    fake_ringcentral.fail_next("GET", "/restapi/v1.0/subscription/", 503)
    assert subscriptions.subscriptions_renew() == 0
    channel = reload(channel)
    assert channel.subscription_state == SubscriptionState.FAILED
    assert "503" in channel.subscription_error
    assert any("renewal failed" in p for p in api_client.get(HEALTH).json()["problems"])
    # The next run, with RingCentral back, heals it.
    assert subscriptions.subscriptions_renew() == 1
    channel = reload(channel)
    assert (channel.subscription_state, channel.subscription_error) == ("Active", "")


def test_wrong_credentials_are_recorded_without_the_secret(channel, fake_ringcentral, settings):
    settings.RINGCENTRAL_JWT = "not-the-jwt"
    subscriptions.subscriptions_renew()
    channel = reload(channel)
    assert channel.subscription_state == SubscriptionState.FAILED
    assert "invalid_grant" in channel.subscription_error
    assert "not-the-jwt" not in channel.subscription_error


def test_a_channel_without_credentials_is_left_alone(channel, settings):
    settings.RINGCENTRAL_JWT = ""
    assert subscriptions.subscriptions_renew() == 0
    assert reload(channel).subscription_state == ""


def test_without_a_verification_token_no_subscription_is_made(channel, fake_ringcentral, settings):
    settings.RINGCENTRAL_VERIFICATION_TOKEN = ""
    subscriptions.subscriptions_renew()
    channel = reload(channel)
    assert channel.subscription_state == SubscriptionState.FAILED
    assert "verification token" in channel.subscription_error
    assert fake_ringcentral.subscriptions == {}


def test_the_channels_own_credentials_are_used(channel, fake_ringcentral, settings):
    own = {
        "client_id": settings.RINGCENTRAL_CLIENT_ID,
        "client_secret": settings.RINGCENTRAL_CLIENT_SECRET,
        "jwt": settings.RINGCENTRAL_JWT,
        "verification_token": "channel-own-token",
    }
    settings.RINGCENTRAL_JWT = ""
    credentials.channel_set_credentials(channel=channel, values=own)
    subscriptions.subscriptions_renew()
    record = fake_ringcentral.subscriptions[reload(channel).subscription_id]
    assert record["verificationToken"] == "channel-own-token"


# --- Sending ---------------------------------------------------------------------------------


def outgoing(channel: Channel, to: str = "+14085557777") -> Outgoing:
    return Outgoing(
        message_id=42,
        key="message-42",
        channel=channel,
        credentials=credentials.for_channel(channel),
        to=to,
        body="See you at 6pm!",
    )


def test_send_posts_one_sms_from_the_channels_number(channel, fake_ringcentral):
    sent = ringcentral.send(outgoing(channel))
    assert sent.provider_message_id == "10000000001"
    assert fake_ringcentral.sent == [
        {
            "from": {"phoneNumber": "+14085550101"},
            "to": [{"phoneNumber": "+14085557777"}],
            "text": "See you at 6pm!",
        }
    ]


def test_a_number_ringcentral_refuses_is_a_permanent_error_without_the_number(
    channel, fake_ringcentral
):
    with pytest.raises(ProviderError) as caught:
        ringcentral.send(outgoing(channel, to="14085557777"))
    assert caught.value.permanent
    assert "MSG-246" in str(caught.value)
    assert "14085557777" not in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_outages_are_retryable(channel, fake_ringcentral, status):
    fake_ringcentral.fail_next("POST", ringcentral.SMS_PATH, status)
    with pytest.raises(ProviderError) as caught:
        ringcentral.send(outgoing(channel))
    assert not caught.value.permanent
    assert fake_ringcentral.sent == []


def test_an_expired_token_is_replaced_once(channel, fake_ringcentral):
    ringcentral.send(outgoing(channel))
    fake_ringcentral.tokens.clear()  # RingCentral revoked it
    ringcentral.send(outgoing(channel))
    assert len(fake_ringcentral.calls("POST", "/restapi/oauth/token")) == 2
    assert len(fake_ringcentral.sent) == 2


def test_an_unreachable_ringcentral_is_retryable_and_bounded_in_time(channel, settings):
    import socket

    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        settings.RINGCENTRAL_SERVER_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings.INBOX_PROVIDER_TIMEOUT_SECONDS = 0.5
        settings.RINGCENTRAL_CLIENT_ID = "id"
        settings.RINGCENTRAL_CLIENT_SECRET = "secret"
        settings.RINGCENTRAL_JWT = "jwt"
        started = timezone.now()
        with pytest.raises(ProviderError) as caught:
            ringcentral.send(outgoing(channel))
    assert not caught.value.permanent
    assert timezone.now() - started < timedelta(seconds=5)
