"""The back office's working lists (reads only): a station's board (today's events, the rest of
this week's, unpaid holds about to expire) and a chef's week. Every list goes through the
tenancy rule (`selectors.bookings_for`), and each is a fixed number of queries, however many
events there are (the chef, the customer and the station come with each booking).

"Today" is the station's local today (the chef's station's, for a chef's week).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import quote

from django.db.models import QuerySet
from django.utils import timezone

from bookings import selectors
from bookings.models import ACTIVE_STATUSES, Booking, BookingStatus
from bookings.scheduling import local_today
from stations import tenancy
from stations.models import Chef, Station

# What a working list shows: what is on, and what happened (not what was called off).
BOARD_STATUSES = (*ACTIVE_STATUSES, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
HOLD_WARNING = timedelta(hours=24)
AGENDA_DAYS = 7
MAPS_SEARCH = "https://www.google.com/maps/search/?api=1&query="


@dataclass
class Day:
    day: date
    bookings: list[Booking] = field(default_factory=list)


@dataclass
class Board:
    station: Station
    today: date
    last_day: date
    days: list[Day]
    expiring_holds: list[Booking]

    @property
    def today_bookings(self) -> list[Booking]:
        return self.days[0].bookings

    @property
    def later_days(self) -> list[Day]:
        return self.days[1:]


def board_stations(user) -> list[Station]:
    """The stations whose board the user may read: where they are staff (owner, manager,
    agent); all of them for a superuser."""
    return list(tenancy.stations_for(user, roles=tenancy.STAFF_WRITE_ROLES).order_by("name"))


def pick_station(stations: list[Station], wanted) -> Station | None:
    """The station among `stations` whose id is `wanted` (text or int), else the first."""
    wanted = str(wanted or "")
    return next((s for s in stations if str(s.pk) == wanted), stations[0] if stations else None)


def _with_relations(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("chef", "customer", "station")


def _by_day(bookings, first: date, last: date) -> list[Day]:
    days = {
        first + timedelta(days=n): Day(first + timedelta(days=n))
        for n in range(0, 1 + (last - first).days)
    }
    for booking in bookings:
        days[booking.event_date].bookings.append(booking)
    return list(days.values())


def station_board(user, station: Station, now: datetime | None = None) -> Board:
    """Today's events at the station and the rest of this week's (to Sunday), and its unpaid
    holds that expire within the next 24 hours, soonest first. Two queries."""
    now = now or timezone.now()
    today = local_today(station, now)
    last_day = today + timedelta(days=6 - today.weekday())
    events = _with_relations(
        Booking.objects.filter(
            station=station, event_date__range=(today, last_day), status__in=BOARD_STATUSES
        )
    )
    holds = _with_relations(
        Booking.objects.filter(
            station=station,
            status=BookingStatus.PENDING_DEPOSIT,
            hold_expires_at__gt=now,
            hold_expires_at__lte=now + HOLD_WARNING,
        )
    )
    return Board(
        station=station,
        today=today,
        last_day=last_day,
        days=_by_day(
            selectors.bookings_for(user, events).order_by("starts_at", "pk"), today, last_day
        ),
        expiring_holds=list(selectors.bookings_for(user, holds).order_by("hold_expires_at")),
    )


# --- The chef's week -------------------------------------------------------------------------


@dataclass
class Agenda:
    chef: Chef
    first_day: date
    last_day: date
    today: date
    days: list[Day]

    @property
    def next_week(self) -> date:
        return self.first_day + timedelta(days=AGENDA_DAYS)

    @property
    def previous_week(self) -> date | None:
        """The week before, unless it would start before today (the agenda looks ahead)."""
        earlier = self.first_day - timedelta(days=AGENDA_DAYS)
        return max(earlier, self.today) if self.first_day > self.today else None

    @property
    def count(self) -> int:
        return sum(len(day.bookings) for day in self.days)


def chef_of(user) -> Chef | None:
    """The chef row linked to this login, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Chef.objects.select_related("station").filter(user=user).first()


def chef_week(user, chef: Chef, first_day: date | None = None, now=None) -> Agenda:
    """The chef's events from `first_day` (default: today at their station) for seven days,
    soonest first: only events assigned to this chef, at stations the user may see. One query.
    """
    today = local_today(chef.station, now)
    first_day = first_day or today
    last_day = first_day + timedelta(days=AGENDA_DAYS - 1)
    events = _with_relations(
        Booking.objects.filter(
            chef=chef, event_date__range=(first_day, last_day), status__in=BOARD_STATUSES
        )
    )
    events = selectors.bookings_for(user, events).order_by("starts_at", "pk")
    return Agenda(
        chef=chef,
        first_day=first_day,
        last_day=last_day,
        today=today,
        days=_by_day(events, first_day, last_day),
    )


def address_text(booking: Booking) -> str:
    parts = [booking.address_line1, booking.address_line2, booking.city]
    return ", ".join(p for p in [*parts, f"{booking.state} {booking.zip_code}".strip()] if p)


def map_url(booking: Booking) -> str:
    """A Google Maps search for the event's address."""
    return MAPS_SEARCH + quote(address_text(booking), safe="")
