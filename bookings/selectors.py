"""Reads of the bookings domain that are more than one line."""

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet

from bookings import sql
from bookings.models import Booking, PriceList
from config.sql import instances_from_row
from stations import tenancy
from stations.models import Role, Station
from stations.validators import normalize_phone


def bookings_for(user, queryset: QuerySet | None = None) -> QuerySet:
    """The bookings a staff user may see: the tenancy rule, and at stations where the user is a
    chef, only the events assigned to them."""
    queryset = tenancy.scope(queryset if queryset is not None else Booking.objects.all(), user)
    if tenancy.is_superuser(user):
        return queryset
    chef_at = tenancy.station_ids_for(user, roles=[Role.CHEF])
    if not chef_at:
        return queryset
    return queryset.filter(~Q(station_id__in=chef_at) | Q(chef__user=user))


def booking_for_customer(reference: str) -> Booking | None:
    return (
        Booking.objects.select_related("station", "customer", "station__price_list")
        .filter(reference=reference.upper())
        .first()
    )


def active_station(slug: str) -> Station | None:
    return Station.objects.filter(slug=slug, active=True).first()


def active_station_with_chefs(slug: str) -> Station | None:
    """An active station and, as `active_chef_ids`, its active chefs' ids: one query
    (bookings.sql.ACTIVE_STATION_WITH_CHEFS, for the busiest public read)."""
    return next(iter(Station.objects.raw(sql.ACTIVE_STATION_WITH_CHEFS, [slug])), None)


def active_station_priced(slug: str) -> Station | None:
    """An active station with its price list (`station.price_list`, which raises
    PriceList.DoesNotExist when it has none), in one query (bookings.sql.STATION_PRICED:
    every quote and booking starts here)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.STATION_PRICED, [slug])
        row = cursor.fetchone()
    if row is None:
        return None
    station, prices = instances_from_row(row, Station, PriceList)
    if prices is not None:
        prices._state.fields_cache["station"] = station
    station._state.fields_cache["price_list"] = prices
    return station


def contact_match(value: str, *, prefix: str = "") -> Q:
    """Rows whose name or e-mail contains `value`, or whose phone is it typed any way (a whole
    number in any format, or at least three of its digits); `prefix` reaches the fields through
    a relation ("customer__")."""
    match = Q(**{f"{prefix}name__icontains": value}) | Q(**{f"{prefix}email__icontains": value})
    try:
        match |= Q(**{f"{prefix}phone": normalize_phone(value)})
    except ValidationError:
        digits = "".join(ch for ch in value if ch.isdigit())
        if len(digits) >= 3:
            match |= Q(**{f"{prefix}phone__contains": digits})
    return match
