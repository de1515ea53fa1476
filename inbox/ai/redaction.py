"""
Personal data out of a prompt before it leaves the process, and back into the reply staff see
(DESIGN.md §7).

`redact(text)` replaces phone numbers (phonenumbers, US numbers and any +E.164 one), e-mail
addresses, street addresses (a number, a street name and a suffix such as St or Ave, with a unit),
card numbers (13 to 19 digits, Luhn-valid), account-like numbers (IBANs, long digit runs) and gate
or door codes ("gate code 4821": the digits) with placeholders: "[PHONE_1]", "[EMAIL_1]",
"[ADDRESS_1]", "[CARD_1]", "[ACCOUNT_1]", "[CODE_1]". The same value twice gets the same
placeholder. `restore(text, mapping)` puts the values back, so
`restore(redact(t).text, redact(t).mapping) == t` for any text: a placeholder-shaped string the
customer typed is never given a number of ours.
"""

import re
from dataclasses import dataclass, field

import phonenumbers

PHONE = "PHONE"
EMAIL = "EMAIL"
ADDRESS = "ADDRESS"
CARD = "CARD"
ACCOUNT = "ACCOUNT"
CODE = "CODE"

PLACEHOLDER = re.compile(r"\[(PHONE|EMAIL|ADDRESS|CARD|ACCOUNT|CODE)_(\d+)\]")


@dataclass(frozen=True)
class Redacted:
    text: str
    mapping: dict[str, str] = field(default_factory=dict)  # "[PHONE_1]" -> "(408) 555-0123"


# --- What is found --------------------------------------------------------------------------

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)

# Digits in groups separated by single spaces or dashes: card and account shapes.
GROUPED_DIGITS = re.compile(r"(?<![\w-])\d(?:[ -]?\d){7,22}(?![\w-])")
# Card numbers may also be grouped with dots ("4111.1111.1111.1111"); Luhn decides.
CARD_DIGITS = re.compile(r"(?<![\w.-])\d(?:[ .-]?\d){12,18}(?![\w-])(?!\.\d)")
# US social security numbers.
SSN_RE = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
# E-mail addresses written to slip past a filter: "john @ gmail.com", "john(at)gmail(dot)com",
# "john at gmail dot com".
_AT = r"(?:\s*@\s*|\s*[(\[{]\s*at\s*[)\]}]\s*|\s+at\s+)"
_DOT = r"(?:\s*\.\s*|\s*[(\[{]\s*dot\s*[)\]}]\s*|\s+dot\s+)"
OBFUSCATED_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[\w.+-]+"
    + _AT
    + r"[A-Za-z0-9-]+(?:"
    + _DOT
    + r"[A-Za-z0-9-]+)*"
    + _DOT
    + r"(?:com|net|org|edu|gov|io|co|us|me|info|biz|mail)\b",
    re.IGNORECASE,
)
# A US phone number with letters for digits ("408-555-CHEF", "1-800-FLOWERS").
VANITY_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+?1[-. ]?)?\(?[2-9]\d{2}\)?[-. ]?(?=[A-Za-z0-9]{3}[-. ]?[A-Za-z0-9]{4}\b)"
    r"(?=[0-9-. ]*[A-Z])[A-Z0-9]{3}[-. ]?[A-Z0-9]{4}(?!\w)"
)
DATE_SHAPE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{2,4}")
IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
ACCOUNT_WORDS = re.compile(
    r"\b(?:account|acct|routing|aba|iban|checking|savings|member(?:ship)?)"
    r"(?:\s+(?:number|no\.?|num|#))?\s*(?:is|:|#|=)?\s*#?\s*(?P<value>\d(?:[ -]?\d){3,22})(?!\d)",
    re.IGNORECASE,
)

STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|av|boulevard|blvd|road|rd|drive|dr|lane|ln|way|court|ct|place|pl"
    r"|circle|cir|terrace|ter|parkway|pkwy|highway|hwy|trail|trl|square|sq|loop|alley|aly"
    r"|expressway|expy|plaza|plz|row|path|crescent|cres|run|pike|center|ctr)"
)
# Lower-case words that begin ordinary sentences after a number ("12 people on Main St"): a
# street name never starts with them, so "12 people" stays.
_NOT_A_STREET = (
    r"(?!(?:people|guests|adults|kids|children|persons|pax|of|on|at|in|for|and|or|to|the|a|an"
    r"|we|i|is|are|pm|am|hours?|minutes?|days?|weeks?|years?|dollars?|ppl|near|by|from)\b)"
)
ADDRESS_RE = re.compile(
    r"(?<![\w$.,-])\d{1,6}[A-Za-z]?(?:-\d{1,5})?\s+"
    r"(?:(?:[NSEW]\.?|north|south|east|west)\s+)?"
    + _NOT_A_STREET
    + r"(?:[A-Za-z0-9][\w'.-]*\s+){1,4}?"
    r"(?<=\s)" + STREET_SUFFIX + r"\b\.?"
    r"(?:,?\s*(?:apt|apartment|unit|suite|ste|fl|floor|bldg|building|#)\.?\s*#?\s*[A-Za-z0-9-]+\b)?",
    re.IGNORECASE,
)

