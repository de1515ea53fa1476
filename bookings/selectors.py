"""Reads of the bookings domain that are more than one line."""

from django.db.models import Q, QuerySet

from bookings.models import Booking
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
