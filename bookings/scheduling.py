"""
Time arithmetic and availability. Everything a person reads is in the station's local time;
instants are aware UTC. Local times that do not exist (the spring-forward gap) are never offered;
an event's length is real elapsed time, so an evening event on a DST-change day is still, say,
two hours long.

Availability reads three small result sets (chefs, their busy intervals, their time off) once
for the whole range and sweeps the slots in memory, so its cost in queries does not grow with
the number of days.
"""

import json
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from time import time_ns
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from bookings import sql
from bookings.models import ACTIVE_STATUSES, Booking
from config.cache import fail_soft
from stations import availability as availability_version
from stations.models import Chef, Station, TimeOff

MAX_RANGE_DAYS = 62
CACHE_SECONDS = 120


@dataclass(frozen=True)
class EventWindow:
    starts_at: datetime
    ends_at: datetime
    blocked_from: datetime
    blocked_to: datetime


@dataclass(frozen=True)
class Slot:
    date: date
    start: time
    end: time
    chefs_available: int


def station_tz(station: Station) -> ZoneInfo:
    return ZoneInfo(station.timezone)


def local_instant(station: Station, day: date, at: time) -> datetime | None:
    """The aware instant of a local wall-clock time, or None when that time does not exist."""
    tz = station_tz(station)
    candidate = datetime.combine(day, at, tzinfo=tz)
    if candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != candidate.replace(
        tzinfo=None
    ):
        return None  # inside the spring-forward gap
    return candidate


def event_window(station: Station, starts_at: datetime, guests: int) -> EventWindow:
    """The event and the chef's blocked time around it, in real elapsed time: the arithmetic is
    done in UTC (Python adds timedeltas to zone-aware datetimes in wall-clock time, which is
    an hour off across a daylight-saving change)."""
    start = starts_at.astimezone(UTC)
    ends_at = start + timedelta(minutes=station.event_minutes_for(guests))
    buffer = timedelta(minutes=station.buffer_minutes)
    return EventWindow(start, ends_at, start - buffer, ends_at + buffer)


