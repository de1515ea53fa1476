"""
Lead scoring: 0-100, the sum of six factors, each with its points, its maximum and a sentence a
person can read ("12 guests", "Sat 14 Mar: 3 start times still free"). Deterministic and
explainable: the same lead on the same day scores the same, and every point has its reason.

| factor       | max | what earns it                                                         |
| ------------ | --- | --------------------------------------------------------------------- |
| guests       | 20  | party size (bigger parties are worth more and book more readily)      |
| timing       | 20  | an event 1-8 weeks out; too soon to book or long past scores nothing  |
| availability | 15  | the station still has a chef free on that date for that party         |
| completeness | 15  | phone, e-mail, date, guests, ZIP in the service area                  |
| budget       | 15  | a stated budget against the quote engine's price for that party       |
| source       | 10  | how the lead came in (a call or a referral beats a cold import)        |
| engagement   | 5   | the person wrote back after we first contacted them                   |
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from bookings import pricing, scheduling
from config.exceptions import ApiError
from config.money import format_money
from leads.models import LeadSource

MAX_POINTS = {
    "guests": 20,
    "timing": 20,
    "availability": 15,
    "completeness": 15,
    "budget": 15,
    "source": 10,
    "engagement": 5,
}
assert sum(MAX_POINTS.values()) == 100

SOURCE_POINTS = {
    "referral": 10,
    "phone": 10,
    "web": 8,
    "sms": 8,
    "whatsapp": 8,
    "email": 7,
    "messenger": 6,
    "instagram": 6,
    "event": 6,
    "other": 4,
    "import": 3,
}


@dataclass(frozen=True)
class Reason:
    factor: str
    points: int
    detail: str

    def as_dict(self) -> dict:
        return {
            "factor": self.factor,
            "points": self.points,
            "max": MAX_POINTS[self.factor],
            "detail": self.detail,
        }


def guests_reason(guests: int | None) -> Reason:
    if not guests:
        return Reason("guests", 0, "Party size not given")
    points = 20 if guests >= 20 else 16 if guests >= 12 else 12 if guests >= 8 else 6
    return Reason("guests", points, f"{guests} guests")


def timing_reason(event_date: date | None, today: date, *, min_notice_days: int) -> Reason:
    if event_date is None:
        return Reason("timing", 0, "No event date yet")
    days = (event_date - today).days
    if days < 0:
        return Reason("timing", 0, f"The date ({event_date:%d %b}) has passed")
    if days < min_notice_days:
        return Reason("timing", 2, f"In {days} days: inside the station's notice period")
    if days <= 56:
        return Reason("timing", 20, f"In {days} days: ready to book")
    if days <= 120:
        return Reason("timing", 12, f"In {days} days")
    return Reason("timing", 6, f"In {days} days: far off")


def availability_reason(station, event_date: date | None, guests: int | None, now) -> Reason:
    if station is None:
        return Reason("availability", 0, "No station serves this ZIP code")
    if event_date is None:
        return Reason("availability", 0, "No date to check")
    try:
        slots = scheduling.availability(
            station=station, start=event_date, end=event_date, guests=guests or 1, now=now
        )
    except ApiError:
        slots = []
    if not slots:
        return Reason("availability", 0, f"{event_date:%a %d %b}: no chef free for this party")
    return Reason("availability", 15, f"{event_date:%a %d %b}: {len(slots)} start times still free")


def completeness_reason(lead, *, zip_served: bool) -> Reason:
    have = {
        "phone": bool(lead.phone),
        "e-mail": bool(lead.email),
        "date": lead.event_date is not None,
        "guests": bool(lead.guests),
        "ZIP served": zip_served,
    }
    points = 3 * sum(have.values())
    missing = [name for name, present in have.items() if not present]
    detail = "Complete" if not missing else "Missing: " + ", ".join(missing)
    return Reason("completeness", points, detail)


def budget_reason(lead, station) -> Reason:
    if lead.budget_cents is None:
        return Reason("budget", 5, "No budget stated")
    if station is None or not lead.guests or not lead.zip_code:
        return Reason("budget", 5, "Budget stated; not enough detail to price the party")
    try:
        price = pricing.quote(
            station=station,
            event_date=lead.event_date or timezone.localdate(),
            adults=lead.guests,
            children=0,
            zip_code=lead.zip_code,
            addon_codes=[],
        )
    except ApiError:
        return Reason("budget", 5, "Budget stated; the party could not be priced")
    budget = format_money(lead.budget_cents, station.currency)
    total = format_money(price.total_cents, station.currency)
    if lead.budget_cents >= price.total_cents:
        return Reason("budget", 15, f"Budget {budget} covers the quote of {total}")
    if lead.budget_cents * 10 >= price.total_cents * 8:
        return Reason("budget", 9, f"Budget {budget} is within 20% of the quote of {total}")
    return Reason("budget", 0, f"Budget {budget} is well under the quote of {total}")


def source_reason(source: str) -> Reason:
    label = dict(LeadSource.choices).get(source, source)
    return Reason("source", SOURCE_POINTS.get(source, 4), f"Came in by {label.lower()}")


def engagement_reason(replied_after_contact: bool) -> Reason:
    if replied_after_contact:
        return Reason("engagement", 5, "Wrote back after our first contact")
    return Reason("engagement", 0, "No reply to our first contact yet")


def score(
    lead, *, station, zip_served: bool, replied: bool, now: datetime | None = None
) -> tuple[int, list[dict]]:
    """The lead's score and its reasons (as stored on the lead)."""
    now = now or timezone.now()
    today = scheduling.local_today(station, now) if station else timezone.localdate(now)
    min_notice_days = (station.min_notice_hours + 23) // 24 if station else 2
    reasons = [
        guests_reason(lead.guests),
        timing_reason(lead.event_date, today, min_notice_days=min_notice_days),
        availability_reason(station, lead.event_date, lead.guests, now),
        completeness_reason(lead, zip_served=zip_served),
        budget_reason(lead, station),
        source_reason(lead.source),
        engagement_reason(replied),
    ]
    total = max(0, min(100, sum(r.points for r in reasons)))
    return total, [r.as_dict() for r in reasons]


def stale_after(station, created_at: datetime, minutes: int) -> datetime:
    """When `minutes` of the station's opening hours have passed since `created_at` (a lead
    that came in at night is due `minutes` after opening). Opening and closing are wall-clock
    times in the station's zone; the arithmetic is in UTC, so a day that changes clocks has
    its real length."""
    tz = scheduling.station_tz(station)
    at = created_at.astimezone(UTC)
    left = timedelta(minutes=minutes)
    day = at.astimezone(tz).date()
    for _day in range(400):
        opens = datetime.combine(day, station.opening_time, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, station.closing_time, tzinfo=tz).astimezone(UTC)
        start = max(at, opens)
        if start < closes:
            if left <= closes - start:
                return start + left
            left -= closes - start
        day += timedelta(days=1)
    return created_at + timedelta(minutes=minutes)
