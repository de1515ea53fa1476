"""
The real data a draft is written from (DESIGN.md §7): the station's details, menu, service area
and policies, a quote from the quote engine, live availability, the customer's bookings, and
the details (party size, date, ZIP) a customer's message gives.

Nothing here computes a price: every amount is the quote engine's or a stored price, so the
grounding check can hold a draft's figures against these and nothing else. Every dict returned
is JSON-serialisable (it may travel to a model as data), except `details_in`'s `date`.
"""

import re
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from bookings import pricing, scheduling
from bookings.models import ACTIVE_STATUSES, AddOnPricing, Booking, Customer, DepositKind
from config.exceptions import ApiError
from config.money import format_money
from inbox.models import MessageTemplate, TemplateKind
from stations.models import Station

# --- the station --------------------------------------------------------------------------


def _percent(bp: int) -> str:
    """Basis points as people write a rate: 1800 → "18%", 925 → "9.25%"."""
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def _hours_in_words(hours: int) -> str:
    if hours and hours % 24 == 0:
        days = hours // 24
        return f"{hours} hours ({days} day{'s' if days != 1 else ''})"
    return f"{hours} hours"


def _included_text(station: Station) -> str:
    """What every party includes, in the station's own words: its canned reply about it."""
    template = (
        MessageTemplate.objects.filter(
            station=station, kind=TemplateKind.CANNED, active=True, name__icontains="included"
        )
        .order_by("pk")
        .first()
    )
    return template.body.strip() if template else ""


def station_facts(station: Station) -> dict:
    """Everything a reply about the station may say: contact, booking site, prices and menu
    lines, add-ons, minimums, service area (zones with ZIPs and travel fees), deposit,
    cancellation and reschedule policy in words, booking rules. `prices` is None (and the
    menu empty) when the station has no price list yet."""
    currency = station.currency
    money = lambda cents: format_money(cents, currency)  # noqa: E731 - a local shorthand
    facts = {
        "name": station.name,
        "phone": station.phone,
        "email": station.email,
        "currency": currency,
        "timezone": station.timezone,
        "booking_url": settings.BOOKING_SITE_URL,
        "max_guests": station.max_guests,
        "min_notice_hours": station.min_notice_hours,
        "booking_horizon_days": station.booking_horizon_days,
        "earliest_start": f"{station.earliest_start:%H:%M}",
        "latest_start": f"{station.latest_start:%H:%M}",
        "included": _included_text(station),
        "zones": [
            {
                "name": zone.name,
                "zip_codes": list(zone.zip_codes),
                "travel_fee_cents": zone.travel_fee_cents,
                "travel_fee": money(zone.travel_fee_cents),
            }
            for zone in station.zones.all()
        ],
        "prices": None,
        "menu": [],
        "addons": [],
        "minimums": {},
    }
    try:
        prices = pricing.price_list_for(station)
    except ApiError:
        prices = None
    cancellation = (
        f"Cancel at least {_hours_in_words(station.deposit_forfeit_hours)} before the event "
        "and everything paid is refunded; later, the deposit is kept and the rest refunded."
    )
    reschedule = (
        f"One free reschedule when asked at least "
        f"{_hours_in_words(station.free_reschedule_notice_hours)} before the event"
    )
    if prices is None:
        facts |= {"deposit": "", "cancellation": cancellation, "reschedule": reschedule + "."}
        return facts

    addons = [
        {
            "code": addon.code,
            "label": addon.label,
            "description": addon.description,
            "pricing": addon.pricing,
            "price_cents": addon.price_cents,
            "price": money(addon.price_cents),
            "line": f"{addon.label}: {money(addon.price_cents)}"
            + (" per person" if addon.pricing == AddOnPricing.PER_PERSON else ""),
        }
        for addon in station.addons.filter(active=True)
    ]
    if prices.deposit_kind == DepositKind.PERCENT:
        deposit = f"A deposit of {_percent(prices.deposit_bp)} of the total holds your date."
    else:
        deposit = f"A {money(prices.deposit_fixed_cents)} deposit holds your date."
    facts |= {
        "prices": {
            "adult_cents": prices.adult_price_cents,
            "adult": money(prices.adult_price_cents),
            "child_cents": prices.child_price_cents,
            "child": money(prices.child_price_cents),
            "child_age_limit": prices.child_age_limit,
            "gratuity_min_guests": prices.gratuity_min_guests,
            "gratuity": _percent(prices.gratuity_bp),
            "tax": _percent(prices.tax_rate_bp) if prices.tax_rate_bp else "",
            "deposit_kind": prices.deposit_kind,
            "deposit_fixed_cents": prices.deposit_fixed_cents,
            "deposit_fixed": money(prices.deposit_fixed_cents),
            "deposit_percent": _percent(prices.deposit_bp),
            "change_fee_cents": prices.change_fee_cents,
            "change_fee": money(prices.change_fee_cents),
        },
        "minimums": {
            "weekday_cents": prices.minimum_weekday_cents,
            "weekday": money(prices.minimum_weekday_cents),
            "weekend_cents": prices.minimum_weekend_cents,
            "weekend": money(prices.minimum_weekend_cents),
        },
        "menu": [
            f"Adult: {money(prices.adult_price_cents)} per person",
            f"Child ({prices.child_age_limit} and under): "
            f"{money(prices.child_price_cents)} per person",
            *(addon["line"] for addon in addons),
        ],
        "addons": addons,
        "deposit": deposit,
        "cancellation": cancellation,
        "reschedule": f"{reschedule}; otherwise a {money(prices.change_fee_cents)} change fee.",
    }
    return facts


