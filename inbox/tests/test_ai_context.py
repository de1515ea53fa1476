"""The data drafts are written from (inbox.ai.context): every figure from the real services."""

from datetime import UTC, date, datetime

import pytest
from django.conf import settings

from bookings import pricing, scheduling
from bookings.models import BookingStatus, PriceList
from config.money import format_money
from inbox.ai import context
from testing.factories import StationFactory, make_booking

# A Friday afternoon in San Jose (the stations' zone is America/Los_Angeles).
NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


def test_station_facts_are_the_stations_data(san_jose):
    facts = context.station_facts(san_jose)
    prices = san_jose.price_list
    assert facts["name"] == "San Jose"
    assert facts["phone"] == san_jose.phone
    assert facts["email"] == san_jose.email
    assert facts["booking_url"] == settings.BOOKING_SITE_URL
    assert facts["prices"]["adult_cents"] == prices.adult_price_cents
    assert facts["prices"]["adult"] == format_money(prices.adult_price_cents)
    assert facts["minimums"]["weekend"] == format_money(prices.minimum_weekend_cents)
    assert f"Adult: {format_money(prices.adult_price_cents)} per person" in facts["menu"]
    assert "Lobster tail: $15.00 per person" in facts["menu"]
    assert "Gyoza (12 pieces): $18.00" in facts["menu"]  # a flat add-on
    zones = {zone["name"]: zone for zone in facts["zones"]}
    assert "95014" in zones["Santa Clara and Cupertino"]["zip_codes"]
    assert zones["Peninsula"]["travel_fee"] == "$50.00"
    assert facts["deposit"] == "A $100.00 deposit holds your date."
    assert "72 hours (3 days)" in facts["cancellation"]
    assert facts["reschedule"].endswith("otherwise a $50.00 change fee.")


def test_a_percent_deposit_and_a_station_without_prices(san_jose):
    PriceList.objects.filter(station=san_jose).update(deposit_kind="percent", deposit_bp=2500)
    san_jose.refresh_from_db()
    assert context.station_facts(san_jose)["deposit"] == (
        "A deposit of 25% of the total holds your date."
    )
    bare = StationFactory()
    facts = context.station_facts(bare)
    assert facts["prices"] is None
    assert facts["menu"] == []
    assert facts["deposit"] == ""


def _engine(station, day, adults, children=0, zip_code="95112"):
    return pricing.quote(
        station=station,
        event_date=day,
        adults=adults,
        children=children,
        zip_code=zip_code,
        addon_codes=[],
    )


def test_quote_for_is_the_quote_engines(san_jose):
    day = date(2026, 12, 12)  # a Saturday
    quote = context.quote_for(
        station=san_jose, adults=12, children=3, event_date=day, zip_code="94301", now=NOW
    )
    engine = _engine(san_jose, day, 12, 3, "94301")
    assert quote["total_cents"] == engine.total_cents
    assert quote["deposit_cents"] == engine.deposit_cents
    assert quote["travel_fee_cents"] == 5_000
    assert quote["travel_fee_included"]
    assert quote["total"] == format_money(engine.total_cents)
    assert quote["weekend"] is None
    assert quote["weekend_day"]


def test_quote_without_a_date_gives_weekday_and_weekend_when_they_differ(san_jose):
    # Two adults are below both minimums: the weekend's is higher.
    quote = context.quote_for(station=san_jose, adults=2, now=NOW)
    weekday = _engine(san_jose, date(2026, 11, 24), 2)  # a Tuesday, home zone (no fee)
    weekend = _engine(san_jose, date(2026, 11, 21), 2)
    assert quote["total_cents"] == weekday.total_cents
    assert quote["weekend"]["total_cents"] == weekend.total_cents != weekday.total_cents
    assert not quote["travel_fee_included"]
    # A big party is over both minimums: one figure.
    assert context.quote_for(station=san_jose, adults=30, now=NOW)["weekend"] is None


def test_no_quote_outside_the_area_or_without_prices(san_jose):
    assert context.quote_for(station=san_jose, adults=10, zip_code="10001", now=NOW) is None
    assert context.quote_for(station=san_jose, adults=0, children=4, now=NOW) is None
    assert context.quote_for(station=StationFactory(), adults=10, now=NOW) is None


