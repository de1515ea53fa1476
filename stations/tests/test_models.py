"""Model rules of the stations app that hold whichever screen or endpoint writes the row."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from stations.models import Membership, Role, ServiceZone, Station, TimeOff
from testing.factories import (
    ChefFactory,
    MembershipFactory,
    ServiceZoneFactory,
    StationFactory,
    TimeOffFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]


def errors_of(obj) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        obj.full_clean()
    return excinfo.value.message_dict


def test_a_valid_station_passes():
    StationFactory.build(phone="+14085550100").full_clean()


@pytest.mark.parametrize("tz", ["PST", "America/San_Jose", "pacific", ""])
def test_station_rejects_non_iana_timezones(tz):
    assert "timezone" in errors_of(StationFactory.build(timezone=tz))


@pytest.mark.parametrize("currency", ["usd", "US", "USDD", "U$D"])
def test_station_rejects_currencies_not_in_iso_capitals(currency):
    assert "currency" in errors_of(StationFactory.build(currency=currency))


@pytest.mark.parametrize("phone", ["408-555-0100", "+1408555010", "call us"])
def test_station_rejects_phones_not_in_e164(phone):
    assert "phone" in errors_of(StationFactory.build(phone=phone))


def test_station_rejects_latest_start_before_earliest():
    station = StationFactory.build(earliest_start=time(18), latest_start=time(12))
    assert "latest_start" in errors_of(station)


def test_station_start_window_is_in_whole_minutes():
    station = StationFactory.build(earliest_start=time(11, 0, 30), latest_start=time(20, 0, 0, 5))
    assert {"earliest_start", "latest_start"} <= set(errors_of(station))
    StationFactory.build(earliest_start=time(11, 15), latest_start=time(20, 45)).full_clean()


def test_station_allows_a_single_start_time():
    StationFactory.build(earliest_start=time(18), latest_start=time(18)).full_clean()


@pytest.mark.parametrize(
    "rules",
    [
        [],
        {"max_guests": 15, "minutes": 120},
        [{"max_guests": 15}],
        [{"minutes": 120}],
        [{"max_guests": 30, "minutes": 150}, {"max_guests": 15, "minutes": 120}],
        [{"max_guests": 15, "minutes": 0}],
        [{"max_guests": 15, "minutes": -30}],
        [{"max_guests": "many", "minutes": 120}],
        ["120"],
    ],
)
def test_station_rejects_bad_duration_rules(rules):
    assert "duration_rules" in errors_of(StationFactory.build(duration_rules=rules))


@pytest.mark.parametrize(
    ("guests", "minutes"),
    [(1, 120), (15, 120), (16, 150), (30, 150), (31, 180), (60, 180), (200, 180)],
)
def test_event_minutes_for_uses_the_first_tier_that_fits(guests, minutes):
    assert StationFactory.build().event_minutes_for(guests) == minutes


def test_event_minutes_for_custom_tiers():
    station = StationFactory.build(
        duration_rules=[{"max_guests": 10, "minutes": 90}, {"max_guests": 40, "minutes": 210}]
    )
    assert [station.event_minutes_for(n) for n in (10, 11, 41)] == [90, 210, 210]


def test_station_slug_is_unique():
    StationFactory(slug="twin")
    with pytest.raises(IntegrityError), transaction.atomic():
        Station.objects.create(slug="twin", name="Twin")


# --- service zones -------------------------------------------------------------------------


def test_zone_rejects_a_zip_already_in_another_zone_of_the_station():
    zone = ServiceZoneFactory(zip_codes=["95110", "95112"])
    other = ServiceZone(station=zone.station, name="Other", zip_codes=["95200", "95112"])
    errors = errors_of(other)
    assert zone.name in errors["zip_codes"][0]


def test_zone_allows_the_same_zip_at_another_station():
    zone = ServiceZoneFactory(zip_codes=["95110"])
    ServiceZone(station=StationFactory(), name="Other", zip_codes=["95110"]).full_clean()
    zone.full_clean()  # and a zone does not overlap with itself


@pytest.mark.parametrize("zip_code", ["9511", "951100", "abcde"])
def test_zone_rejects_malformed_zip_codes(zip_code):
    zone = ServiceZone(station=StationFactory(), name="Z", zip_codes=[zip_code])
    assert "zip_codes" in errors_of(zone)


# --- memberships, chefs, time off ----------------------------------------------------------


def test_one_membership_per_user_and_station():
    membership = MembershipFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=membership.user, station=membership.station, role=Role.AGENT)


def test_time_off_must_end_after_it_starts_in_the_database():
    chef = ChefFactory()
    start = timezone.now()
    for end in (start, start - timedelta(hours=1)):
        with pytest.raises(IntegrityError), transaction.atomic():
            TimeOff.objects.create(chef=chef, starts_at=start, ends_at=end)
    assert not TimeOff.objects.exists()


def test_time_off_clean_explains_the_rule():
    start = timezone.now()
    time_off = TimeOffFactory.build(chef=ChefFactory(), starts_at=start, ends_at=start)
    assert "ends_at" in errors_of(time_off)


def test_str_of_the_models():
    time_off = TimeOffFactory(
        chef=ChefFactory(name="Kenji", station=StationFactory(name="San Jose")),
        starts_at=datetime(2025, 7, 4, 12, tzinfo=UTC),
        ends_at=datetime(2025, 7, 6, 12, tzinfo=UTC),
    )
    assert str(time_off) == "Kenji: 2025-07-04 to 2025-07-06"
    membership = MembershipFactory(station=time_off.chef.station, role=Role.OWNER)
    assert str(membership) == f"{membership.user} — Owner at San Jose"