def zone_for(station: Station, zip_code: str) -> dict | None:
    """The service zone of a ZIP code ({"name", "travel_fee_cents", "travel_fee"}), or None
    when the station does not serve it."""
    zone = station.zones.filter(zip_codes__contains=[zip_code]).order_by("pk").first()
    if zone is None:
        return None
    return {
        "name": zone.name,
        "travel_fee_cents": zone.travel_fee_cents,
        "travel_fee": format_money(zone.travel_fee_cents, station.currency),
    }


# --- quotes and availability ---------------------------------------------------------------


def _next_weekday(today: date, weekday: int) -> date:
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


def _engine_quote(station, *, adults, children, event_date, zip_code) -> pricing.Quote:
    return pricing.quote(
        station=station,
        event_date=event_date,
        adults=adults,
        children=children,
        zip_code=zip_code,
        addon_codes=[],
        # No ZIP yet: the quote before any travel fee (the engine taxes the fee it is given).
        travel_fee_cents=None if zip_code else 0,
    )


def quote_for(
    *,
    station: Station,
    adults: int,
    children: int = 0,
    event_date: date | None = None,
    zip_code: str = "",
    now: datetime | None = None,
) -> dict | None:
    """The quote engine's figures for a party, as a dict: its lines and totals in cents, the
    same amounts formatted ("total", "deposit", ...), `travel_fee_included` (a ZIP was given).

    Without a date the party is priced on a weekday (Monday to Thursday), and when a weekend
    (Friday to Sunday, the higher minimum spend) changes the figures, `weekend` holds the
    engine's quote for a weekend day too. None when the station cannot quote: no price list,
    a ZIP outside the service area, or no adult."""
    if adults < 1 or children < 0:
        return None
    today = scheduling.local_today(station, now)
    day = event_date or _next_weekday(today, 1)  # a Tuesday stands for any weekday
    try:
        main = _engine_quote(
            station, adults=adults, children=children, event_date=day, zip_code=zip_code
        )
        weekend = None
        if event_date is None:
            weekend = _engine_quote(
                station,
                adults=adults,
                children=children,
                event_date=_next_weekday(today, 5),
                zip_code=zip_code,
            )
    except ApiError:
        return None
    result = _quote_dict(main, station)
    result |= {
        "adults": adults,
        "children": children,
        "guests": adults + children,
        "event_date": event_date.isoformat() if event_date else None,
        "weekend_day": event_date.weekday() in pricing.WEEKEND_DAYS if event_date else False,
        "zip_code": zip_code,
        "travel_fee_included": bool(zip_code),
        "weekend": None,
    }
    if weekend is not None and weekend.total_cents != main.total_cents:
        result["weekend"] = _quote_dict(weekend, station)
    return result


def _quote_dict(quote: pricing.Quote, station: Station) -> dict:
    data = quote.as_dict()
    for name in ("subtotal", "travel_fee", "gratuity", "tax", "total", "deposit"):
        data[name] = format_money(data[f"{name}_cents"], quote.currency)
    return data


def availability_on(
    *, station: Station, day: date, guests: int, now: datetime | None = None
) -> list[dict]:
    """The bookable start times on a local date for a party of `guests`, from live
    availability (bookings.scheduling, as the booking site's availability endpoint reads it):
    [{"date": "YYYY-MM-DD", "start": "HH:MM", "end": "HH:MM", "chefs_available": n}]. A party
    larger than the station takes online gets none."""
    if not 1 <= guests <= station.max_guests:
        return []
    slots = scheduling.availability(station=station, start=day, end=day, guests=guests, now=now)
    return [
        {
            "date": slot.date.isoformat(),
            "start": f"{slot.start:%H:%M}",
            "end": f"{slot.end:%H:%M}",
            "chefs_available": slot.chefs_available,
        }
        for slot in slots
    ]