def test_availability_on_is_live_availability(san_jose, django_capture_on_commit_callbacks):
    day = date(2026, 12, 2)
    slots = context.availability_on(station=san_jose, day=day, guests=10, now=NOW)
    expected = scheduling.availability(station=san_jose, start=day, end=day, guests=10, now=NOW)
    assert [s["start"] for s in slots] == [f"{s.start:%H:%M}" for s in expected]
    assert {"date": "2026-12-02", "start": "17:00"}.items() <= next(
        s for s in slots if s["start"] == "17:00"
    ).items()
    # Every chef booked at 5 PM: the slot is gone.
    with django_capture_on_commit_callbacks(execute=True):  # the cache hears of them
        for n in range(san_jose.chefs.filter(active=True).count()):
            make_booking(
                san_jose, event_date=day, start="17:00", now=NOW, customer__email=f"c{n}@x.com"
            )
    after = context.availability_on(station=san_jose, day=day, guests=10, now=NOW)
    starts = [s["start"] for s in after]
    assert "17:00" not in starts
    assert "11:00" in starts
    # Too big a party for online booking, or none at all: nothing offered.
    assert context.availability_on(station=san_jose, day=day, guests=500, now=NOW) == []


def test_customer_facts_list_upcoming_active_bookings(san_jose):
    booking = make_booking(san_jose, days=12, now=NOW, status=BookingStatus.CONFIRMED)
    make_booking(
        san_jose,
        days=14,
        now=NOW,
        customer=booking.customer,
        status=BookingStatus.CANCELLED,
    )
    facts = context.customer_facts(booking.customer, now=NOW)
    assert facts["name"] == booking.customer.name
    [row] = facts["bookings"]
    assert row["reference"] == booking.reference
    assert row["date"] == booking.event_date.isoformat()
    assert row["time"] == "17:00"
    assert row["total"] == format_money(booking.total_cents)
    assert row["balance_due_cents"] == booking.balance_due_cents
    assert context.customer_facts(None) == {"name": "", "bookings": []}


@pytest.mark.parametrize(
    ("text", "guests", "adults", "children"),
    [
        ("How much for 12 adults and 3 kids?", 15, 12, 3),
        ("party of 15 on the 20th", 15, 15, 0),
        ("we are 15 people", 15, 15, 0),
        ("precio para quince personas", 15, 15, 0),
        ("10 adultos y 4 niños", 14, 10, 4),
        ("how much 4 20 ppl", 20, 20, 0),
        ("table for twelve", 12, 12, 0),
        ("para una fiesta", None, None, None),
        ("for 2 hours", None, None, None),
        ("20人多少钱", 20, 20, 0),
    ],
)
def test_details_find_the_party(san_jose, text, guests, adults, children):
    found = context.details_in(text, station=san_jose, now=NOW)
    assert (found["guests"], found["adults"], found["children"]) == (guests, adults, children)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Are you free Dec 12?", date(2026, 12, 12)),
        ("what about 12/12", date(2026, 12, 12)),
        ("12/12/27 please", date(2027, 12, 12)),
        ("2027-01-09", date(2027, 1, 9)),
        ("next Saturday", date(2026, 11, 21)),
        ("this friday", date(2026, 11, 20)),  # today, a Friday
        ("next friday", date(2026, 11, 27)),
        ("the 20th", date(2026, 11, 20)),
        ("the 5th", date(2026, 12, 5)),  # past this month: next month's
        ("Jan 3rd", date(2027, 1, 3)),  # passed this year: next year's
        ("sábado 6 de junio", date(2027, 6, 6)),
        ("el 15 de agosto", date(2027, 8, 15)),
        ("tomorrow", date(2026, 11, 21)),
        ("mañana", date(2026, 11, 21)),
        ("how much for 20 people", None),
        ("may 10 people come?", None),
    ],
)
def test_details_find_the_date(san_jose, text, expected):
    assert context.details_in(text, station=san_jose, now=NOW)["date"] == expected


def test_dates_resolve_in_the_stations_zone(san_jose):
    # 07:00 UTC on Nov 21 is still the evening of Nov 20 in San Jose.
    late = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert context.details_in("tomorrow?", station=san_jose, now=late)["date"] == date(2026, 11, 21)


@pytest.mark.parametrize(
    ("text", "zip_code"),
    [
        ("Do you come to 95014?", "95014"),
        ("zip 95112-1234", "95112"),
        ("call me at 408-555-0142", None),
        ("call 4085550142", None),
        ("$12345 budget", None),
    ],
)
def test_details_find_the_zip(san_jose, text, zip_code):
    assert context.details_in(text, station=san_jose, now=NOW)["zip"] == zip_code
