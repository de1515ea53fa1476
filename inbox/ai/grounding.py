"""
Is a draft grounded (DESIGN.md §7)? Every price, date, time, phone number, e-mail address and
link in it must come from the data the draft was written from: the quote engine's figures and
the station's prices, fees and minimums, the dates asked about and the available slots, the
customer's bookings, the station's phone and e-mail addresses and the booking site. One that
does not match makes the draft ungrounded, and an L1 draft drops to L2 with the reason.

The allowed values are read from the context dict itself (`allowed_from`): every `*_cents`
integer and every money amount written in its strings is an allowed price, every ISO date and
HH:MM time an allowed date or time. Nothing is computed here, so a figure the model made up by
arithmetic cannot match unless the quote engine gave the same figure.
"""

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, time

import phonenumbers

from inbox.ai.context import MONTHS, WEEKDAYS

# --- what a draft mentions -------------------------------------------------------------------

_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"
# A figure is money when a currency sign or code comes before it ("$60", "USD 500", a fullwidth $),
# a currency word or sign after it ("500 USD", "500$", "60 euros") or a per-guest unit after it
# ("60 per person"): a model (or a customer's text it echoes) must not slip a price past the
# check by writing the currency another way.
_FULLWIDTH_DOLLAR = "\uff04"
_CURRENCY_BEFORE = r"(?:(?:US|CA|A|C)?[$" + _FULLWIDTH_DOLLAR + r"]|[€£]|\b(?:usd|cad|eur|gbp))"
_CURRENCY_AFTER = (
    r"(?:(?:dollars?|bucks|usd|cad|eur|euros?|gbp|pounds?|d[oó]lares)\b|[$€£"
    + _FULLWIDTH_DOLLAR
    + r"]"
    r"|(?:per|a|/)\s?(?:person|guest|adult|child|kid|head|plate|pax)\b|pp\b)"
)
MONEY_RE = re.compile(
    rf"{_CURRENCY_BEFORE}\s?{_AMOUNT}|\b{_AMOUNT}\s?{_CURRENCY_AFTER}",
    re.I,
)
EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
LINK_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.I)
# A link written without a scheme ("evil.example.com/pay", "bit.ly/x", "EVIL.COM"): a host name
# ending in a common top-level domain, or any dotted host followed by a path.
_TLDS = (
    "com|net|org|info|biz|io|co|ly|me|app|dev|ai|us|uk|ca|eu|de|fr|es|it|nl|ru|cn|in|au|mx|br"
    "|link|site|online|xyz|top|click|live|shop|store|page|pay|money|gl|to|cc|gg|sh|tv|ws|la|is"
    "|st|so|tk|ml|ga|cf|gq|pw|fm|am|im|vc|gd|cx|lc|mobi|tel|club|pro|world|today|cash|bank"
    "|example|test|invalid|local"
)
BARE_LINK_RE = re.compile(
    r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    rf"(?:(?:{_TLDS})\b(?:/[^\s<>\"')\]]*)?|[a-z]{{2,24}}/[^\s<>\"')\]]+)",
    re.I,
)
# A phone number written with letters ("1-800-FLOWERS", "(408) 555-CHEF").
VANITY_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+?1[-. ]?)?\(?[2-9]\d{2}\)?[-. ]?(?=[A-Z0-9]{3}[-. ]?[A-Z0-9]{4}\b)"
    r"(?=[0-9-. ]*[A-Z])[A-Z0-9]{3}[-. ]?[A-Z0-9]{4}(?![\w])"
)
TIME_12_RE = re.compile(r"\b(1[0-2]|0?[1-9])(?::([0-5]\d))?\s?([ap])\.?\s?m\b", re.I)
TIME_24_RE = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?!\s?[ap]\.?\s?m\b)", re.I)
_MONTH = "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True))
_WEEKDAY = "|".join(sorted(map(re.escape, WEEKDAYS), key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
# "Saturday, December 12", "Dec 12", "December 12th, 2026", "sábado 12 de diciembre",
# "12 December", "12/12", "12/12/2026", "2026-12-12".
MONTH_DAY_RE = re.compile(
    rf"(?:\b({_WEEKDAY}),?\s+)?\b({_MONTH})\.?\s+(\d{{1,2}}){_ORD}\b(?:,?\s+(20\d\d))?", re.I
)
DAY_MONTH_RE = re.compile(
    rf"(?:\b({_WEEKDAY}),?\s+)?(?:el\s+)?\b(\d{{1,2}}){_ORD}\s+(?:of\s+|de\s+)?({_MONTH})\b"
    rf"(?:,?\s+(?:de\s+)?(20\d\d))?",
    re.I,
)
ISO_DATE_RE = re.compile(r"\b(20\d\d)-(\d{2})-(\d{2})\b")
NUMERIC_DATE_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])")
# Words that read as a month but are not one in the middle of a sentence ("you may 2 ...").
_NOT_MONTHS = {"may", "mar"}


