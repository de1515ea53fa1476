"""Inbound e-mail: Postmark's inbound JSON (its documented format) posted to anymail's Postmark
inbound URL, with and without the basic auth of ANYMAIL_WEBHOOK_SECRET."""

import base64
import copy
import json

import pytest

from inbox.models import Channel, ChannelKind, Message
from testing.factories import CustomerFactory

URL = "/api/v1/webhooks/email/postmark/inbound/"
SECRET = "postmark:inbound-secret"

# Postmark's inbound webhook body (https://postmarkapp.com/developer/webhooks/inbound-webhook),
# trimmed to the fields commonly present.
POSTMARK_INBOUND = {
    "FromName": "Kim Customer",
    "MessageStream": "inbound",
    "From": "Kim.Customer@Example.com",
    "FromFull": {"Email": "Kim.Customer@Example.com", "Name": "Kim Customer", "MailboxHash": ""},
    "To": '"San Jose Hibachi" <SanJose@example.com>',
    "ToFull": [{"Email": "SanJose@example.com", "Name": "San Jose Hibachi", "MailboxHash": ""}],
    "Cc": "",
    "CcFull": [],
    "Bcc": "",
    "BccFull": [],
    "OriginalRecipient": "SanJose@example.com",
    "Subject": "Party on Dec 12",
    "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
    "ReplyTo": "",
    "MailboxHash": "",
    "Date": "Wed, 25 Nov 2026 10:00:00 -0800",
    "TextBody": "Hi, can you do 20 guests on Dec 12?",
    "HtmlBody": "<p>Hi, can you do <b>20 guests</b> on Dec 12?</p>",
    "StrippedTextReply": "",
    "Tag": "",
    "Headers": [
        {"Name": "X-Spam-Status", "Value": "No"},
        {"Name": "Message-ID", "Value": "<CAF=party-1212@mail.example.com>"},
    ],
    "Attachments": [],
}


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.fixture
def webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


@pytest.fixture
def channel(san_jose, webhook_secret):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.EMAIL, address="sanjose@example.com"
    )


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def send(payload, *, auth=SECRET, raw=None):
        headers = {"HTTP_AUTHORIZATION": basic(auth)} if auth else {}
        body = raw if raw is not None else json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, body, content_type="application/json", **headers)

    return send


def test_an_inbound_email_is_stored_for_the_address_it_was_sent_to(channel, post):
    response = post(POSTMARK_INBOUND)
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.channel == channel
    assert message.provider_message_id == "<CAF=party-1212@mail.example.com>"
    assert message.subject == "Party on Dec 12"
    assert message.body == "Hi, can you do 20 guests on Dec 12?"
    identity = message.identity
    assert (identity.kind, identity.external_id) == ("email", "kim.customer@example.com")
    assert identity.customer.name == "Kim Customer"
    assert identity.customer.email == "kim.customer@example.com"
    assert message.processed_at is not None


def test_a_known_customer_who_emails_joins_their_thread(channel, post, san_jose):
    customer = CustomerFactory(station=san_jose, email="kim.customer@example.com")
    post(POSTMARK_INBOUND)
    assert Message.objects.get().identity.customer == customer


def test_the_same_message_id_twice_is_one_message(channel, post):
    post(POSTMARK_INBOUND)
    post(POSTMARK_INBOUND)
    assert Message.objects.count() == 1


def test_without_a_message_id_header_the_message_is_known_by_a_hash_of_it(channel, post):
    payload = copy.deepcopy(POSTMARK_INBOUND)
    payload["Headers"] = [{"Name": "X-Spam-Status", "Value": "No"}]
    post(payload)
    post(payload)
    message = Message.objects.get()
    assert message.provider_message_id.startswith("sha256:")
    other = {**payload, "TextBody": "A different message"}
    post(other)
    assert Message.objects.count() == 2


def test_an_html_only_email_is_stored_as_text(channel, post):
    # Postmark omits TextBody for HTML-only mail:
    payload = {k: v for k, v in POSTMARK_INBOUND.items() if k != "TextBody"}
    payload["Headers"] = [{"Name": "Message-ID", "Value": "<html-only@example.com>"}]
    post(payload)
    message = Message.objects.get(provider_message_id="<html-only@example.com>")
    assert message.body == "Hi, can you do 20 guests on Dec 12?"


def test_the_recipient_is_matched_in_any_case_also_in_cc(channel, post):
    payload = copy.deepcopy(POSTMARK_INBOUND)
    payload["ToFull"] = [{"Email": "someone@else.example", "Name": ""}]
    payload["CcFull"] = [{"Email": "SANJOSE@EXAMPLE.COM", "Name": ""}]
    payload["OriginalRecipient"] = ""
    post(payload)
    assert Message.objects.get().channel == channel


def test_mail_for_an_address_we_dont_serve_is_acknowledged_and_dropped(channel, post):
    payload = copy.deepcopy(POSTMARK_INBOUND)
    payload["ToFull"] = [{"Email": "nobody@example.org", "Name": ""}]
    payload["OriginalRecipient"] = "nobody@example.org"
    assert post(payload).status_code == 200
    assert Message.objects.count() == 0


@pytest.mark.parametrize("auth", [None, "postmark:wrong", "other:inbound-secret"])
def test_without_the_right_basic_auth_it_is_403_and_stores_nothing(channel, post, auth):
    response = post(POSTMARK_INBOUND, auth=auth)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_signature"
    assert Message.objects.count() == 0


def test_with_no_webhook_secret_configured_the_endpoint_refuses_everything(
    san_jose, post, settings
):
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "WEBHOOK_SECRET"}
    settings.ANYMAIL_WEBHOOK_SECRET = ""
    Channel.objects.create(station=san_jose, kind=ChannelKind.EMAIL, address="sanjose@example.com")
    assert post(POSTMARK_INBOUND, auth=None).status_code == 403
    assert post(POSTMARK_INBOUND, auth=SECRET).status_code == 403
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b"\xff",
        json.dumps({**POSTMARK_INBOUND, "FromFull": None, "From": ""}).encode(),
        json.dumps({**POSTMARK_INBOUND, "Headers": "nope"}).encode(),
        json.dumps({**POSTMARK_INBOUND, "Attachments": [{"Name": "x"}]}).encode(),
    ],
)
def test_an_authenticated_malformed_body_is_400_and_stores_nothing(channel, post, raw):
    response = post(None, raw=raw)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail", "fields"}
    assert Message.objects.count() == 0


def test_a_postmark_bounce_posted_to_the_inbound_url_is_400(channel, post):
    bounce = {"RecordType": "Bounce", "MessageID": "x", "Email": "kim@example.com"}
    assert post(bounce).status_code == 400
    assert Message.objects.count() == 0
