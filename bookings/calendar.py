"""The admin calendar's data, in the station's local time: a station's month grid and one
day's chef lanes (bookings and time off), the bookings a chef's time off touches, and each
chef's state (free, busy, off) at a booking's time for the chef picker."""

import calendar as pycalendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bookings import scheduling, selectors
from bookings.models import ACTIVE_STATUSES, Booking, BookingStatus
from bookings.scheduling import station_tz
from stations import tenancy
from stations.models import Chef, Role, Station, TimeOff

DAY_START_HOUR = 9
DAY_END_HOUR = 24
EN_DASH = "\u2013"
VISIBLE_STATUSES = (*ACTIVE_STATUSES, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


# --- Times as people read them ---------------------------------------------------------------


def _clock(moment: datetime, *, with_meridiem: bool) -> str:
    hour = moment.hour % 12 or 12
    text = f"{hour}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}"
    if not with_meridiem:
        return text
    if moment.hour == 0 and moment.minute == 0:
        return "midnight"
    if moment.hour == 12 and moment.minute == 0:
        return "noon"
    return f"{text} {'a.m.' if moment.hour < 12 else 'p.m.'}"


def time_range_label(starts_at: datetime, ends_at: datetime, tz: ZoneInfo) -> str:
    """A span in the zone's wall-clock time, as the admin writes times: "5-8 p.m.",
    "11 a.m.-1:30 p.m.", "midnight-midnight" (with an en dash)."""
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    same_half = (start.hour < 12) == (end.hour < 12) and start.date() == end.date()
    plain = same_half and (start.hour, start.minute) not in ((0, 0), (12, 0))
    plain = plain and (end.hour, end.minute) not in ((0, 0), (12, 0))
    first = _clock(start, with_meridiem=not plain)
    return f"{first}{EN_DASH}{_clock(end, with_meridiem=True)}"


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local day starts and ends (23 or 25 hours across a clock change)."""
    return (
        datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC),
    )


# --- Month grid and day lanes ----------------------------------------------------------------


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    bookings: list[dict] = field(default_factory=list)
    time_off: list[str] = field(default_factory=list)


@dataclass
class Lane:
    chef: Chef
    blocks: list[dict] = field(default_factory=list)
    time_off: list[dict] = field(default_factory=list)


def _bookings(user, station: Station, first: date, last: date):
    queryset = Booking.objects.filter(
        station=station, event_date__range=(first, last), status__in=VISIBLE_STATUSES
    ).select_related("chef", "customer")
    return selectors.bookings_for(user, queryset).order_by("starts_at")


def _time_off(station: Station, lo: datetime, hi: datetime, chef_ids=None):
    queryset = TimeOff.objects.filter(
        chef__station=station, starts_at__lt=hi, ends_at__gt=lo
    ).select_related("chef")
    if chef_ids is not None:
        queryset = queryset.filter(chef_id__in=chef_ids)
    return queryset.order_by("starts_at")


def _first_name(chef: Chef) -> str:
    return chef.name.split()[0] if chef.name.split() else chef.name


def _off_label(time_off: TimeOff) -> str:
    reason = f" ({time_off.reason})" if time_off.reason else ""
    return f"{_first_name(time_off.chef)} off{reason}"


def month_grid(user, station: Station, month: date) -> list[list[CalendarDay]]:
    """Weeks (Monday first) covering the month, each day with its bookings (labelled in station
    time) and a line per chef off that day. A chef (the role) sees only their own events and
    their own time off."""
    tz = station_tz(station)
    weeks = pycalendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    first, last = weeks[0][0], weeks[-1][-1]
    by_day = defaultdict(list)
    for booking in _bookings(user, station, first, last):
        by_day[booking.event_date].append(
            {"booking": booking, "label": time_range_label(booking.starts_at, booking.ends_at, tz)}
        )
    offs = defaultdict(list)
    lo, hi = day_bounds(first, tz)[0], day_bounds(last, tz)[1]
    for time_off in _time_off(station, lo, hi, _visible_chefs(user, station)):
        day = max(time_off.starts_at.astimezone(tz).date(), first)
        while day <= last and day_bounds(day, tz)[0] < time_off.ends_at:
            offs[day].append(_off_label(time_off))
            day += timedelta(days=1)
    return [
        [CalendarDay(d, d.month == month.month, by_day[d], offs[d]) for d in week] for week in weeks
    ]


def _visible_chefs(user, station: Station) -> list[int] | None:
    """Whose time off the user sees on the calendar: everyone's (None), unless they are a chef
    (the role) at this station, who sees their own."""
    if tenancy.is_superuser(user) or station.pk not in tenancy.station_ids_for(
        user, roles=[Role.CHEF]
    ):
        return None
    return list(Chef.objects.filter(station=station, user=user).values_list("pk", flat=True))


def _position(lo: datetime, hi: datetime, window_start: datetime, span: float) -> dict:
    top = (lo - window_start) / timedelta(minutes=1)
    height = (hi - lo) / timedelta(minutes=1)
    top = max(0.0, top)
    return {"top": top / span * 100, "height": max(2.0, min(height, span - top) / span * 100)}


def day_lanes(user, station: Station, day: date) -> list[Lane]:
    """One lane per chef with positioned blocks (percent of the visible day) for the template:
    the bookings, and the chef's time off that day. Positions and labels in station time."""
    tz = station_tz(station)
    lanes = {c.pk: Lane(c) for c in Chef.objects.filter(station=station, active=True)}
    window_start = datetime.combine(day, time(DAY_START_HOUR), tzinfo=tz)
    span = (DAY_END_HOUR - DAY_START_HOUR) * 60
    for booking in _bookings(user, station, day, day):
        lane = lanes.get(booking.chef_id) or lanes.setdefault(booking.chef_id, Lane(booking.chef))
        lane.blocks.append(
            {
                "booking": booking,
                **_position(booking.starts_at, booking.ends_at, window_start, span),
                "start": booking.starts_at.astimezone(tz),
                "end": booking.ends_at.astimezone(tz),
                "label": time_range_label(booking.starts_at, booking.ends_at, tz),
            }
        )
    lo, hi = day_bounds(day, tz)  # the visible day ends at local midnight
    for time_off in _time_off(station, lo, hi, _visible_chefs(user, station)):
        lane = lanes.get(time_off.chef_id)
        if lane is None:
            continue  # an inactive chef has no lane
        start, end = max(time_off.starts_at, lo), min(time_off.ends_at, hi)
        if end <= window_start:
            continue
        when = "all day" if (start, end) == (lo, hi) else time_range_label(start, end, tz)
        lane.time_off.append(
            {
                "time_off": time_off,
                **_position(max(start, window_start), end, window_start, span),
                "label": f"Off {when}",
            }
        )
    return list(lanes.values())


def hours() -> list[int]:
    return list(range(DAY_START_HOUR, DAY_END_HOUR))


# --- A chef's time off and the chef picker -----------------------------------------------------


def bookings_during_time_off(user, time_off: TimeOff):
    """The chef's active bookings whose blocked time (event and buffers, what availability
    counts) overlaps the time off, soonest first, as the user may see them."""
    queryset = Booking.objects.filter(
        chef_id=time_off.chef_id,
        status__in=ACTIVE_STATUSES,
        blocked__overlap=(time_off.starts_at, time_off.ends_at),
    ).select_related("station", "customer", "chef")
    return selectors.bookings_for(user, queryset).order_by("starts_at")


def chef_states(booking: Booking) -> dict[int, str]:
    """For each active chef of the booking's station, what they are at its time: "assigned",
    "free", "off (reason)", "busy (MH-XXXX 5-8 p.m.)" or "busy (day is full)". Three
    queries whatever the number of chefs and bookings (the free-chef query of the booking
    write path, the overlapping bookings, the overlapping time off)."""
    station = booking.station
    tz = station_tz(station)
    window = scheduling.EventWindow(
        booking.starts_at, booking.ends_at, booking.blocked.lower, booking.blocked.upper
    )
    free = scheduling.free_chefs_for(
        station, window, booking.event_date, exclude_booking_id=booking.pk
    )
    lo, hi = window.blocked_from, window.blocked_to
    clashes = {}
    overlapping = (
        Booking.objects.filter(
            station=station,
            event_date__range=(
                lo.astimezone(tz).date() - timedelta(days=1),
                hi.astimezone(tz).date() + timedelta(days=1),
            ),
            status__in=ACTIVE_STATUSES,
            chef__isnull=False,
            blocked__overlap=(lo, hi),
        )
        .exclude(pk=booking.pk)
        .order_by("starts_at")
        .values_list("chef_id", "reference", "starts_at", "ends_at")
    )
    for chef_id, reference, starts_at, ends_at in overlapping:
        clashes.setdefault(
            chef_id, f"busy ({reference} {time_range_label(starts_at, ends_at, tz)})"
        )
    offs = {}
    for chef_id, reason in TimeOff.objects.filter(
        chef__station=station, starts_at__lt=hi, ends_at__gt=lo
    ).values_list("chef_id", "reason"):
        offs.setdefault(chef_id, f"off ({reason})" if reason else "off")
    states = {}
    for chef_id in set(free) | set(clashes) | set(offs):
        if chef_id == booking.chef_id:
            states[chef_id] = f"assigned, {offs[chef_id]}" if chef_id in offs else "assigned"
        elif chef_id in free:
            states[chef_id] = "free"
        else:
            states[chef_id] = offs.get(chef_id) or clashes[chef_id]
    return states


def chef_state_label(chef: Chef, states: dict[int, str], booking: Booking) -> str:
    """The picker's label: "Hiro Sato — free"; a chef missing from `states` has reached the
    station's daily number of events."""
    state = states.get(chef.pk)
    if state is None:
        state = "assigned" if chef.pk == booking.chef_id else "busy (day is full)"
    return f"{chef.name} — {state}"
