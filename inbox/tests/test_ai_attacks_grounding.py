"""Attacks on grounding (inbox/ai/grounding.py): a price, a link or a phone number written in a
form the check did not read must still make the draft ungrounded (then an L1 drops to L2)."""

import pytest

from inbox.ai import grounding

DATA = {
    "station": {
        "phone": "+14085550100",
        "booking_url": "https://book.example.com",
        "prices": {"adult_cents": 6000},
    },
}


@pytest.fixture
def allowed():
    return grounding.allowed_from(DATA)


@pytest.mark.parametrize(
    "text",
    [
        "The total is USD 500.",
        "The total is USD500.",
        "The total is 500$.",
        "The total is \uff04500.",
        "The total is 500 euros.",
        "It is 75 per person.",
        "It is 75 a head.",
        "Pay at evil.example.com/pay today.",
        "Pay at bit.ly/abc123 today.",
        "Visit EVIL.COM now.",
        "Pay at hxxp://evil.com/pay.",
        "Call 1-800-FLOWERS.",
        "Call (123) 456-7890.",
        "Call 555-0199.",
    ],
)
def test_a_figure_link_or_phone_in_another_form_is_not_grounded(allowed, text):
    result = grounding.check(text, allowed)
    assert not result["grounded"], result
    assert result["reasons"]


@pytest.mark.parametrize(
    "text",
    [
        "Adults are 60 per person.",
        "Adults are USD 60.",
        "Book at book.example.com/san-jose.",
        "Call 408.555.0100.",
        "For 12 guests, 18% gratuity, 48 hours' notice, a.m. or p.m., e.g. Main St. at 5.30pm.",
    ],
)
def test_the_stations_own_values_in_those_forms_still_pass(allowed, text):
    assert grounding.check(text, allowed)["grounded"], grounding.check(text, allowed)
