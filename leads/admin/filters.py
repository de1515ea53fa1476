"""The pipeline list's filters: the status tabs (shown above the list, not in the sidebar), the
assignee (mine, nobody's, one person's) and the follow-up (overdue, due today, later, none)."""

from datetime import datetime, time, timedelta

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone

from leads.admin.access import sees_unassigned_queue
from leads.models import OPEN_STATUSES, LeadStatus
from stations import tenancy
from stations.admin_base import query_id

OPEN, UNASSIGNED = "open", "unassigned"
MINE, NOBODY = "mine", "nobody"


def tabs_for(user) -> list[tuple[str, str]]:
    tabs = [(OPEN, "Open"), *LeadStatus.choices]
    if sees_unassigned_queue(user):
        tabs.append((UNASSIGNED, "Unassigned"))
    return tabs


class PipelineTabFilter(admin.SimpleListFilter):
    """The status tabs: Open (every open status: the default), one per status, and for owners
    the unassigned queue (open leads no station serves). Rendered as tabs with their counts by
    the list's template, so the sidebar shows nothing for it."""

    title = "pipeline"
    parameter_name = "status"
    template = "admin/leads/lead/tab_filter.html"

    def lookups(self, request, model_admin):
        return tabs_for(request.user)

    @classmethod
    def current(cls, value) -> str:
        if value in LeadStatus.values or value == UNASSIGNED:
            return value
        return OPEN

    def queryset(self, request, queryset):
        value = self.current(self.value())
        if value == UNASSIGNED:
            return queryset.filter(station__isnull=True, status__in=OPEN_STATUSES)
        if value in LeadStatus.values:
            return queryset.filter(status=value)
        return queryset.filter(status__in=OPEN_STATUSES)


class AssigneeFilter(admin.SimpleListFilter):
    """Mine, nobody's, or one person's (of the staff of the user's stations)."""

    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        people = get_user_model().objects.filter(
            is_active=True, memberships__role__in=tenancy.STAFF_WRITE_ROLES
        )
        if not tenancy.is_superuser(request.user):
            stations = tenancy.station_ids_for(request.user, roles=tenancy.STAFF_WRITE_ROLES)
            people = people.filter(memberships__station_id__in=stations)
        others = sorted(
            {
                (u.pk, u.get_full_name() or u.get_username())
                for u in people.exclude(pk=request.user.pk).only(
                    "pk", "username", "first_name", "last_name"
                )
            },
            key=lambda pair: pair[1].lower(),
        )
        return [(MINE, "Mine"), (NOBODY, "Nobody (not assigned)"), *others]

    def queryset(self, request, queryset):
        value = self.value()
        if value == MINE:
            return queryset.filter(assignee=request.user)
        if value == NOBODY:
            return queryset.filter(assignee__isnull=True)
        user_id = query_id(value)
        if user_id is not None:
            return queryset.filter(assignee_id=user_id)
        return queryset


class FollowUpFilter(admin.SimpleListFilter):
    """Follow-ups overdue (the time has passed), due by the end of today (in the zone the page
    is shown in: the user's station's; the overdue ones too), later, or none set."""

    title = "follow-up"
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Overdue"),
            ("today", "Due by tonight (overdue included)"),
            ("later", "Later"),
            ("none", "None set"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        now = timezone.now()
        local = timezone.localtime(now)
        end_of_today = datetime.combine(local.date() + timedelta(days=1), time(0), local.tzinfo)
        if value == "overdue":
            return queryset.filter(follow_up_at__lte=now)
        if value == "today":
            return queryset.filter(follow_up_at__lt=end_of_today)
        if value == "later":
            return queryset.filter(follow_up_at__gte=end_of_today)
        if value == "none":
            return queryset.filter(follow_up_at__isnull=True)
        return queryset
