"""Channels and message templates in the admin: owners keep channels and their write-only
credentials, staff see whether a channel can send, nobody ever sees a secret; RingCentral
subscription trouble is shown; managers keep canned replies and WhatsApp templates."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from inbox import credentials
from inbox.models import Channel, ChannelKind, MessageTemplate, SubscriptionState, TemplateKind
from testing.admin import form_data

pytestmark = pytest.mark.django_db

SID = "AC0123456789abcdef0123456789abcd"
TOKEN = "tw-secret-token-7f3a9c1d5e"
NEW_TOKEN = "tw-rotated-token-0b8e2d4a6c"
ADD = reverse("admin:inbox_channel_add")
LIST = reverse("admin:inbox_channel_changelist")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(channel) -> str:
    return reverse("admin:inbox_channel_change", args=[channel.pk])


def add_twilio(client, station, **extra):
    data = {
        "station": station.pk,
        "kind": ChannelKind.SMS_TWILIO,
        "address": "(408) 555-0100",
        "name": "Main line",
        "active": "on",
        "credential_account_sid": SID,
        "credential_auth_token": TOKEN,
        **extra,
    }
    return client.post(ADD, data)


def edit(client, channel, **changes):
    page = client.get(change_url(channel))
    data = {**form_data(page), **changes}
    return client.post(change_url(channel), data)


def test_an_owner_adds_a_channel_whose_credentials_are_sealed_and_never_shown(
    owner, san_jose, settings
):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    client = signed_in(owner)

    response = add_twilio(client, san_jose)

    assert response.status_code == 302
    channel = Channel.objects.get(kind=ChannelKind.SMS_TWILIO)
    assert channel.address == "+14085550100"  # typed any way, stored E.164
    assert credentials.for_channel(channel) == {"account_sid": SID, "auth_token": TOKEN}
    assert TOKEN.encode() not in bytes(channel.credentials_sealed)
    pages = [
        client.get(LIST),
        client.get(change_url(channel)),
        client.get(reverse("admin:inbox_channel_history", args=[channel.pk])),
        client.get(reverse("admin:inbox_channel_delete", args=[channel.pk])),
        client.get(ADD),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert TOKEN not in html
        assert SID not in html
    change_page = pages[1].content.decode()
    assert "yes, with its own credentials (account_sid, auth_token)" in change_page
    assert 'type="password"' in change_page
    assert "Leave blank to keep the current one" in change_page
    assert "Clear credentials" in change_page


def test_blank_keeps_typed_replaces_and_clear_removes(owner, san_jose, settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    client = signed_in(owner)
    add_twilio(client, san_jose)
    channel = Channel.objects.get()

    assert edit(client, channel, name="Renamed").status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Renamed"
    assert credentials.for_channel(channel)["auth_token"] == TOKEN

    edit(client, channel, credential_auth_token=NEW_TOKEN)
    channel.refresh_from_db()
    assert credentials.for_channel(channel) == {"account_sid": SID, "auth_token": NEW_TOKEN}
    assert NEW_TOKEN not in client.get(change_url(channel)).content.decode()

    edit(client, channel, clear_credentials="on")
    channel.refresh_from_db()
    assert channel.credentials_sealed is None
    assert credentials.offline_reason(channel)
    assert "offline: no credentials" in client.get(change_url(channel)).content.decode()

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "ACenv", "env-secret-1234"
    html = client.get(change_url(channel)).content.decode()
    assert "yes, with the environment&#x27;s credentials" in html
    assert "env-secret-1234" not in html


def test_a_credential_of_another_kind_is_refused(owner, san_jose):
    response = add_twilio(signed_in(owner), san_jose, credential_access_token="EAAG-meta-token")
    assert response.status_code == 200
    assert "Not a credential of SMS (Twilio)" in response.content.decode()
    assert "EAAG-meta-token" not in response.content.decode()
    assert not Channel.objects.exists()


def test_only_owners_change_channels_staff_see_them_chefs_do_not(
    san_jose, sj_manager, sj_agent, sj_chef
):
    channel = Channel.objects.create(
        station=san_jose, kind=ChannelKind.EMAIL, address="sanjose@example.com"
    )
    for user in (sj_manager, sj_agent):
        client = signed_in(user)
        assert client.get(LIST).status_code == 200
        assert client.get(change_url(channel)).status_code == 200
        assert client.get(ADD).status_code == 403
        response = client.post(change_url(channel), {"address": "x@example.com"})
        assert response.status_code == 403
    assert signed_in(sj_chef).get(LIST).status_code == 403
    channel.refresh_from_db()
    assert channel.address == "sanjose@example.com"


def test_another_stations_channels_are_not_shown(san_jose, sacramento, sj_agent):
    Channel.objects.create(station=sacramento, kind=ChannelKind.SMS_TWILIO, address="+19165550100")
    mine = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )
    response = signed_in(sj_agent).get(LIST)
    assert [c.pk for c in response.context["cl"].result_list] == [mine.pk]


def test_ringcentral_subscription_state_and_a_blacklisted_warning(san_jose, owner):
    healthy = Channel.objects.create(
        station=san_jose,
        kind=ChannelKind.SMS_RINGCENTRAL,
        address="+14085550101",
        subscription_id="sub-1",
        subscription_state=SubscriptionState.ACTIVE,
        subscription_expires_at=datetime(2030, 1, 8, 20, 0, tzinfo=UTC),
    )
    client = signed_in(owner)
    html = client.get(change_url(healthy)).content.decode()
    assert "active, expires Jan. 8, noon PST" in html

    Channel.objects.filter(pk=healthy.pk).update(
        subscription_state=SubscriptionState.BLACKLISTED,
        subscription_error="Subscription is blacklisted",
    )
    listing = client.get(LIST)
    warnings = [str(m) for m in listing.context["messages"]]
    assert any("RingCentral blacklisted the webhook subscription" in w for w in warnings)
    page = client.get(change_url(healthy)).content.decode()
    assert "⚠ blacklisted" in page
    assert "texts are not arriving" in page


# --- Message templates -----------------------------------------------------------------------

TEMPLATE_ADD = reverse("admin:inbox_messagetemplate_add")


def test_a_manager_adds_canned_replies_and_whatsapp_templates(san_jose, sj_manager, sj_agent):
    client = signed_in(sj_manager)
    canned = {
        "station": san_jose.pk,
        "kind": TemplateKind.CANNED,
        "name": "Deposit",
        "body": "Your deposit link is on its way.",
        "language": "en_US",
        "category": "",
        "active": "on",
    }
    assert client.post(TEMPLATE_ADD, canned).status_code == 302

    whatsapp = {**canned, "kind": TemplateKind.WHATSAPP, "name": "followup", "approved": "on"}
    refused = client.post(TEMPLATE_ADD, whatsapp)
    assert refused.status_code == 200
    assert "A WhatsApp template has Meta" in refused.content.decode()
    assert client.post(TEMPLATE_ADD, {**whatsapp, "category": "utility"}).status_code == 302
    assert sorted(MessageTemplate.objects.values_list("name", flat=True)) == ["Deposit", "followup"]

    agent = signed_in(sj_agent)
    assert agent.get(reverse("admin:inbox_messagetemplate_changelist")).status_code == 200
    assert agent.post(TEMPLATE_ADD, {**canned, "name": "Other"}).status_code == 403
