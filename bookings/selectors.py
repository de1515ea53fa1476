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
