"""Grounding (inbox/ai/grounding.py): every price, date, time, phone number, e-mail address and
link in a draft must come from the data it was written from."""

from datetime import date, time

import pytest

from inbox.ai import grounding

DATA = {
    "station": {
        "phone": "+14085550100",
        "email": "hi@example.com",
        "booking_url": "https://book.example.com",
        "prices": {"adult_cents": 6000, "adult": "$60.00"},
        "deposit": "A $100.00 deposit holds your date.",
    },
    "quote": {"total_cents": 123456, "event_date": "2026-12-12"},
    "availability": {"slots": [{"date": "2026-12-12", "start": "17:00", "end": "19:00"}]},
}


@pytest.fixture
def allowed():
    return grounding.allowed_from(DATA)


def kinds(result):
    return [(c["kind"], c["ok"]) for c in result["checked"]]


def test_a_draft_from_the_data_is_grounded(allowed):
    text = (
        "Total $1,234.56 on Saturday, December 12 at 5:00 PM (until 19:00); adults $60, "
        "deposit 100 dollars. Call (408) 555-0100, write to HI@example.com or book at "
        "https://book.example.com/san-jose."
    )
    result = grounding.check(text, allowed)
    assert result["grounded"], result
    assert {k for k, _ in kinds(result)} == {"price", "date", "time", "phone", "email", "link"}
    assert result["reasons"] == []


def test_each_kind_that_does_not_match_is_named(allowed):
    text = (
        "Total 1234 dollars on Sunday, December 12 at 6pm. Call 408-555-0199, write to "
        "x@evil.example or pay at https://book.example.com.evil.example/pay."
    )
    result = grounding.check(text, allowed)
    assert not result["grounded"]
    assert [ok for _, ok in kinds(result)] == [False] * 6
    assert (
        "the draft mentions 1234 dollars, which is not in the station's data" in result["reasons"]
    )
    assert (
        "the draft mentions the date Sunday, December 12, which is not in the station's data"
        in result["reasons"]
    )  # December 12, 2026 is a Saturday
    assert any("the phone number 408-555-0199" in r for r in result["reasons"])


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("el sábado 12 de diciembre a las 5:00 PM", True),
        ("12/12 at 17:00", True),
        ("2026-12-12", True),
        ("December 12th, 2027", False),  # another year
        ("Dec 13", False),
        ("at 5 p.m.", True),
        ("at 4:30 PM", False),
    ],
)
def test_dates_and_times_in_the_forms_drafts_use(allowed, text, ok):
    result = grounding.check(text, allowed)
    assert result["checked"], text
    assert result["grounded"] is ok, result


def test_numbers_that_are_not_figures_are_not_checked(allowed):
    text = "For 12 guests, 18% gratuity, 48 hours' notice, kids 12 and under, you may 2 of them."
    assert grounding.check(text, allowed) == {"grounded": True, "checked": [], "reasons": []}


def test_the_allowed_values_are_read_from_the_data(allowed):
    assert {6000, 10000, 123456} <= allowed.prices
    assert date(2026, 12, 12) in allowed.dates
    assert {time(17, 0), time(19, 0)} <= allowed.times
    assert allowed.phones == {"+14085550100"}
    assert allowed.emails == {"hi@example.com"}
    assert allowed.links == {"book.example.com"}
