"""The booking list's filters: when (in each station's own today), who cooks, who owes money.

"Today" is a local date, and stations can sit in different zones: each filter builds one
condition per station the user can see, from `bookings.scheduling.local_today(station)`, so at
4 p.m. in California "Today" is still today there, whatever the date is in UTC.
"""

from datetime import timedelta

from django.contrib import admin
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Greatest

from bookings.models import CALLED_OFF_STATUSES, BookingStatus
from bookings.scheduling import local_today
from stations import tenancy
from stations.admin_base import query_id
from stations.models import Chef, Role

# Statuses whose balance can still be owed: a hold, a confirmed event, an event that happened.
OWING_STATUSES = (BookingStatus.PENDING_DEPOSIT, BookingStatus.CONFIRMED, BookingStatus.COMPLETED)


def balance_due_sql():
    """`Booking.balance_due_cents` as a database expression (for filters and ordering): what
    is still owed, nothing for a called-off booking."""
    refunded = F("amount_refunded_cents") + F("amount_refund_pending_cents")
    net_paid = F("amount_paid_cents") - refunded
    return Case(
        When(status__in=CALLED_OFF_STATUSES, then=Value(0)),
        default=Greatest(Value(0), F("total_cents") - net_paid),
        output_field=IntegerField(),
    )


class WhenFilter(admin.SimpleListFilter):
    """Upcoming (the default), today, tomorrow, the next 7 days, past, or all: in each
    station's local date. Upcoming lists the soonest first, past the most recent first
    (BookingAdmin.get_ordering reads `ORDERS`)."""

    title = "when"
    parameter_name = "when"
    DEFAULT = "upcoming"
    CHOICES = [
        ("upcoming", "Upcoming"),
        ("today", "Today"),
        ("tomorrow", "Tomorrow"),
        ("week", "Next 7 days"),
        ("past", "Past"),
        ("all", "All"),
    ]
    ORDERS = {
        "past": ["-event_date", "-start_time"],
        "all": ["-event_date", "-start_time"],
    }
    SOONEST_FIRST = ["event_date", "start_time"]

    @classmethod
    def chosen(cls, request) -> str:
        """The choice in effect: the one asked for, else upcoming (else all, when the list is
        narrowed by the date drill-down, which must be able to reach past months)."""
        value = request.GET.get(cls.parameter_name)
        if value in dict(cls.CHOICES):
            return value
        if any(key.startswith("event_date__") for key in request.GET):
            return "all"
        return cls.DEFAULT

    @classmethod
    def ordering_for(cls, request) -> list[str]:
        return cls.ORDERS.get(cls.chosen(request), cls.SOONEST_FIRST)

    def lookups(self, request, model_admin):
        return self.CHOICES

    def _choice(self) -> str:
        value = self.value()
        return value if value in dict(self.CHOICES) else self.chosen(self.request)

    def choices(self, changelist):
        current = self._choice()
        counts = self.get_facet_queryset(changelist) if changelist.add_facets else None
        for i, (value, label) in enumerate(self.lookup_choices):
            if counts is not None:
                label = f"{label} ({counts.get(f'{i}__c', '-')})"
            yield {
                "selected": value == current,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        choice = self._choice()
        if choice == "all":
            return queryset
        condition = Q(pk__in=[])
        for station in tenancy.stations_for(request.user).only("pk", "timezone"):
            today = local_today(station)
            condition |= Q(station_id=station.pk) & self._dates(choice, today)
        return queryset.filter(condition)

    @staticmethod
    def _dates(choice: str, today) -> Q:
        return {
            "upcoming": Q(event_date__gte=today),
            "today": Q(event_date=today),
            "tomorrow": Q(event_date=today + timedelta(days=1)),
            "week": Q(event_date__gte=today, event_date__lt=today + timedelta(days=7)),
            "past": Q(event_date__lt=today),
        }[choice]


class ChefFilter(admin.SimpleListFilter):
    """The chefs of the user's stations (at a station where the user is a chef: their own
    name only, as the list shows them only their own events)."""

    title = "chef"
    parameter_name = "chef"

    def lookups(self, request, model_admin):
        chefs = tenancy.scope(Chef.objects.select_related("station"), request.user)
        chef_at = tenancy.station_ids_for(request.user, roles=[Role.CHEF])
        if chef_at and not tenancy.is_superuser(request.user):
            chefs = chefs.filter(~Q(station_id__in=chef_at) | Q(user=request.user))
        chefs = list(chefs.order_by("station__name", "name"))
        several = len({c.station_id for c in chefs}) > 1
        return [(c.pk, f"{c.name} ({c.station.name})" if several else c.name) for c in chefs]

    def queryset(self, request, queryset):
        chef_id = query_id(self.value())
        if chef_id is None:
            return queryset
        return queryset.filter(chef_id=chef_id)


class OutstandingFilter(admin.SimpleListFilter):
    """Bookings with a balance still due: on hold, confirmed or completed, and holding less
    than their total (the same rule as `Booking.balance_due_cents`)."""

    title = "money"
    parameter_name = "money"

    def lookups(self, request, model_admin):
        return [("outstanding", "Outstanding (balance due)"), ("settled", "Nothing due")]

    def queryset(self, request, queryset):
        value = self.value()
        if value not in ("outstanding", "settled"):
            return queryset
        owing = Q(status__in=OWING_STATUSES, _balance_due__gt=0)
        queryset = queryset.annotate(_balance_due=balance_due_sql())
        return queryset.filter(owing) if value == "outstanding" else queryset.exclude(owing)