_PHONE_LENIENCY = phonenumbers.Leniency.POSSIBLE


@dataclass(frozen=True)
class Mention:
    kind: str  # price, date, time, phone, email, link
    text: str  # as written in the draft
    value: object  # cents, (month, day, year or None, weekday or None), time, E.164, address, url


def _cents(whole: str, fraction: str | None) -> int:
    return int(whole.replace(",", "")) * 100 + int((fraction or "0").ljust(2, "0"))


def mentions(text: str) -> list[Mention]:
    """Every price, date, time, phone number, e-mail address and link written in `text`."""
    found: list[Mention] = []
    text = text or ""
    for m in LINK_RE.finditer(text):
        found.append(Mention("link", m[0], m[0].rstrip(".,;:!?")))
    without_links = LINK_RE.sub(" ", text)
    for m in EMAIL_RE.finditer(without_links):
        found.append(Mention("email", m[0], m[0].lower()))
    plain = EMAIL_RE.sub(" ", without_links)
    for m in BARE_LINK_RE.finditer(plain):
        found.append(Mention("link", m[0], m[0].rstrip(".,;:!?")))
    plain = BARE_LINK_RE.sub(" ", plain)
    for m in VANITY_PHONE_RE.finditer(plain):
        digits = phonenumbers.convert_alpha_characters_in_number(m[0])
        found.append(Mention("phone", m[0], _e164(digits) or digits))
    plain = VANITY_PHONE_RE.sub(" ", plain)
    # POSSIBLE, not the matcher's default VALID: a number no carrier could have ("(123)
    # 456-7890", "555-0199") is still a phone number the customer would read and call.
    matches = list(phonenumbers.PhoneNumberMatcher(plain, "US", leniency=_PHONE_LENIENCY))
    for match in matches:
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        found.append(Mention("phone", match.raw_string, e164))
    plain = _blank(plain, [(m.start, m.end) for m in matches])
    for m in MONEY_RE.finditer(plain):
        whole, fraction = (m[1], m[2]) if m[1] is not None else (m[3], m[4])
        found.append(Mention("price", m[0].strip(), _cents(whole, fraction)))
    plain = MONEY_RE.sub(" ", plain)
    found += _dates(plain)
    for m in TIME_12_RE.finditer(plain):
        hour = int(m[1]) % 12 + (12 if m[3].lower() == "p" else 0)
        found.append(Mention("time", m[0].strip(), time(hour, int(m[2] or 0))))
    for m in TIME_24_RE.finditer(plain):
        found.append(Mention("time", m[0], time(int(m[1]), int(m[2]))))
    return found


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _dates(text: str) -> list[Mention]:
    found, taken = [], []
    for regex in (MONTH_DAY_RE, DAY_MONTH_RE):
        for m in regex.finditer(text):
            if regex is MONTH_DAY_RE:
                weekday, month_word, day, year = m[1], m[2], m[3], m[4]
            else:
                weekday, day, month_word, year = m[1], m[2], m[3], m[4]
            if month_word.lower() in _NOT_MONTHS and month_word.islower() and not weekday:
                continue  # "you may 2..." is no date; "May 2" is
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            value = (
                MONTHS[month_word.lower()],
                int(day),
                int(year) if year else None,
                WEEKDAYS[weekday.lower()] if weekday else None,
            )
            found.append(Mention("date", m[0].strip(), value))
    rest = _blank(text, taken)
    for m in ISO_DATE_RE.finditer(rest):
        found.append(Mention("date", m[0], (int(m[2]), int(m[3]), int(m[1]), None)))
    rest = ISO_DATE_RE.sub(" ", rest)
    for m in NUMERIC_DATE_RE.finditer(rest):
        year = None
        if m[3]:
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
        found.append(Mention("date", m[0], (int(m[1]), int(m[2]), year, None)))
    return found


