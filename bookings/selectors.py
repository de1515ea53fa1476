"""Reads of the bookings domain that are more than one line."""

from django.db import connection
from django.db.models import Q, QuerySet

from bookings.models import Booking, PriceList
from stations import tenancy
from stations.models import Role, Station


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
    """An active station and, as `active_chef_ids`, its active chefs' ids: one query.

    Written in SQL because it runs on every availability request, the busiest public read,
    where compiling the equivalent ORM aggregate cost more than executing it."""
    rows = Station.objects.raw(
        "SELECT s.*, ARRAY(SELECT c.id FROM stations_chef c WHERE c.station_id = s.id "
        "AND c.active ORDER BY c.id) AS active_chef_ids "
        "FROM stations_station s WHERE s.slug = %s AND s.active",
        [slug],
    )
    return next(iter(rows), None)


def columns_sql(model, alias: str = "") -> str:
    """The model's concrete columns, in field order (the order instance_from_row reads)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{f.column}" for f in model._meta.concrete_fields)


def instance_from_row(model, values):
    """A model instance from a row of all its concrete fields, converted as the ORM would
    (JSON fields arrive as text)."""
    fields = model._meta.concrete_fields
    values = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


# Column names from the models' own metadata, not from input: nothing to inject.
_STATION_PRICED_SQL = (
    f"SELECT {columns_sql(Station, 's')}, {columns_sql(PriceList, 'p')} "  # noqa: S608
    "FROM stations_station s LEFT JOIN bookings_pricelist p ON p.station_id = s.id "
    "WHERE s.slug = %s AND s.active"
)


def active_station_priced(slug: str) -> Station | None:
    """An active station with its price list (`station.price_list`, which raises
    PriceList.DoesNotExist when it has none), in one query.

    Every quote and booking starts here. The SQL is built once from the models' fields: the
    ORM's select_related compiled the same ~60-column query on every request, which cost more
    than running it."""
    with connection.cursor() as cursor:
        cursor.execute(_STATION_PRICED_SQL, [slug])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(Station._meta.concrete_fields)
    station = instance_from_row(Station, row[:n])
    prices = None
    if row[n] is not None:
        prices = instance_from_row(PriceList, row[n:])
        prices._state.fields_cache["station"] = station
    station._state.fields_cache["price_list"] = prices
    return station
