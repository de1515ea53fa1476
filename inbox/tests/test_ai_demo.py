"""With no OpenAI key at all, `seed_demo` (what `make run` runs) leaves the local drafter's drafts
on the demo conversations: answers from station data for the questions, a task for a person for
the allergy and the booking change."""

from io import StringIO

import pytest
from django.core.management import call_command

from inbox.models import AIInteraction, Draft, DraftStatus, Level, Message

pytestmark = pytest.mark.django_db


def seed():
    call_command("seed_demo", stdout=StringIO())


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    settings.OPENAI_API_KEY = ""
    seed()


def draft_for(provider_id: str) -> Draft:
    return Draft.objects.get(message__provider_message_id=provider_id)


def test_every_demo_message_has_the_local_drafters_take(seeded):
    inbound = Message.objects.filter(direction="in", sender="customer")
    assert inbound.exists()
    assert Draft.objects.filter(message__in=inbound).count() == inbound.count()
    assert set(AIInteraction.objects.values_list("model", flat=True)) == {"local-drafter"}

    price = draft_for("SMDEMO0000000000000000000000000001")  # 12 adults and 3 kids, a Saturday
    assert (price.level, price.status, price.intent) == (Level.L2, DraftStatus.PROPOSED, "price")
    assert "$" in price.body
    assert price.grounding["grounded"] is True, price.body

    grill = draft_for("wamid.DEMO000000000000000000000000000001")  # the grill and the plates
    assert grill.status == DraftStatus.PROPOSED
    assert grill.body

    allergy = draft_for("<demo-0001@mail.example.com>")
    assert (allergy.level, allergy.status, allergy.body) == (Level.L3, DraftStatus.HUMAN, "")

    available = draft_for("SMDEMO0000000000000000000000000002")  # the 20th, about 15 people
    assert available.intent == "availability"
    assert available.body


def test_seeding_again_adds_no_draft_and_a_lost_draft_is_made_again(seeded):
    before = Draft.objects.count()
    seed()
    assert Draft.objects.count() == before
    Draft.objects.filter(message__provider_message_id="SMDEMO0000000000000000000000000001").delete()
    seed()  # the messages were processed long ago: the seed's own step drafts them
    assert Draft.objects.count() == before
