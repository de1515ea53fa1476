"""seed_demo's inbox: the documented channels (DESIGN.md §6) and conversations across them."""

from io import StringIO

import pytest
from django.core.management import call_command

from inbox.models import Channel, Conversation, Message, MessageTemplate

pytestmark = pytest.mark.django_db

DOCUMENTED = {
    ("san-jose", "sms_twilio", "+14085550100"),
    ("san-jose", "sms_ringcentral", "+14085550101"),
    ("san-jose", "whatsapp", "100000000000001"),
    ("san-jose", "email", "sanjose@example.com"),
    ("sacramento", "sms_twilio", "+19165550100"),
    ("sacramento", "whatsapp", "100000000000002"),
    ("sacramento", "email", "sacramento@example.com"),
}


def seed():
    call_command("seed_demo", stdout=StringIO())


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    seed()


def test_the_documented_channels_exist(seeded):
    have = set(Channel.objects.values_list("station__slug", "kind", "address"))
    assert have >= DOCUMENTED
    assert set(Channel.objects.filter(kind="web").values_list("address", flat=True)) == {
        "san-jose",
        "sacramento",
    }


def test_conversations_span_channels_and_stations(seeded):
    kinds = set(Message.objects.filter(direction="in").values_list("channel__kind", flat=True))
    assert {"sms_twilio", "whatsapp", "email", "web"} <= kinds
    stations = set(Conversation.objects.values_list("station__slug", flat=True))
    assert stations == {"san-jose", "sacramento"}
    assert Conversation.objects.filter(unread=True).count() >= 4
    assert MessageTemplate.objects.filter(kind="canned", station__slug="san-jose").exists()


def test_a_booked_customer_texts_into_their_own_thread(seeded):
    conversation = Conversation.objects.get(
        messages__provider_message_id="SMDEMO0000000000000000000000000003"
    )
    assert conversation.customer.bookings.exists()


def test_seeding_again_adds_no_message(seeded):
    before = (Message.objects.count(), Conversation.objects.count(), Channel.objects.count())
    seed()
    assert (
        Message.objects.count(),
        Conversation.objects.count(),
        Channel.objects.count(),
    ) == before


def test_real_format_webhooks_at_the_demo_numbers_thread_into_the_demo_conversations(
    seeded, client, settings, django_capture_on_commit_callbacks
):
    """With the providers' secrets set, a Twilio SMS to the san-jose number and a WhatsApp
    message to its phone-number id, from the demo senders, land in their existing threads."""
    import copy
    import hashlib
    import hmac
    import json

    from inbox.tests.test_webhook_meta import WHATSAPP_INBOUND
    from inbox.tests.test_webhook_twilio import INBOUND, twilio_signature

    settings.TWILIO_AUTH_TOKEN = "demo-twilio-token"
    settings.META_APP_SECRET = "demo-meta-secret"
    sms_thread = Conversation.objects.get(
        messages__provider_message_id="SMDEMO0000000000000000000000000001"
    )
    params = {
        **INBOUND,
        "From": "+14085550142",
        "MessageSid": "SMdemoreply01",
        "Body": "Also 2 kids",
    }
    url = "/api/v1/webhooks/twilio"
    with django_capture_on_commit_callbacks(execute=True):  # the ledger's drain (inbox.ledger)
        answer = client.post(
            url,
            params,
            HTTP_X_TWILIO_SIGNATURE=twilio_signature(
                settings.PUBLIC_BASE_URL + url, params, "demo-twilio-token"
            ),
        )
    assert answer.status_code == 200
    assert Message.objects.get(provider_message_id="SMdemoreply01").conversation == sms_thread

    wa_thread = Conversation.objects.get(
        messages__provider_message_id="wamid.DEMO000000000000000000000000000001"
    )
    payload = copy.deepcopy(WHATSAPP_INBOUND)
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = "100000000000001"
    value["contacts"][0]["wa_id"] = "14085550177"
    value["messages"][0].update({"from": "14085550177", "id": "wamid.DEMOREPLY01"})
    body = json.dumps(payload).encode()
    signature = hmac.new(b"demo-meta-secret", body, hashlib.sha256).hexdigest()
    answer = client.post(
        "/api/v1/webhooks/meta",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=f"sha256={signature}",
    )
    assert answer.status_code == 200
    assert Message.objects.get(provider_message_id="wamid.DEMOREPLY01").conversation == wa_thread