def start_times(station: Station) -> list[time]:
    """The offered start times of a day: earliest to latest start, every slot interval."""
    step = station.slot_interval_minutes
    first = station.earliest_start.hour * 60 + station.earliest_start.minute
    last = station.latest_start.hour * 60 + station.latest_start.minute
    return [time(m // 60, m % 60) for m in range(first, last + 1, step)]


def local_today(station: Station, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(station_tz(station)).date()


class BusyIndex:
    """Each chef's taken intervals as epoch seconds, searchable in O(log n): sorted starts and a
    running maximum of ends. (Floats, not datetimes: comparing aware datetimes is ten times
    slower and this runs thousands of times per availability request.)"""

    def __init__(self, intervals: dict[int, list[tuple[datetime, datetime]]]):
        self._starts: dict[int, list[float]] = {}
        self._max_ends: dict[int, list[float]] = {}
        for chef_id, spans in intervals.items():
            stamps = sorted((lo.timestamp(), hi.timestamp()) for lo, hi in spans)
            self._starts[chef_id] = [lo for lo, _ in stamps]
            self._max_ends[chef_id] = list(accumulate((hi for _, hi in stamps), max))

    def is_free(self, chef_id: int, lo: float, hi: float) -> bool:
        """True when nothing of the chef's overlaps [lo, hi) (epoch seconds)."""
        starts = self._starts.get(chef_id)
        if not starts:
            return True
        before = bisect_left(starts, hi)  # intervals starting before our end
        return before == 0 or self._max_ends[chef_id][before - 1] <= lo


def load_busy(
    station: Station,
    chef_ids: list[int],
    lo: datetime,
    hi: datetime,
    *,
    exclude_booking_id: int | None = None,
) -> tuple[BusyIndex, Counter]:
    """Busy intervals (bookings with buffers, time off) of these chefs between lo and hi, and
    the number of active bookings per (chef, local event date). Two queries.

    The event-date bounds (a day of slack each side for buffers across midnight) let PostgreSQL
    use the (station, event_date) index instead of testing every booking's range."""
    intervals: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    per_day: Counter = Counter()
    tz = station_tz(station)
    bookings = Booking.objects.filter(
        station=station,
        event_date__range=(
            lo.astimezone(tz).date() - timedelta(days=1),
            hi.astimezone(tz).date() + timedelta(days=1),
        ),
        chef_id__in=chef_ids,
        status__in=ACTIVE_STATUSES,
        blocked__overlap=(lo, hi),
    )
    if exclude_booking_id is not None:
        bookings = bookings.exclude(pk=exclude_booking_id)
    for chef_id, blocked, event_date in bookings.values_list("chef_id", "blocked", "event_date"):
        intervals[chef_id].append((blocked.lower, blocked.upper))
        per_day[chef_id, event_date] += 1
    time_off = TimeOff.objects.filter(chef_id__in=chef_ids, starts_at__lt=hi, ends_at__gt=lo)
    for chef_id, starts_at, ends_at in time_off.values_list("chef_id", "starts_at", "ends_at"):
        intervals[chef_id].append((starts_at, ends_at))
    return BusyIndex(intervals), per_day


def free_chefs_for(
    station: Station,
    window: EventWindow,
    event_date: date,
    *,
    exclude_booking_id: int | None = None,
    exclude_chef_id: int | None = None,
    only_chef_id: int | None = None,
) -> dict[int, int]:
    """The station's active chefs free for the window and under the daily cap on event_date,
    with their number of active events that day, in one query (bookings.sql.CHEF_DAY): the
    booking-write path. (The rules are those availability applies over many days with
    load_busy and _compute_days: the blocked ranges overlap half-open, time off overlaps, the
    cap counts active bookings by local event date.)"""
    tz = station_tz(station)
    params = {
        "station": station.pk,
        "day": event_date,
        "active": list(ACTIVE_STATUSES),
        "exclude": exclude_booking_id or -1,
        "exclude_chef": exclude_chef_id or -1,
        "only_chef": only_chef_id,
        # the bookings of the day and a day each side (buffers across midnight), through the
        # (station, event_date) index; the day's count and the overlap test run on those rows
        "first": window.blocked_from.astimezone(tz).date() - timedelta(days=1),
        "last": window.blocked_to.astimezone(tz).date() + timedelta(days=1),
        "lo": window.blocked_from,
        "hi": window.blocked_to,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.CHEF_DAY, params)
        rows = cursor.fetchall()
    cap = station.max_events_per_chef_per_day
    return {chef_id: events for chef_id, events, free in rows if free and events < cap}


def active_chef_ids(station: Station) -> list[int]:
    return list(
        Chef.objects.filter(station=station, active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def bookable_window(station: Station, now: datetime | None = None) -> tuple[datetime, date]:
    """The earliest instant a new event may start (notice) and the last bookable local date."""
    now = now or timezone.now()
    return (
        now + timedelta(hours=station.min_notice_hours),
        local_today(station, now) + timedelta(days=station.booking_horizon_days),
    )


_version_key = availability_version.version_key  # one version per station, owned by stations


def availability_changed(station_id: int) -> None:
    """Invalidate the station's cached availability (bookings, chefs or time off changed);
    see stations.availability.bump for what happens when the cache is unreachable."""
    availability_version.bump(station_id)


# Bump when the shape of a cached day changes, so a deploy never reads the old shape.
CACHE_FORMAT = 3
COMPACT = (",", ":")  # the JSON separators of DRF's renderer


def _day_key(station_id: int, event_seconds: int, day: date) -> str:
    return f"availability{CACHE_FORMAT}:{station_id}:{event_seconds}:{day.isoformat()}"


def _compute_days(
    station: Station, chef_ids: list[int], days: list[date], event_seconds: int
) -> dict[date, list[tuple[float, str]]]:
    """Per local day, every start time with at least one free chef as (start instant, the
    slot as the API shows it, JSON-encoded), before the notice and horizon filters (they
    move with time)."""
    tz = station_tz(station)
    result: dict[date, list[tuple[float, str]]] = {day: [] for day in days}
    if not chef_ids:
        return result
    span_lo = datetime.combine(min(days) - timedelta(days=1), time(), tzinfo=tz)
    span_hi = datetime.combine(max(days) + timedelta(days=2), time(), tzinfo=tz)
    busy, per_day = load_busy(station, chef_ids, span_lo, span_hi)
    times = start_times(station)
    buffer_seconds = station.buffer_minutes * 60
    cap = station.max_events_per_chef_per_day
    for day in days:
        chefs_today = [c for c in chef_ids if per_day[c, day] < cap]
        rows = result[day]
        iso_day = day.isoformat()
        for at in times:
            starts_at = local_instant(station, day, at)
            if starts_at is None:
                continue
            begin = starts_at.timestamp()
            lo, hi = begin - buffer_seconds, begin + event_seconds + buffer_seconds
            count = sum(1 for chef_id in chefs_today if busy.is_free(chef_id, lo, hi))
            if count:
                ends = datetime.fromtimestamp(begin + event_seconds, tz)  # real elapsed time
                slot = {
                    "date": iso_day,
                    "start": f"{at:%H:%M}",
                    "end": f"{ends:%H:%M}",
                    "chefs_available": count,
                }
                rows.append((begin, json.dumps(slot, separators=COMPACT)))
    return result


def available_slots_json(
    *,
    station: Station,
    start: date,
    end: date,
    guests: int,
    now: datetime | None = None,
    chef_ids: list[int] | None = None,
) -> list[str]:
    """Bookable slots from start to end (inclusive, local dates) for a party of `guests`, each
    JSON-encoded as the API shows it: {"date", "start": "HH:MM", "end": "HH:MM",
    "chefs_available"}. (Encoded once when computed, because this is the busiest public read
    and a 30-day answer holds ~600 slots.)

    Each day's slots are cached with the version they were computed under: the station's
    availability counter (bumped by every write that moves a chef's time: bookings, chefs and
    time off through the services and the admin), its rules' timestamp and its active chefs.
    The counter and the days are read in one round trip; a day from another version is
    recomputed, so a change shows at once. Entries also expire after CACHE_SECONDS, a safety
    net for edits made outside those paths. The notice and horizon filters run on every read.
    With the cache unreachable every day is computed (config.cache.fail_soft).
    Pass `chef_ids` (the station's active chefs, by id) when already known, to save a query."""
    earliest, last_day = bookable_window(station, now)
    start = max(start, local_today(station, now))  # nothing in the past is bookable anyway
    end = min(end, last_day)
    if end < start:
        return []
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    event_seconds = station.event_minutes_for(guests) * 60
    if chef_ids is None:
        chef_ids = active_chef_ids(station)
    counter_key = _version_key(station.pk)
    keys = {day: _day_key(station.pk, event_seconds, day) for day in days}
    found = fail_soft.get_many([counter_key, *keys.values()])
    counter = found.get(counter_key)
    if counter is None:
        counter = time_ns()
        fail_soft.add(counter_key, counter, timeout=None)
    rules = station.updated_at.timestamp() if station.updated_at else 0
    version = f"{counter}:{rules}:{','.join(map(str, chef_ids))}"
    rows_by_day = {}
    for day, key in keys.items():
        entry = found.get(key)
        if entry is not None and entry[0] == version:
            rows_by_day[day] = entry[1]
    missing = [day for day in days if day not in rows_by_day]
    if missing:
        computed = _compute_days(station, chef_ids, missing, event_seconds)
        fail_soft.set_many(
            {keys[d]: (version, rows) for d, rows in computed.items()}, CACHE_SECONDS
        )
        rows_by_day.update(computed)

    earliest_ts = earliest.timestamp()
    return [slot for day in days for begin, slot in rows_by_day[day] if begin >= earliest_ts]


def availability(
    *, station: Station, start: date, end: date, guests: int, now: datetime | None = None
) -> list[Slot]:
    """available_slots_json() as Slot objects (dates and times), for code computing with them."""
    slots = map(
        json.loads,
        available_slots_json(station=station, start=start, end=end, guests=guests, now=now),
    )
    return [
        Slot(
            date.fromisoformat(slot["date"]),
            time.fromisoformat(slot["start"]),
            time.fromisoformat(slot["end"]),
            slot["chefs_available"],
        )
        for slot in slots
    ]
