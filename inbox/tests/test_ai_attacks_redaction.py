"""Attacks on redaction (inbox/ai/redaction.py): contact data written in the forms customers
use to get past filters must not reach a model request or the audit."""

import pytest

from inbox.ai import gateway
from inbox.ai.gateway import complete
from inbox.ai.redaction import redact, restore
from inbox.models import AIInteraction
from testing import fake_openai
from testing.factories import StationFactory
from testing.fake_openai import text

fake_openai_server = pytest.fixture(fake_openai.running, name="fake")


@pytest.mark.parametrize(
    ("message", "secret", "placeholder"),
    [
        ("text me at 408-555-CHEF", "555-CHEF", "[PHONE_1]"),
        ("gate code is 4-8-2-1", "4-8-2-1", "[CODE_1]"),
        ("gate code: 48 21", "48 21", "[CODE_1]"),
        ("the code is: 4821", "4821", "[CODE_1]"),
        ("4821 is the gate code", "4821", "[CODE_1]"),
        ("keycode 4821", "4821", "[CODE_1]"),
        ("card 4111.1111.1111.1111", "4111.1111", "[CARD_1]"),
        ("my ssn 123-45-6789", "123-45-6789", "[ACCOUNT_1]"),
        ("write to john @ gmail.com", "john @ gmail", "[EMAIL_1]"),
        ("write to john(at)gmail(dot)com", "john(at)gmail", "[EMAIL_1]"),
        ("write to john at gmail dot com", "john at gmail", "[EMAIL_1]"),
        ("we are at 500 El Camino Real, Apt 3", "500 El Camino", "[ADDRESS_1]"),
        ("party at 987 Broadway", "987 Broadway", "[ADDRESS_1]"),
        ("fiesta en 12 Calle Mayor", "12 Calle Mayor", "[ADDRESS_1]"),
    ],
)
def test_contact_data_in_evasive_forms_is_redacted(message, secret, placeholder):
    result = redact(message)
    assert secret not in result.text, result.text
    assert placeholder in result.text
    assert restore(result.text, result.mapping) == message


@pytest.mark.parametrize(
    "message",
    [
        "For 12 guests on 12.12.2026 at 5.30pm, zip code 95112, promo code 2024.",
        "Is $1,234.56 the total for 20 adults? We meet at noon.",
    ],
)
def test_ordinary_figures_are_not_taken_for_contact_data(message):
    assert redact(message).text == message


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    monkeypatch.setattr(gateway, "BACKOFF_SECONDS", 0.0)


def test_evasive_contact_data_never_reaches_the_model_nor_the_audit(fake, db):
    station = StationFactory()
    fake.plan(text("We will be in touch."))
    customer = (
        "Call 408-555-CHEF or write john(at)gmail(dot)com. We are at 987 Broadway, "
        "4821 is the gate code. How much for 20 adults?"
    )
    complete(station=station, purpose="draft", instructions="Answer briefly.", data=customer)
    [raw] = fake.raw_bodies()
    [row] = AIInteraction.objects.filter(station=station)
    for secret in ("555-CHEF", "john(at)gmail", "987 Broadway", "4821"):
        assert secret not in raw, secret
        assert secret not in row.prompt, secret
    assert "How much for 20 adults?" in raw
