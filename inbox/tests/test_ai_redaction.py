"""Redaction (inbox/ai/redaction.py): contact data never survives `redact`, and `restore` gives
the text back exactly."""

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from inbox.ai.redaction import redact, restore

# --- Generated values -------------------------------------------------------------------------

digit = st.sampled_from(string.digits)
nonzero = st.sampled_from("23456789")


@st.composite
def us_phones(draw):
    area = draw(nonzero) + draw(digit) + draw(digit)
    exchange = draw(nonzero) + draw(digit) + draw(digit)
    line = "".join(draw(st.lists(digit, min_size=4, max_size=4)))
    shape = draw(
        st.sampled_from(
            [
                "({a}) {e}-{l}",
                "{a}-{e}-{l}",
                "{a}.{e}.{l}",
                "{a} {e} {l}",
                "{a}{e}{l}",
                "+1 {a} {e} {l}",
                "+1-{a}-{e}-{l}",
                "1 ({a}) {e}-{l}",
            ]
        )
    )
    return shape.format(a=area, e=exchange, l=line)


# Real numbers' shapes abroad (+E.164), as a customer might type them.
intl_phones = st.sampled_from(
    [
        "+44 20 7946 0958",
        "+447700900123",
        "+52 55 1234 5678",
        "+81 3-1234-5678",
        "+49 30 901820",
        "+33 1 42 68 53 00",
        "+61 2 9374 4000",
    ]
)

local_part = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12)
domain_label = st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=10)


@st.composite
def emails(draw):
    sep = draw(st.sampled_from(["", ".", "_", "+"]))
    tail = draw(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)) if sep else ""
    tld = draw(st.sampled_from(["com", "net", "org", "co.uk", "io", "mx"]))
    return f"{draw(local_part)}{sep}{tail}@{draw(domain_label)}.{tld}"


STREET_WORDS = ["Main", "Oak", "Almaden", "El Camino", "Santa Clara", "Willow Glen", "1st", "Fair"]
SUFFIXES = ["St", "St.", "Street", "Ave", "Avenue", "Blvd", "Rd", "Road", "Dr", "Drive", "Ln"]
SUFFIXES += ["Lane", "Way", "Ct", "Court", "Pl", "Cir", "Pkwy", "Expy", "Terrace", "Hwy"]


@st.composite
def addresses(draw):
    number = str(draw(st.integers(min_value=1, max_value=99999)))
    direction = draw(st.sampled_from(["", "N ", "S. ", "East "]))
    name = draw(st.sampled_from(STREET_WORDS))
    if draw(st.booleans()):
        name = name.lower()
    suffix = draw(st.sampled_from(SUFFIXES))
    unit = draw(st.sampled_from(["", ", Apt 4B", " #12", " Unit 7", ", Suite 210"]))
    return f"{number} {direction}{name} {suffix}{unit}"


def _luhn_complete(body: str) -> str:
    for check in string.digits:
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


@st.composite
def cards(draw):
    length = draw(st.sampled_from([13, 15, 16, 16, 19]))
    body = draw(nonzero) + "".join(draw(st.lists(digit, min_size=length - 2, max_size=length - 2)))
    number = _luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


@st.composite
def gate_codes(draw):
    value = "".join(draw(st.lists(digit, min_size=3, max_size=8)))
    shape = draw(
        st.sampled_from(
            [
                "gate code {v}",
                "Gate code is {v}",
                "door code is #{v}",
                "door code: {v}#",
                "code: {v}",
                "lockbox {v}",
                "the access code is {v}",
                "keypad {v}",
                "garage code - {v}",
            ]
        )
    )
    return shape.format(v=value), value


@st.composite
def accounts(draw):
    return "".join(draw(st.lists(digit, min_size=9, max_size=17)))


# Text around the value: letters (accented too), spaces and punctuation, never touching it.
filler = st.text(
    alphabet=string.ascii_letters + "áéíóúñüç ,.!?'¿¡",
    max_size=40,
)


def embedded(value_strategy):
    return st.tuples(filler, value_strategy, filler).map(lambda t: (f"{t[0]} {t[1]} {t[2]}", t[1]))


def _gone(text: str, value: str) -> None:
    result = redact(text)
    assert value not in result.text, (text, result.text)
    assert restore(result.text, result.mapping) == text


# --- Properties -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(embedded(us_phones()))
@example(("call me at (408) 555-0123 thanks", "(408) 555-0123"))
def test_a_us_phone_number_never_survives(case):
    _gone(*case)