# Streets named without a suffix: "500 El Camino Real", "987 Broadway", "12 Calle Mayor".
ADDRESS_NO_SUFFIX_RE = re.compile(
    r"(?<![\w$.,-])\d{1,6}[A-Za-z]?\s+(?:(?:[NSEW]\.?|north|south|east|west)\s+)?"
    r"(?:(?:el\s+)?camino\s+real|broadway|(?:calle|avenida|camino|paseo|via|rue)\s+[A-Za-z][\w'.-]*)"
    r"(?:,?\s*(?:apt|apartment|unit|suite|ste|#)\.?\s*#?\s*[A-Za-z0-9-]+\b)?",
    re.IGNORECASE,
)

CODE_WORDS = (
    r"(?:gate|door|entry|entrance|access|alarm|garage|keypad|building|buzzer|lockbox|lock\s*box"
    r"|key\s*box|security)"
)
CODE_RE = re.compile(
    r"\b(?:" + CODE_WORDS + r"(?:\s+(?:code|pin|combo|combination|number|#))?|code|pin|passcode"
    r"|(?:gate|door|key|entry|access|alarm|garage|lock)code|combo|combination)"
    r"(?:\s*(?:is|was|:|=|-|of)){0,2}\s*(?P<value>[#*]?\d(?:[ -]?\d){2,9}[#*]?)(?![\d-])",
    re.IGNORECASE,
)
# The code before its name: "4821 is the gate code".
CODE_FIRST_RE = re.compile(
    r"(?<![\w-])(?P<value>[#*]?\d{3,10}[#*]?)(?!\d)\s+(?:is|was|=|for)\s+(?:the|my|our)?\s*"
    + CODE_WORDS
    + r"(?:\s+(?:code|pin|combo|combination))?\b",
    re.IGNORECASE,
)
# "code" after these words is not a secret: "zip code 95112", "promo code 2024".
_NOT_A_SECRET = re.compile(
    r"(?:zip|postal|post|area|promo|promotion|discount|coupon|country|booking|reference|dress)\s*$",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_valid(value: str) -> bool:
    compact = value.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _candidates(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind), in order of precedence: a span found earlier wins an overlap."""
    found: list[tuple[int, int, str]] = []
    found += [(m.start(), m.end(), EMAIL) for m in EMAIL_RE.finditer(text)]
    found += [(m.start(), m.end(), EMAIL) for m in OBFUSCATED_EMAIL_RE.finditer(text)]
    for m in CARD_DIGITS.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append((m.start(), m.end(), CARD))
    found += [
        (m.start(), m.end(), ACCOUNT) for m in IBAN_RE.finditer(text) if _iban_valid(m.group())
    ]
    for m in CODE_RE.finditer(text):
        if not _NOT_A_SECRET.search(text[: m.start()]):
            found.append((m.start("value"), m.end("value"), CODE))
    found += [(m.start("value"), m.end("value"), CODE) for m in CODE_FIRST_RE.finditer(text)]
    found += [(m.start("value"), m.end("value"), ACCOUNT) for m in ACCOUNT_WORDS.finditer(text)]
    found += [(m.start(), m.end(), ACCOUNT) for m in SSN_RE.finditer(text)]
    for m in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.POSSIBLE):
        found.append((m.start, m.end, PHONE))
    found += [(m.start(), m.end(), PHONE) for m in VANITY_PHONE_RE.finditer(text)]
    found += [(m.start(), m.end(), ADDRESS) for m in ADDRESS_RE.finditer(text)]
    found += [(m.start(), m.end(), ADDRESS) for m in ADDRESS_NO_SUFFIX_RE.finditer(text)]
    for m in GROUPED_DIGITS.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if DATE_SHAPE.fullmatch(m.group()):
            continue
        if (" " not in m.group() and "-" not in m.group()) or len(digits) >= 12:
            found.append((m.start(), m.end(), ACCOUNT))  # a long run, or a card-shaped one
    return found


def _spans(text: str) -> list[tuple[int, int, str]]:
    taken: list[tuple[int, int, str]] = []
    for start, end, kind in _candidates(text):
        if start < end and all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, kind))
    return sorted(taken)


# --- Redact and restore ---------------------------------------------------------------------


def redact(text: str) -> Redacted:
    """`text` with personal data replaced by placeholders, and the mapping to put it back."""
    if not text:
        return Redacted(text or "", {})
    # Placeholder-shaped strings already in the text keep their meaning (none of ours).
    used = {m.group() for m in PLACEHOLDER.finditer(text)}
    counters: dict[str, int] = {}
    by_value: dict[tuple[str, str], str] = {}
    mapping: dict[str, str] = {}
    out: list[str] = []
    last = 0
    for start, end, kind in _spans(text):
        value = text[start:end]
        placeholder = by_value.get((kind, value))
        if placeholder is None:
            while True:
                counters[kind] = counters.get(kind, 0) + 1
                placeholder = f"[{kind}_{counters[kind]}]"
                if placeholder not in used:
                    break
            by_value[(kind, value)] = placeholder
            mapping[placeholder] = value
        out.append(text[last:start])
        out.append(placeholder)
        last = end
    out.append(text[last:])
    return Redacted("".join(out), mapping)


def restore(text: str, mapping: dict[str, str]) -> str:
    """The placeholders of `mapping` in `text` replaced by their values (others left as is)."""
    if not text or not mapping:
        return text
    return PLACEHOLDER.sub(lambda m: mapping.get(m.group(), m.group()), text)
