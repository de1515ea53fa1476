"""
Leads in the back office (issue 15, point 7): the pipeline list, the lead page, quick-add for a
phone call, and the actions.

The list: status tabs with their counts (Open, each status, and the owners' Unassigned queue),
counted by leads.selectors.pipeline_counts in one query over the list's other filters and
search; columns for who, where, score (its reasons on hover, or a click), status, assignee,
party, how long ago the lead came in (red once the station's response target has passed with
nobody contacting it) and the follow-up; filters by station, source, assignee and follow-up;
search by name, e-mail or phone (any format). Open leads come first, best score first, then
the newest.

Query cost: the rows are read with their station and assignee (list_select_related), every
column is computed from the row (leads.admin.display queries nothing), the counts are one
GROUP BY, and the full count is not asked for (show_full_result_count): a page of 100 costs
the same queries as a page of 5. Those queries filter by station and status: the
(station, status) index `lead_station_status_idx` serves them (see
leads/tests/test_admin_pipeline.py, which checks both).

Who: owners, managers and agents of the lead's station (leads.admin.access); chefs see no
leads. Owners also see and route the unassigned queue.
"""

from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.db.models import Case, Q, Value, When
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from bookings.services import Actor
from leads import selectors, services
from leads.admin import display
from leads.admin.access import WORK_ROLES, may_work, visible_leads
from leads.admin.actions import LeadActionsMixin
from leads.admin.filters import (
    AssigneeFilter,
    FollowUpFilter,
    PipelineTabFilter,
    tabs_for,
)
from leads.admin.page import WORK_FORMS, LeadActivityInline, LeadPageMixin
from leads.forms import LeadDetailsForm, LeadQuickAddForm, normalized_phone
from leads.models import OPEN_STATUSES, Lead, LeadSource
from leads.services import EDITABLE, LeadInput
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin

QUICK_ADD_FIELDS = [
    "station",
    "name",
    "phone",
    "email",
    "zip_code",
    "event_date",
    "guests",
    "budget_cents",
    "message",
]
# Open leads first, then the best score, then the newest.
PIPELINE_ORDER = [
    Case(When(status__in=OPEN_STATUSES, then=Value(0)), default=Value(1)).asc(),
    "-score",
    "-created_at",
]


