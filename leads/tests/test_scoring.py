"""The opening-hours clock of the stale-lead escalation, searched: whatever the moment a lead
comes in (nights, weekends, both clock changes) and whatever the target, exactly `minutes` of
opening hours lie between the lead and its due time."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from leads.scoring import stale_after
from stations.models import Station


def open_minutes_between(station, start: datetime, end: datetime) -> int:
    """Brute force: walk minute by minute and count the ones inside opening hours."""
    tz = ZoneInfo(station.timezone)
    count, at = 0, start
    while at < end:
        local = at.astimezone(tz).time()
        if station.opening_time <= local < station.closing_time:
            count += 1
        at += timedelta(minutes=1)
    return count


STATION = Station(
    slug="x",
    name="X",
    timezone="America/Los_Angeles",
    opening_time=time(9, 0),
    closing_time=time(21, 0),
)
NIGHT_OWL = Station(
    slug="y",
    name="Y",
    timezone="America/Los_Angeles",
    opening_time=time(0, 0),
    closing_time=time(23, 59),
)

moments = st.datetimes(
    min_value=datetime(2026, 3, 6),  # around the spring change (8 Mar)
    max_value=datetime(2026, 3, 10),
    timezones=st.just(UTC),
) | st.datetimes(
    min_value=datetime(2026, 10, 30),  # and the autumn one (1 Nov)
    max_value=datetime(2026, 11, 3),
    timezones=st.just(UTC),
)


@settings(max_examples=60, deadline=None)
@given(
    created=moments,
    minutes=st.integers(min_value=1, max_value=900),
    station=st.sampled_from([STATION, NIGHT_OWL]),
)
def test_exactly_the_target_of_opening_hours_passes(created, minutes, station):
    created = created.replace(second=0, microsecond=0)
    due = stale_after(station, created, minutes)
    assert due > created
    assert open_minutes_between(station, created, due) == minutes
    # and not a minute earlier
    assert open_minutes_between(station, created, due - timedelta(minutes=1)) == minutes - 1


def test_a_lead_at_night_is_due_after_opening():
    created = datetime(2026, 3, 5, 7, 30, tzinfo=UTC)  # 23:30 PST
    assert stale_after(STATION, created, 15) == datetime(2026, 3, 5, 17, 15, tzinfo=UTC)
