"""The admin action guard of stations.admin_base: an action's roles are checked at the station of
every selected row, and an action may name roles other than the admin's write_roles."""

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from stations import tenancy
from stations.admin_base import StationScopedAdmin, station_action
from stations.models import Chef, Role
from testing.factories import MembershipFactory

pytestmark = pytest.mark.django_db


class ProbeAdmin(StationScopedAdmin):
    """Not registered: two actions, one for the admin's write_roles, one for owners only."""

    write_roles = tenancy.MANAGE_ROLES
    actions = ["for_managers", "for_owners"]
    ran: list

    @admin.action(description="managers")
    def for_managers(self, request, queryset):
        self.ran.append(("for_managers", sorted(queryset.values_list("pk", flat=True))))

    @station_action(roles=tenancy.SETTINGS_ROLES, description="owners")
    def for_owners(self, request, queryset):
        self.ran.append(("for_owners", sorted(queryset.values_list("pk", flat=True))))


@pytest.fixture
def probe():
    model_admin = ProbeAdmin(Chef, admin.site)
    model_admin.ran = []
    return model_admin


def request_of(user):
    request = RequestFactory().get("/admin/stations/chef/")
    request.user = user
    return request


def run(probe, user, name, queryset):
    func, _, _ = probe.get_actions(request_of(user))[name]
    return func(probe, request_of(user), queryset)


def test_an_action_shows_to_the_roles_it_names(probe, sj_manager, owner, sj_chef):
    assert set(probe.get_actions(request_of(sj_manager))) == {"for_managers", "delete_selected"}
    assert {"for_managers", "for_owners"} <= set(probe.get_actions(request_of(owner)))
    assert probe.get_actions(request_of(sj_chef)) == {}


def test_an_action_runs_only_where_the_user_holds_its_roles(probe, san_jose, sacramento):
    user = MembershipFactory(station=san_jose, role=Role.OWNER).user
    MembershipFactory(user=user, station=sacramento, role=Role.AGENT)
    here = Chef.objects.filter(station=san_jose)
    both = Chef.objects.filter(station__in=[san_jose, sacramento])

    run(probe, user, "for_owners", here)
    run(probe, user, "for_managers", here)
    with pytest.raises(PermissionDenied):
        run(probe, user, "for_owners", both)
    with pytest.raises(PermissionDenied):
        run(probe, user, "for_managers", both)

    assert [name for name, _ in probe.ran] == ["for_owners", "for_managers"]
