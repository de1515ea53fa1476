"""Who may see and work which leads in the back office (DESIGN.md §3, issue 15).

The leads a user sees are leads.selectors.leads_for: their stations' leads, and for owners and
superusers the unassigned queue (leads no station serves, which they route). The back office
narrows it to the stations where the user works leads (owner, manager, agent): chefs see no
leads at all, not even at a station where they cook while they are agents elsewhere.

Actions and the lead page's forms run only on leads the user may work: one of `roles` at the
lead's station; an unassigned lead, for owners and superusers. Another station's lead is never
found (404), so it is never forbidden (403) either.
"""

import functools
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from leads import selectors
from stations import tenancy

WORK_ROLES = tenancy.STAFF_WRITE_ROLES
ROUTE_ROLES = tenancy.SETTINGS_ROLES


def sees_unassigned_queue(user) -> bool:
    return tenancy.has_any_role(user, tenancy.SETTINGS_ROLES)


def visible_leads(user, queryset: QuerySet) -> QuerySet:
    visible = selectors.leads_for(user, queryset)
    if tenancy.is_superuser(user):
        return visible
    working = tenancy.station_ids_for(user, roles=WORK_ROLES)
    if set(tenancy.station_ids_for(user)) <= set(working):
        return visible  # no station where they only cook
    return visible.filter(Q(station_id__in=working) | Q(station__isnull=True))


def may_work(user, station_id: int | None, roles: Iterable[str] = WORK_ROLES) -> bool:
    if station_id is None:
        return sees_unassigned_queue(user)
    return tenancy.has_role(user, station_id, roles)


def may_work_all(user, queryset: QuerySet, roles: Iterable[str]) -> bool:
    """True when the user may work every lead of the queryset with one of `roles`."""
    if tenancy.is_superuser(user):
        return True
    stations = tenancy.station_ids_in(queryset)
    if None in stations:
        if not sees_unassigned_queue(user):
            return False
        stations.discard(None)
    return stations <= set(tenancy.station_ids_for(user, roles=roles))


def guarded(func, roles: frozenset):
    """The admin action, refused (403, nothing done) unless the user may work every selected
    lead with one of `roles` (the unassigned queue counts as the owners')."""

    @functools.wraps(func)
    def run(modeladmin, request, queryset):
        if not may_work_all(request.user, queryset, roles):
            raise PermissionDenied
        return func(modeladmin, request, queryset)

    run.allowed_roles = roles
    return run
