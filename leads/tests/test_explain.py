"""The AI's optional reading of a lead's score: through the gateway (redacted, audited, within
the station's budget), never changing the score, and nothing at all without a model."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from inbox.ai import gateway
from inbox.models import AIInteraction
from leads import services
from leads.models import Lead
from leads.services import LeadInput
from testing import fake_openai
from testing.fake_openai import answer

pytestmark = pytest.mark.django_db

fake_openai_server = pytest.fixture(fake_openai.running, name="fake")

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
MESSAGE = "Call me on (408) 555-0177 or kim.lee@example.com, party of 20 at 1234 Almaden Expy"


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(gateway, "BACKOFF_SECONDS", 0.0)
    with time_machine.travel(NOW, tick=False):
        yield


def capture(capture_callbacks):
    with capture_callbacks(execute=True):
        lead, _ = services.lead_capture(
            data=LeadInput(
                name="Kim Lee",
                email="kim.lee@example.com",
                phone="+14085550177",
                zip_code="95110",
                event_date=date(2026, 4, 11),
                guests=20,
                message=MESSAGE,
            ),
            first_reply=False,
        )
    lead.refresh_from_db()
    return lead


def test_the_explanation_is_redacted_audited_and_leaves_the_score(
    fake, san_jose, django_capture_on_commit_callbacks
):
    fake.plan(answer({"explanation": "A big party five weeks out: call [PHONE_1] today."}))
    lead = capture(django_capture_on_commit_callbacks)

    [raw] = fake.raw_bodies()
    for secret in ("555-0177", "kim.lee@example.com", "Kim Lee", "1234 Almaden"):
        assert secret not in raw, secret
    assert "guests: 20/20 (20 guests)" in raw
    assert lead.score_explanation == "A big party five weeks out: call (408) 555-0177 today."
    interaction = AIInteraction.objects.get()
    assert (interaction.purpose, interaction.station) == ("lead_score", san_jose)
    assert Lead.objects.get().score == sum(r["points"] for r in lead.score_reasons)


def test_over_budget_the_lead_keeps_its_reasons_and_no_request_leaves(
    fake, san_jose, django_capture_on_commit_callbacks
):
    san_jose.ai_monthly_budget_cents = 0
    san_jose.save()
    lead = capture(django_capture_on_commit_callbacks)
    assert fake.raw_bodies() == []
    assert lead.score_explanation == ""
    assert lead.score_reasons
    assert AIInteraction.objects.get().outcome == "over_budget"


def test_without_a_model_nothing_is_asked(san_jose, django_capture_on_commit_callbacks, settings):
    settings.OPENAI_API_KEY = ""
    lead = capture(django_capture_on_commit_callbacks)
    assert services.lead_explain(lead_id=lead.pk) == "skipped"
    assert not AIInteraction.objects.exists()