def booking_window(station: Station, now: datetime | None = None) -> tuple[date, date]:
    """The first and last local dates a new party can be booked for (notice and horizon)."""
    earliest, last_day = scheduling.bookable_window(station, now)
    return earliest.astimezone(scheduling.station_tz(station)).date(), last_day


# --- the customer --------------------------------------------------------------------------


def customer_facts(customer: Customer | None, now: datetime | None = None) -> dict:
    """The customer's upcoming parties (held or confirmed, not yet started), soonest first:
    reference, local date and start time, guests, total and balance due, status."""
    if customer is None:
        return {"name": "", "bookings": []}
    bookings = Booking.objects.filter(
        customer=customer, status__in=ACTIVE_STATUSES, starts_at__gt=now or timezone.now()
    ).order_by("starts_at")
    return {
        "name": customer.name,
        "bookings": [
            {
                "reference": booking.reference,
                "date": booking.event_date.isoformat(),
                "time": f"{booking.start_time:%H:%M}",
                "guests": booking.guests,
                "adults": booking.adults,
                "children": booking.children,
                "total_cents": booking.total_cents,
                "total": format_money(booking.total_cents, booking.currency),
                "balance_due_cents": booking.balance_due_cents,
                "balance_due": format_money(booking.balance_due_cents, booking.currency),
                "status": booking.status,
            }
            for booking in bookings
        ],
    }


# --- what a message says -------------------------------------------------------------------

NUMBER_WORDS = {
    # English
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "twenty-five": 25, "thirty": 30, "forty": 40, "fifty": 50, "a dozen": 12,
    # Spanish
    "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14,
    "quince": 15, "dieciséis": 16, "dieciseis": 16, "diecisiete": 17, "dieciocho": 18,
    "diecinueve": 19, "veinte": 20, "veinticinco": 25, "treinta": 30, "cuarenta": 40,
    "cincuenta": 50,
}  # fmt: skip
_NUM = r"(\d{1,3}|" + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True)) + r")"
_ADULTS = r"(?:adults?|adultos?|grown[- ]?ups?|người lớn|大人|成人)"
_KIDS = r"(?:kids?|children|child|niños?|ninos?|niñas?|chicos?|trẻ em|小孩|儿童|bata)"
_PEOPLE = (
    r"(?:people|ppl|persons?|guests?|pax|ppl|folks|of us|personas?|invitados?|gente|"
    r"người|人|katao|bisita)"
)
ADULTS_RE = re.compile(rf"\b{_NUM}\s*{_ADULTS}", re.I)
KIDS_RE = re.compile(rf"\b{_NUM}\s*(?:little\s+)?{_KIDS}", re.I)
PEOPLE_RE = re.compile(rf"\b{_NUM}\s*{_PEOPLE}", re.I)
PARTY_RE = re.compile(
    rf"\b(?:party of|group of|table for|for|para|grupo de|fiesta de)\s+(?:about\s+|around\s+|"
    rf"like\s+|unos\s+|aprox\.?\s+)?{_NUM}\b(?!\s*(?:st|nd|rd|th|am|pm|:|/|%|\$|hours?|hrs?|"
    r"days?|minutes?|dollars?|bucks))",
    re.I,
)
CJK_PEOPLE_RE = re.compile(r"(\d{1,3})\s*(?:人|位)")
ZIP_RE = re.compile(r"(?<![\d$.,:/-])(\d{5})(?:-\d{4})?(?![\d:/])")

MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12,
}  # fmt: skip
WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5,
    "sat": 5, "sunday": 6, "sun": 6,
    "lunes": 0, "martes": 1, "miércoles": 2, "miercoles": 2, "jueves": 3, "viernes": 4,
    "sábado": 5, "sabado": 5, "domingo": 6,
}  # fmt: skip
_MONTH = "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True))
_WEEKDAY = "|".join(sorted(map(re.escape, WEEKDAYS), key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
ISO_DATE_RE = re.compile(r"\b(20\d\d)-(\d{1,2})-(\d{1,2})\b")
NUMERIC_DATE_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?(?![\d/])")
MONTH_DAY_RE = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}}){_ORD}\b(?!\s*(?:{_PEOPLE}|:))", re.I)
DAY_MONTH_RE = re.compile(rf"\b(\d{{1,2}}){_ORD}\s+(?:of\s+|de\s+)?({_MONTH})\b", re.I)
RELATIVE_RE = re.compile(
    r"\b(today|tonight|tomorrow|tmrw|tmr|hoy|mañana|manana|pasado mañana)\b", re.I
)
WEEKDAY_RE = re.compile(
    rf"\b(?:(next|this|coming|el|este|próximo|proximo)\s+)?({_WEEKDAY})\b\.?(?!\s*(?:{_MONTH}))",
    re.I,
)
THE_DAY_RE = re.compile(
    rf"\b(?:the|el|on the|día|dia)\s+(\d{{1,2}})(st|nd|rd|th)?\b(?!\s*(?:[:/]|{_PEOPLE}|of us))",
    re.I,
)


