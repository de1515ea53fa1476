"""A clock that moves: quiet hours whose end falls in the hour the clocks repeat or skip."""

from datetime import UTC, datetime, time

import pytest

from inbox.compliance import quiet_until
from stations.models import Station


def station(start: time, end: time) -> Station:
    return Station(timezone="America/Los_Angeles", quiet_hours_start=start, quiet_hours_end=end)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # 2027-11-07, Los Angeles falls back at 02:00 PDT to 01:00 PST: 01:00-02:00 twice.
        (datetime(2027, 11, 7, 7, 0, tzinfo=UTC), datetime(2027, 11, 7, 8, 30, tzinfo=UTC)),
        # 01:45 PDT, the first pass: past the end, not quiet (below).
        # 01:10 PST, the second pass: quiet again until 01:30 PST, not until 01:30 PDT, which
        # has already passed.
        (datetime(2027, 11, 7, 9, 10, tzinfo=UTC), datetime(2027, 11, 7, 9, 30, tzinfo=UTC)),
        # 2027-03-14 spring forward: 01:10 PST, quiet until 01:30 PST.
        (datetime(2027, 3, 14, 9, 10, tzinfo=UTC), datetime(2027, 3, 14, 9, 30, tzinfo=UTC)),
    ],
)
def test_quiet_hours_end_in_the_future_across_daylight_saving(now, until):
    assert quiet_until(station(time(21), time(1, 30)), now) == until


def test_the_first_pass_past_the_end_is_not_quiet():
    assert (
        quiet_until(station(time(21), time(1, 30)), datetime(2027, 11, 7, 8, 45, tzinfo=UTC))
        is None
    )


def test_an_end_the_clocks_skip_is_the_instant_after_the_gap():
    # 02:30 does not exist on 2027-03-14 in Los Angeles: quiet until 03:30 PDT (10:30 UTC).
    got = quiet_until(station(time(21), time(2, 30)), datetime(2027, 3, 14, 7, 0, tzinfo=UTC))
    assert got == datetime(2027, 3, 14, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize("hour", range(24))
def test_quiet_until_is_never_now_or_earlier(hour):
    now = datetime(2027, 11, 7, hour, 10, tzinfo=UTC)
    for end in (time(1, 0), time(1, 30), time(2, 0), time(9, 0)):
        until = quiet_until(station(time(21), end), now)
        assert until is None or until > now
