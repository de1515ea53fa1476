"""Station time in the back office: every date and time a person reads or types in the admin is
in a station's time zone, and named (DATETIME_FORMAT ends with the zone's abbreviation, see
config/formats).

The middleware activates, for each admin request, the zone of the user's stations (the first
by name when they span several zones) and always deactivates it afterwards. The admin base
then narrows it: a change page, its history and its delete page use the zone of the object's
station, and a list filtered to one station uses that station's zone. Input (a time-off form,
say) is interpreted in the zone the form is about, never the server's UTC.
"""

from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone

from stations import tenancy
from stations.models import Station


def zone_of(station: Station | None) -> ZoneInfo | None:
    return ZoneInfo(station.timezone) if station is not None else None


def _zones_by_station(request) -> dict[int, str]:
    cached = getattr(request, "_station_zones", None)
    if cached is None:
        ids = tenancy.station_ids_for(request.user)
        cached = dict(
            Station.objects.filter(pk__in=ids).order_by("name").values_list("pk", "timezone")
        )
        request._station_zones = cached
    return cached


def default_zone(request) -> ZoneInfo | None:
    """The zone of the user's stations (the first by name if they span several)."""
    zones = _zones_by_station(request)
    return ZoneInfo(next(iter(zones.values()))) if zones else None


def activate_for_station(request, station_id: int | None) -> None:
    """Show this request in the zone of one of the user's stations (others are ignored)."""
    name = _zones_by_station(request).get(station_id)
    if name:
        timezone.activate(ZoneInfo(name))


class StationTimezoneMiddleware:
    """Admin requests run in the user's station zone; nothing else (the API speaks UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._prefix = None

    def __call__(self, request):
        if self._prefix is None:
            self._prefix = reverse("admin:index")
        if not request.path.startswith(self._prefix):
            return self.get_response(request)
        try:
            if request.user.is_authenticated:
                zone = default_zone(request)
                if zone is not None:
                    timezone.activate(zone)
            return self.get_response(request)
        finally:
            timezone.deactivate()