def _number(token: str) -> int | None:
    token = token.lower()
    if token.isdigit():
        return int(token)
    return NUMBER_WORDS.get(token)


def _future_month_day(today: date, month: int, day: int) -> date | None:
    """The next month/day on or after today (this year, else next year)."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _future_day_of_month(today: date, day: int) -> date | None:
    """ "The 20th": this month's if not past, else the next month that has that day."""
    year, month = today.year, today.month
    for _ in range(3):
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def date_in(text: str, *, today: date) -> date | None:
    """The first event date a message names, resolved from `today` (the station's local date):
    "2026-12-12", "12/12", "Dec 12", "12 de diciembre", "sábado 6 de junio", "tomorrow",
    "next Saturday", "the 20th". A day and month without a year are the next such date."""
    if m := ISO_DATE_RE.search(text):
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    for m in (MONTH_DAY_RE.search(text), DAY_MONTH_RE.search(text)):
        if m:
            month_word, day = (m[1], m[2]) if m.re is MONTH_DAY_RE else (m[2], m[1])
            if found := _future_month_day(today, MONTHS[month_word.lower()], int(day)):
                return found
    if m := NUMERIC_DATE_RE.search(text):
        month, day = int(m[1]), int(m[2])
        if m[3]:
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
            try:
                return date(year, month, day)
            except ValueError:
                pass
        elif found := _future_month_day(today, month, day):
            return found
    if m := RELATIVE_RE.search(text):
        word = m[1].lower()
        if word.startswith("pasado"):
            return today + timedelta(days=2)
        if word in ("today", "tonight", "hoy"):
            return today
        return today + timedelta(days=1)
    if m := WEEKDAY_RE.search(text):
        weekday = WEEKDAYS[m[2].lower()]
        ahead = (weekday - today.weekday()) % 7
        qualifier = (m[1] or "").lower()
        if ahead == 0 and qualifier in ("next", "coming", "próximo", "proximo"):
            ahead = 7
        return today + timedelta(days=ahead)
    if m := THE_DAY_RE.search(text):
        day = int(m[1])
        if 1 <= day <= 31:
            return _future_day_of_month(today, day)
    return None


def guests_in(text: str) -> tuple[int | None, int | None, int | None]:
    """(guests, adults, children) a message gives: "12 adults and 3 kids", "party of 15",
    "15 people", "quince personas", "for 20". Unknown parts are None."""
    adults = next((_number(m[1]) for m in ADULTS_RE.finditer(text)), None)
    children = next((_number(m[1]) for m in KIDS_RE.finditer(text)), None)
    if adults is not None or children is not None:
        total = (adults or 0) + (children or 0)
        if adults is None:
            people = next((_number(m[1]) for m in PEOPLE_RE.finditer(text)), None)
            if people and children is not None and people > children:
                return people, people - children, children
        return total, adults, children
    for regex in (PEOPLE_RE, CJK_PEOPLE_RE, PARTY_RE):
        for m in regex.finditer(text):
            value = _number(m[1])
            # "para una fiesta", "for one night": a party is at least two.
            if value and (1 if regex is not PARTY_RE else 2) <= value <= 500:
                return value, value, 0
    return None, None, None


def details_in(text: str, *, station: Station, now: datetime | None = None) -> dict:
    """What a customer's message says about their party: {"guests", "adults", "children",
    "date" (a datetime.date, resolved in the station's time zone from `now`), "zip"}; None for
    what it does not say. Children are counted only when named ("3 kids")."""
    today = scheduling.local_today(station, now)
    guests, adults, children = guests_in(text)
    zip_match = ZIP_RE.search(text)
    return {
        "guests": guests,
        "adults": adults,
        "children": children,
        "date": date_in(text, today=today),
        "zip": zip_match[1] if zip_match else None,
    }
