"""
Every station-owned model in the admin is scoped by the tenancy rule and tested by the matrix.

A model is station-owned when its foreign keys lead to Station (DESIGN.md §3: a row belongs to a
station directly or through its parent). Such a model, registered in the admin, must
- be known to `stations.tenancy` (a `station` foreign key, or STATION_PATH naming the way),
- have a ModelAdmin built on StationScopedAdmin, and inlines of station-owned rows built on
  StationScopedInline, so lists, forms, choices, search and actions go through `tenancy.scope`,
- have rules in the access matrix (test_access_matrix.ADMIN_EXPECTED) and a builder there
  (BUILDERS) that makes one row at each station, so the matrix checks it across stations.
The checks read the admin's registry and the matrix's tables, not the source text.
"""

from collections import deque

import pytest
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model

from bookings.admin import BookingAdmin
from bookings.models import Booking, BookingEvent
from config.models import ApiToken
from payments.models import Refund
from stations import tenancy
from stations.admin_base import StationScopedAdmin, StationScopedInline
from stations.models import ServiceZone, Station

from .test_access_matrix import ADMIN_EXPECTED, BUILDERS, World


def path_to_station(model: type[Model]) -> str | None:
    """The shortest chain of foreign keys from `model` to Station ("" for Station itself,
    None when there is none)."""
    queue, seen = deque([(model, "")]), {model}
    while queue:
        current, path = queue.popleft()
        if issubclass(current, Station):
            return path
        for field in current._meta.get_fields():
            target = field.related_model
            if not (field.concrete and (field.many_to_one or field.one_to_one)) or target in seen:
                continue
            seen.add(target)
            queue.append((target, f"{path}__{field.name}" if path else field.name))
    return None


def leads_to_station(model: type[Model], path: str) -> bool:
    for name in filter(None, path.split("__")):
        try:
            model = model._meta.get_field(name).related_model
        except FieldDoesNotExist:
            return False
        if model is None:
            return False
    return issubclass(model, Station)


def station_owned_admins(site: admin.AdminSite) -> dict[str, admin.ModelAdmin]:
    return {
        model._meta.label_lower: model_admin
        for model, model_admin in site._registry.items()
        if path_to_station(model) is not None
    }


def scoping_problems(site: admin.AdminSite) -> list[str]:
    """What is wrong with the station-owned admins of `site`, one line each."""
    problems = []
    for label, model_admin in sorted(station_owned_admins(site).items()):
        model = model_admin.model
        if not tenancy.is_station_owned(model):
            problems.append(
                f"{label}: reaches Station by {path_to_station(model)}, but tenancy cannot "
                "tell: give it STATION_PATH"
            )
        elif not leads_to_station(model, tenancy.station_path(model)):
            problems.append(
                f"{label}: STATION_PATH {tenancy.station_path(model)!r} does not lead to Station"
            )
        if not isinstance(model_admin, StationScopedAdmin):
            problems.append(f"{label}: {type(model_admin).__name__} is not a StationScopedAdmin")
        for inline in model_admin.inlines:
            if path_to_station(inline.model) is not None and not issubclass(
                inline, StationScopedInline
            ):
                problems.append(f"{label}: inline {inline.__name__} is not a StationScopedInline")
        if label not in ADMIN_EXPECTED:
            problems.append(f"{label}: no rules in the access matrix (ADMIN_EXPECTED)")
        if label not in BUILDERS:
            problems.append(f"{label}: no builder in the access matrix (BUILDERS)")
    return problems


# --- The site ------------------------------------------------------------------------------------


def test_every_station_owned_admin_is_scoped_and_in_the_matrix():
    problems = scoping_problems(admin.site)
    assert problems == [], "\n".join(problems)


def test_the_admins_found_station_owned_are_the_ones_we_know():
    """The walk works (a broken one would make the check pass by checking nothing)."""
    assert set(station_owned_admins(admin.site)) == {
        "stations.station",
        "stations.membership",
        "stations.invitation",
        "stations.chef",
        "stations.timeoff",
        "bookings.pricelist",
        "bookings.addon",
        "bookings.customer",
        "bookings.booking",
        "bookings.notification",
        "payments.payment",
        "payments.stripeevent",
        "inbox.channel",
        "inbox.conversation",
        "inbox.messagetemplate",
        "inbox.draft",
        "inbox.aiinteraction",
        "leads.lead",
        "reviews.review",
        "reviews.reviewrequest",
        "reviews.googlelocation",
    }
    assert path_to_station(Refund) == "payment__booking__station"
    assert path_to_station(ApiToken) is None  # the user's, reached through memberships


@pytest.mark.django_db
@pytest.mark.date_sensitive  # the builders book days ahead of today
def test_the_matrix_builds_each_station_owned_row_at_both_stations(san_jose, sacramento, sj_chef):
    """The matrix compares a row at the user's station with one at the other: each builder of
    a station-owned model makes one at each."""
    world = World(san_jose, sacramento, sj_chef)
    for label in sorted(station_owned_admins(admin.site)):
        rows = BUILDERS[label](world)
        stations = (tenancy.station_id_of(rows["own"]), tenancy.station_id_of(rows["other"]))
        assert stations == (san_jose.pk, sacramento.pk), label


# --- The check fails where it should ------------------------------------------------------------


@pytest.fixture
def throwaway_site():
    return admin.AdminSite(name="throwaway")


def test_a_plain_model_admin_of_station_owned_rows_is_reported(throwaway_site):
    throwaway_site.register(ServiceZone)

    assert scoping_problems(throwaway_site) == [
        "stations.servicezone: ModelAdmin is not a StationScopedAdmin",
        "stations.servicezone: no rules in the access matrix (ADMIN_EXPECTED)",
        "stations.servicezone: no builder in the access matrix (BUILDERS)",
    ]


def test_a_scoped_admin_missing_from_the_matrix_is_reported(throwaway_site):
    throwaway_site.register(ServiceZone, StationScopedAdmin)

    assert scoping_problems(throwaway_site) == [
        "stations.servicezone: no rules in the access matrix (ADMIN_EXPECTED)",
        "stations.servicezone: no builder in the access matrix (BUILDERS)",
    ]


def test_a_model_tenancy_cannot_place_is_reported(throwaway_site, monkeypatch):
    """A child row that forgot STATION_PATH: scope() would look for a `station` it lacks."""
    monkeypatch.delattr(BookingEvent, "STATION_PATH")
    throwaway_site.register(BookingEvent, StationScopedAdmin)

    assert scoping_problems(throwaway_site)[0] == (
        "bookings.bookingevent: reaches Station by booking__station, but tenancy cannot tell: "
        "give it STATION_PATH"
    )


def test_a_station_path_that_goes_nowhere_is_reported(throwaway_site, monkeypatch):
    monkeypatch.setattr(Refund, "STATION_PATH", "payment__booking")
    throwaway_site.register(Refund, StationScopedAdmin)

    assert scoping_problems(throwaway_site)[0] == (
        "payments.refund: STATION_PATH 'payment__booking' does not lead to Station"
    )


def test_an_unscoped_inline_of_station_owned_rows_is_reported(throwaway_site):
    class PlainHistory(admin.TabularInline):
        model = BookingEvent

    class LeakyBookingAdmin(BookingAdmin):
        inlines = [PlainHistory]

    throwaway_site.register(Booking, LeakyBookingAdmin)

    assert scoping_problems(throwaway_site) == [
        "bookings.booking: inline PlainHistory is not a StationScopedInline"
    ]