@settings(max_examples=100, deadline=None)
@given(embedded(intl_phones))
def test_an_international_number_never_survives(case):
    _gone(*case)


@settings(max_examples=300, deadline=None)
@given(embedded(emails()))
def test_an_email_address_never_survives(case):
    _gone(*case)


@settings(max_examples=300, deadline=None)
@given(embedded(addresses()))
def test_a_street_address_never_survives(case):
    _gone(*case)


@settings(max_examples=300, deadline=None)
@given(embedded(cards()))
def test_a_card_number_never_survives(case):
    text, card = case
    _gone(text, card)
    assert "[CARD_1]" in redact(text).text


@settings(max_examples=300, deadline=None)
@given(filler, gate_codes(), filler)
def test_a_gate_or_door_code_never_survives(before, code, after):
    phrase, value = code
    text = f"{before} {phrase} {after}"
    result = redact(text)
    assert value not in result.text.replace("[CODE_1]", ""), (text, result.text)
    assert "[CODE_1]" in result.text
    assert restore(result.text, result.mapping) == text


@settings(max_examples=200, deadline=None)
@given(embedded(accounts()))
def test_a_long_account_number_never_survives(case):
    _gone(*case)


@settings(max_examples=200, deadline=None)
@given(filler, us_phones(), emails(), addresses(), cards(), gate_codes(), filler)
def test_everything_in_one_message_is_redacted_and_restored(
    a, phone, email, address, card, code, b
):
    text = f"{a} call {phone}, mail {email}. We live at {address}; card {card}, {code[0]} {b}"
    result = redact(text)
    for value in (phone, email, address, card):
        assert value not in result.text
    assert restore(result.text, result.mapping) == text


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_round_trips(text):
    result = redact(text)
    assert restore(result.text, result.mapping) == text


# --- Examples ---------------------------------------------------------------------------------


def test_the_same_value_twice_gets_the_same_placeholder():
    result = redact("Text 408-555-0123, again: 408-555-0123, or jo@example.com or 650-555-0199")
    assert result.text == "Text [PHONE_1], again: [PHONE_1], or [EMAIL_1] or [PHONE_2]"
    assert result.mapping == {
        "[PHONE_1]": "408-555-0123",
        "[EMAIL_1]": "jo@example.com",
        "[PHONE_2]": "650-555-0199",
    }


def test_a_placeholder_the_customer_typed_is_never_one_of_ours():
    text = "My phone is [PHONE_1] and really 408-555-0123"
    result = redact(text)
    assert "408-555-0123" not in result.text
    assert "[PHONE_1]" not in result.mapping
    assert restore(result.text, result.mapping) == text
    # The model echoing the customer's fake placeholder gets nothing of ours back.
    assert restore("Call [PHONE_1]", result.mapping) == "Call [PHONE_1]"


@pytest.mark.parametrize(
    "text",
    [
        "Party of 12 people on 2025-06-14 at 6pm, $1,200 budget, 30 guests",
        "price for 25 adults 10 kids in 95112 on june 14",
        "We are 12 people on Main St. Ref MH-ABC123, date 6/14/2025",
        "zip code 95112, promo code 2024",
        "What does the 10 guest minimum include? $65 per adult?",
        "¿Cuánto cuesta para 20 personas el 14 de junio?",
        "I have 2 Dr appointments that day, so 3 way split of the bill?",
        "We need 2 chefs for 40 people on Saturday near Oak Ave",
    ],
)
def test_what_a_draft_needs_is_left_alone(text):
    """Guest counts, dates, prices, ZIP codes and booking references are not personal data."""
    assert redact(text).text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "card 4242 4242 4242 4242 exp 12/27",
            "card [CARD_1] exp 12/27",
        ),
        (
            "acct 12345678901, routing 021000021, IBAN GB82 WEST 1234 5698 7654 32",
            "acct [ACCOUNT_1], routing [ACCOUNT_2], IBAN [ACCOUNT_3]",
        ),
        (
            "gate code 4821, door code is #1234, code: 0000, lockbox 9876",
            "gate code [CODE_1], door code is [CODE_2], code: [CODE_3], lockbox [CODE_4]",
        ),
        (
            "We're at 1234 Almaden Expy, Apt 5B San Jose",
            "We're at [ADDRESS_1] San Jose",
        ),
        ("text +44 20 7946 0958 pls", "text [PHONE_1] pls"),
    ],
)
def test_examples(text, expected):
    result = redact(text)
    assert result.text == expected
    assert restore(result.text, result.mapping) == text
