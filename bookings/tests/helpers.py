"""Builders shared by the bookings tests: a valid booking request for a day ahead."""

from datetime import timedelta

from django.utils import timezone

from bookings.scheduling import local_today


def future_date(station, days: int = 10):
    return local_today(station) + timedelta(days=days)


def next_weekday(station, weekday: int, *, at_least_days: int = 10) -> int:
    """Days from today to the first `weekday` (0 = Monday) at least `at_least_days` ahead: for
    tests whose prices depend on the weekday (weekend minimum), whatever day they run."""
    first = future_date(station, at_least_days)
    return at_least_days + (weekday - first.weekday()) % 7


def booking_payload(station, *, days: int = 10, start: str = "17:00", **overrides) -> dict:
    body = {
        "station": station.slug,
        "event_date": future_date(station, days).isoformat(),
        "start_time": start,
        "adults": 10,
        "children": 2,
        "addons": ["gyoza"],
        "address": {
            "line1": "1 Main St",
            "line2": "",
            "city": "San Jose",
            "state": "CA",
            "zip_code": "95112",
        },
        "customer": {
            "name": "Pat Customer",
            "email": "pat@example.com",
            "phone": "(408) 555-0142",
            "sms_opt_in": True,
        },
        "notes": "Backyard, gate code 1234",
    }
    body.update(overrides)
    return body


def now():
    return timezone.now()
