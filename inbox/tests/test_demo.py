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