# --- what the data allows --------------------------------------------------------------------


@dataclass
class Allowed:
    prices: set[int] = field(default_factory=set)
    dates: set[date] = field(default_factory=set)
    times: set[time] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)  # prefixes: the booking site's address


_ISO_IN_DATA = re.compile(r"^(20\d\d)-(\d{2})-(\d{2})$")
_HHMM_IN_DATA = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def allowed_from(data, *, phones=(), emails=(), links=()) -> Allowed:
    """The values a draft written from `data` (the context dict) may mention, plus the
    station's own phone numbers, e-mail addresses and links given."""
    allowed = Allowed()
    _walk(data, allowed)
    for phone in phones:
        if phone:
            allowed.phones.add(_e164(phone) or phone)
    allowed.emails |= {e.lower() for e in emails if e}
    allowed.links |= {_link_key(link) for link in links if link}
    return allowed


def _walk(value, allowed: Allowed, key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, allowed, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            _walk(v, allowed, key)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if key.endswith("_cents"):
            allowed.prices.add(value)
    elif isinstance(value, date):
        allowed.dates.add(value)
    elif isinstance(value, time):
        allowed.times.add(value)
    elif isinstance(value, str):
        _walk_text(value, allowed, key)


def _walk_text(value: str, allowed: Allowed, key: str) -> None:
    if m := _ISO_IN_DATA.match(value):
        with contextlib.suppress(ValueError):
            allowed.dates.add(date(int(m[1]), int(m[2]), int(m[3])))
        return
    if m := _HHMM_IN_DATA.match(value):
        allowed.times.add(time(int(m[1]), int(m[2])))
        return
    if key in ("phone",):
        allowed.phones.add(_e164(value) or value)
    if key in ("email",):
        allowed.emails.add(value.lower())
    if key.endswith("url"):
        allowed.links.add(_link_key(value))
    for m in MONEY_RE.finditer(value):
        whole, fraction = (m[1], m[2]) if m[1] is not None else (m[3], m[4])
        allowed.prices.add(_cents(whole, fraction))


def _e164(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _link_key(url: str) -> str:
    url = url.strip().lower()
    url = re.sub(r"^https?://", "", url)
    return url.removeprefix("www.").rstrip("/")


# --- the check -------------------------------------------------------------------------------

_WORDS = {
    "price": "{text}",
    "date": "the date {text}",
    "time": "the time {text}",
    "phone": "the phone number {text}",
    "email": "the e-mail address {text}",
    "link": "the link {text}",
}


def _matches(mention: Mention, allowed: Allowed) -> bool:
    value = mention.value
    if mention.kind == "price":
        return value in allowed.prices
    if mention.kind == "time":
        return value in allowed.times
    if mention.kind == "phone":
        return value in allowed.phones
    if mention.kind == "email":
        return value in allowed.emails
    if mention.kind == "link":
        key = _link_key(value)
        return any(key == base or key.startswith(base + "/") for base in allowed.links)
    month, day, year, weekday = value
    return any(
        d.month == month
        and d.day == day
        and (year is None or d.year == year)
        and (weekday is None or d.weekday() == weekday)
        for d in allowed.dates
    )


def check(text: str, allowed: Allowed) -> dict:
    """The grounding of a draft, as stored in Draft.grounding: {"grounded": bool, "checked":
    [{"kind", "text", "ok"}], "reasons": [why not, in words staff read]}."""
    checked, reasons = [], []
    for mention in mentions(text):
        ok = _matches(mention, allowed)
        checked.append({"kind": mention.kind, "text": mention.text, "ok": ok})
        if not ok:
            what = _WORDS[mention.kind].format(text=mention.text)
            reasons.append(f"the draft mentions {what}, which is not in the station's data")
    return {"grounded": not reasons, "checked": checked, "reasons": reasons}