@admin.register(Lead)
class LeadAdmin(LeadActionsMixin, LeadPageMixin, StationScopedAdmin):
    view_roles = WORK_ROLES  # chefs see no leads
    write_roles = WORK_ROLES
    change_list_template = "admin/leads/lead/change_list.html"
    change_form_template = "admin/leads/lead/change_form.html"
    list_display = [
        "name_display",
        "station_display",
        "source",
        "score_display",
        "status_display",
        "assignee_display",
        "event_date_display",
        "guests",
        "came_in_display",
        "follow_up_display",
    ]
    list_display_links = ["name_display"]
    list_filter = [PipelineTabFilter, StationListFilter, "source", AssigneeFilter, FollowUpFilter]
    list_select_related = ["station", "assignee"]
    search_fields = ["name", "email", "phone"]
    search_help_text = "Name, e-mail or phone (any format)."
    list_per_page = 50
    show_full_result_count = False
    inlines = [LeadActivityInline]
    actions = [
        "assign_to_me",
        "mark_contacted",
        "mark_lost",
        "route_to_station",
        "convert_to_booking",
    ]

    # --- What the user sees -------------------------------------------------------------------

    def get_queryset(self, request):
        """leads_for (the user's stations, and the unassigned queue for owners), without the
        stations where the user is only a chef."""
        base = super(StationScopedAdmin, self).get_queryset(request)
        return visible_leads(request.user, base)

    def get_object(self, request, object_id, from_field=None):
        """A lead's pages speak in its station's zone (also for superusers, who belong to no
        station)."""
        lead = super().get_object(request, object_id, from_field)
        if lead is not None and lead.station_id is not None:
            timezone.activate(ZoneInfo(lead.station.timezone))
        return lead

    def get_ordering(self, request):
        return list(PIPELINE_ORDER)

    def get_search_results(self, request, queryset, search_term):
        """Name, e-mail or phone; a phone typed any way ("(408) 555-0177") is also looked up in
        its E.164 form."""
        term = search_term.replace("\x00", "").strip()
        if not term:
            return queryset, False
        match = Q(name__icontains=term) | Q(email__icontains=term) | Q(phone__icontains=term)
        phone = normalized_phone(term)
        if phone:
            match |= Q(phone=phone)
        return queryset.filter(match), False

    def get_list_display(self, request):
        """No station column for people of one station (owners see the unassigned queue)."""
        columns = list(self.list_display)
        if (
            not tenancy.is_superuser(request.user)
            and len(tenancy.station_ids_for(request.user, roles=WORK_ROLES)) < 2
            and not tenancy.has_any_role(request.user, tenancy.SETTINGS_ROLES)
        ):
            columns.remove("station_display")
        return columns

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request)
        return may_work(request.user, obj.station_id, self.view_roles)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return may_work(request.user, obj.station_id, self.write_roles)

    def has_delete_permission(self, request, obj=None):
        return False  # a lead is lost (with its reason), never deleted

    # --- The list -----------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        extra = {"title": "Leads pipeline", **(extra_context or {})}
        response = super().changelist_view(request, extra)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context["lead_tabs"] = self._tabs(request, context["cl"])
        return response

    def _tabs(self, request, cl) -> list[dict]:
        """The status tabs with their counts: the list as filtered and searched, whatever its
        tab (one query)."""
        queryset = cl.root_queryset
        for spec in cl.filter_specs:
            if not isinstance(spec, PipelineTabFilter):
                narrowed = spec.queryset(request, queryset)
                queryset = queryset if narrowed is None else narrowed
        queryset, _ = self.get_search_results(request, queryset, cl.query)
        counts = selectors.pipeline_counts(queryset)
        current = PipelineTabFilter.current(request.GET.get(PipelineTabFilter.parameter_name))
        return [
            {
                "value": value,
                "label": label,
                "count": counts.get(value, 0),
                "url": cl.get_query_string({PipelineTabFilter.parameter_name: value}, ["p"]),
                "current": value == current,
            }
            for value, label in tabs_for(request.user)
        ]

    @admin.display(description="lead", ordering="name")
    def name_display(self, lead):
        contact = lead.phone or lead.email
        return format_html(
            '<span class="lead-name">{}</span><span class="lead-contact">{}</span>',
            lead.name,
            contact,
        )

    @admin.display(description="station", ordering="station__name")
    def station_display(self, lead):
        if lead.station_id is None:
            return format_html(
                '<span class="lead-unrouted" title="No station serves ZIP {}">unassigned</span>',
                lead.zip_code or "?",
            )
        return lead.station.name

    @admin.display(description="score", ordering="score")
    def score_display(self, lead):
        return display.score_badge(lead)

    @admin.display(description="status", ordering="status")
    def status_display(self, lead):
        return display.status_pill(lead)

    @admin.display(description="assignee", ordering="assignee__first_name")
    def assignee_display(self, lead):
        return display.person(lead.assignee)

    @admin.display(description="event", ordering="event_date")
    def event_date_display(self, lead):
        return display.event_day(lead.event_date)

    @admin.display(description="came in", ordering="created_at")
    def came_in_display(self, lead):
        return display.came_in(lead)

    @admin.display(description="follow-up", ordering="follow_up_at")
    def follow_up_display(self, lead):
        return display.follow_up(lead)

    # --- Quick-add (a phone call) and the lead page -------------------------------------------

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a call has no timeline yet

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": QUICK_ADD_FIELDS})]
        return [("Contact and party", {"fields": list(EDITABLE)})]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = LeadDetailsForm if obj is not None else LeadQuickAddForm
        return super().get_form(request, obj, change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "station":  # quick-add: the active stations where they work leads
            stations = tenancy.stations_for(request.user, roles=self.write_roles)
            kwargs["queryset"] = stations.filter(active=True).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        stations = tenancy.stations_for(request.user, roles=self.write_roles)
        first = stations.filter(active=True).order_by("name").values_list("pk", flat=True)
        if "station" not in initial and first:
            initial["station"] = first[0]
        return initial

    def save_model(self, request, obj, form, change):
        actor = Actor.of(request.user)
        if change:
            changes = {f: form.cleaned_data[f] for f in form.changed_data if f in EDITABLE}
            if changes:
                services.lead_update(lead=Lead.objects.get(pk=obj.pk), changes=changes, actor=actor)
            return
        data = form.cleaned_data
        lead, new = services.lead_capture(
            data=LeadInput(
                name=data["name"],
                email=data["email"],
                phone=data["phone"],
                zip_code=data["zip_code"],
                event_date=data["event_date"],
                guests=data["guests"],
                budget_cents=data["budget_cents"],
                message=data["message"],
                source=LeadSource.PHONE,
            ),
            station=data["station"],
            actor=actor,
        )
        obj.pk, obj.created_at = lead.pk, lead.created_at
        obj.captured = (lead, new)

    def save_related(self, request, form, formsets, change):
        if change:  # the timeline is read-only; a new lead's is written by lead_capture
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        lead, new = getattr(obj, "captured", (obj, True))
        if new:
            messages.success(request, f"Lead {lead.name} added (phone call); score {lead.score}.")
        else:
            messages.warning(
                request,
                f"{lead.name} already had an open lead with this phone or e-mail: the call was "
                "merged into it (see its timeline) instead of making a second lead.",
            )
        if "_addanother" in request.POST:
            return HttpResponseRedirect(reverse("admin:leads_lead_add"))
        return HttpResponseRedirect(self.page_url(lead))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            forms = {k: v for k, v in (context.get("work_forms") or {}).items() if k in WORK_FORMS}
            context["lead_page"] = self.lead_page(request, obj, forms)
            context["title"], context["subtitle"] = f"Lead: {obj.name}", None
        else:
            context["title"] = "New lead (phone call)"
        return super().render_change_form(request, context, add, change, form_url, obj)
