"""The admin calendar's data: a station's month grid and one day's chef lanes, local time."""

import calendar as pycalendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bookings import selectors
from bookings.models import ACTIVE_STATUSES, Booking, BookingStatus
from bookings.scheduling import station_tz
from stations.models import Chef, Station

DAY_START_HOUR = 9
DAY_END_HOUR = 24
VISIBLE_STATUSES = (*ACTIVE_STATUSES, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    bookings: list[Booking] = field(default_factory=list)


@dataclass
class Lane:
    chef: Chef
    blocks: list[dict] = field(default_factory=list)


def _bookings(user, station: Station, first: date, last: date):
    queryset = Booking.objects.filter(
        station=station, event_date__range=(first, last), status__in=VISIBLE_STATUSES
    ).select_related("chef", "customer")
    return selectors.bookings_for(user, queryset).order_by("starts_at")


def month_grid(user, station: Station, month: date) -> list[list[CalendarDay]]:
    """Weeks (Monday first) covering the month, each day with its bookings."""
    weeks = pycalendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    by_day = defaultdict(list)
    for booking in _bookings(user, station, weeks[0][0], weeks[-1][-1]):
        by_day[booking.event_date].append(booking)
    return [[CalendarDay(d, d.month == month.month, by_day[d]) for d in week] for week in weeks]


def day_lanes(user, station: Station, day: date) -> list[Lane]:
    """One lane per chef with positioned blocks (percent of the visible day) for the template."""
    tz = station_tz(station)
    lanes = {c.pk: Lane(c) for c in Chef.objects.filter(station=station, active=True)}
    window_start = datetime.combine(day, time(DAY_START_HOUR), tzinfo=tz)
    span = (DAY_END_HOUR - DAY_START_HOUR) * 60
    for booking in _bookings(user, station, day, day):
        lane = lanes.get(booking.chef_id) or lanes.setdefault(booking.chef_id, Lane(booking.chef))
        top = (booking.starts_at - window_start) / timedelta(minutes=1)
        height = (booking.ends_at - booking.starts_at) / timedelta(minutes=1)
        lane.blocks.append(
            {
                "booking": booking,
                "top": max(0.0, top / span * 100),
                "height": max(2.0, height / span * 100),
                "start": booking.starts_at.astimezone(tz),
                "end": booking.ends_at.astimezone(tz),
            }
        )
    return list(lanes.values())


def hours() -> list[int]:
    return list(range(DAY_START_HOUR, DAY_END_HOUR))
