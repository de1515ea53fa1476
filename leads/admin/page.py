"""
The lead page (the lead's change view): what it says (contact, party, score with every reason,
how long it waited for a person, links to the customer's inbox conversation and the converted
booking), its timeline (LeadActivity, read-only, newest first), and the work done on it: log a
call or a note, move the status (lost needs a reason), assign it, set the follow-up, route an
unassigned lead (owners). The details form saves through lead_update.

Each work form is a POST to a URL of its own that calls one service of leads.services. A form
that is wrong, or that the service refuses (ApiError), comes back on the page with its errors;
a success is a message and a redirect to the page. Another station's lead is not found (404).
"""

from copy import copy
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from bookings.services import Actor
from config.exceptions import ApiError
from leads import services
from leads.admin import display
from leads.admin.access import ROUTE_ROLES, may_work, sees_unassigned_queue
from leads.forms import (
    LOST_REASONS,
    AssignForm,
    FollowUpForm,
    LogForm,
    RouteForm,
    StatusForm,
    add_service_error,
)
from leads.models import ActivityKind, Lead, LeadActivity, LeadSource, LeadStatus
from stations import tenancy
from stations.admin_base import StationScopedInline

WORK_FORMS = ("log_form", "status_form", "assign_form", "follow_up_form", "route_form")


# --- The timeline ----------------------------------------------------------------------------


def activity_text(activity: LeadActivity) -> str:
    """What happened, in a sentence (the activity's body and data)."""
    data, body = activity.data or {}, activity.body
    kind = activity.kind
    if kind == ActivityKind.STATUS:
        moved = f"{data.get('from', '?')} → {data.get('to', '?')}"
        return f"{moved}: {body}" if body else moved
    if kind == ActivityKind.ASSIGNED:
        if "station" in data:
            return f"Routed to station {data['station']}"
        return f"Assigned to {data.get('assignee') or 'nobody'}"
    if kind == ActivityKind.FOLLOW_UP:
        return f"Follow up at {data['at']}" if data.get("at") else "Follow-up cleared"
    if kind == ActivityKind.MERGED:
        filled = ", ".join(sorted(data.get("filled") or {}))
        source = LeadSource(data["source"]).label if data.get("source") in LeadSource else "?"
        said = f" They wrote: {body}" if body else ""
        added = f" Added: {filled}." if filled else ""
        return f"The same person asked again ({source}, as {data.get('name') or '?'}).{added}{said}"
    if kind == ActivityKind.CAPTURED:
        source = LeadSource(data["source"]).label if data.get("source") in LeadSource else ""
        routed = data.get("routed") or "the unassigned queue (no station serves the ZIP)"
        return f"Came in by {source.lower() or '?'}, routed to {routed}." + (
            f" {body}" if body else ""
        )
    if kind == ActivityKind.UPDATED:
        return "Changed: " + ", ".join(data.get("changed") or [])
    return body or "-"


class LeadActivityInline(StationScopedInline):
    """The lead's timeline: what happened, who did it, when (station time). Read-only: it is
    written by the services."""

    model = LeadActivity
    verbose_name = "activity"
    verbose_name_plural = "Timeline"
    fields = ["when_display", "kind", "who_display", "what_display"]
    readonly_fields = fields
    can_delete = False
    extra = 0
    classes = ["lead-timeline"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor").order_by("-created_at", "-pk")

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return tenancy.has_any_role(request.user, self.write_roles)
        return may_work(request.user, obj.station_id)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def when_display(self, activity):
        # The page is shown in the lead's station's zone (LeadAdmin.get_object).
        return display.station_time(activity.created_at, None, "D N j, P")

    when_display.short_description = "when"

    def who_display(self, activity):
        if activity.actor is not None:
            return display.person(activity.actor)
        return activity.actor_label or "system"

    who_display.short_description = "who"

    def what_display(self, activity):
        return format_html('<span class="activity-text">{}</span>', activity_text(activity))

    what_display.short_description = "what"


# --- The page --------------------------------------------------------------------------------


def conversation_url(lead: Lead) -> str:
    """The customer's inbox thread at the lead's station, when there is one."""
    if lead.customer_id is None:
        return ""
    try:
        conversation = lead.customer.conversation
    except ObjectDoesNotExist:
        return ""
    if conversation.station_id != lead.station_id:
        return ""
    return reverse("admin:inbox_conversation_change", args=[conversation.pk])


def lead_zone(lead: Lead):
    """The zone the lead's page speaks in: its station's (else the page's)."""
    if lead.station_id is not None:
        return ZoneInfo(lead.station.timezone)
    return timezone.get_current_timezone()


def booking_url(lead: Lead) -> str:
    if lead.converted_booking_id is None:
        return ""
    return reverse("admin:bookings_booking_change", args=[lead.converted_booking_id])


class LeadPageMixin:
    """The lead page's context and its work views (LeadAdmin)."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        views = [
            ("log", self.log_view),
            ("status", self.status_view),
            ("assign", self.assign_view),
            ("follow-up", self.follow_up_view),
            ("route", self.route_view),
        ]
        return [
            *(
                path(
                    f"<path:object_id>/{name}/",
                    wrap(view),
                    name=f"leads_lead_{name.replace('-', '_')}",
                )
                for name, view in views
            ),
            *super().get_urls(),
        ]

    # --- who may ----------------------------------------------------------------------------

    def lead_to_work(self, request, object_id, roles=None) -> Lead:
        """The lead, if the user sees it (else 404) and may work it (else 403)."""
        if not self.has_view_permission(request):
            raise PermissionDenied  # chefs: no leads at all
        lead = self.get_object(request, object_id)  # scoped; activates the station's zone
        if lead is None:
            raise Http404("No such lead.")
        if not may_work(request.user, lead.station_id, roles or self.write_roles):
            raise PermissionDenied
        return (
            Lead.objects.select_related("station", "assignee", "customer", "converted_booking")
            .filter(pk=lead.pk)
            .get()
        )

    def page_url(self, lead: Lead) -> str:
        return reverse("admin:leads_lead_change", args=[lead.pk])

    # --- the page's context -----------------------------------------------------------------

    def lead_page(self, request, lead: Lead, forms: dict) -> dict:
        zone = lead_zone(lead)
        routable = lead.station_id is None and sees_unassigned_queue(request.user)
        page = {
            "lead": lead,
            "status": display.status_pill(lead),
            "score": display.score_table(lead),
            "score_badge": display.score_badge(lead),
            "came_in": display.came_in(lead),
            "came_in_at": display.station_time(lead.created_at, display.zone_of(lead), "N j, P T"),
            "first_contact": display.ago(lead.first_human_contact_at)
            if lead.first_human_contact_at
            else "",
            "assignee": display.person(lead.assignee),
            "follow_up": display.follow_up(lead),
            "conversation_url": conversation_url(lead),
            "booking_url": booking_url(lead),
            "booking_reference": lead.converted_booking.reference
            if lead.converted_booking_id
            else "",
            "convertible": lead.station_id is not None
            and lead.converted_booking_id is None
            and lead.status != LeadStatus.WON,
            "convert_url": reverse("admin:leads_lead_convert", args=[lead.pk]),
            "lost_reasons": LOST_REASONS,
            "log_url": reverse("admin:leads_lead_log", args=[lead.pk]),
            "status_url": reverse("admin:leads_lead_status", args=[lead.pk]),
            "assign_url": reverse("admin:leads_lead_assign", args=[lead.pk]),
            "follow_up_url": reverse("admin:leads_lead_follow_up", args=[lead.pk]),
            "route_url": reverse("admin:leads_lead_route", args=[lead.pk]),
            "log_form": forms.get("log_form") or LogForm(),
            "status_form": forms.get("status_form") or StatusForm(lead=lead),
            "assign_form": forms.get("assign_form") or AssignForm(lead=lead),
            "follow_up_form": forms.get("follow_up_form") or FollowUpForm(lead=lead, zone=zone),
            "route_form": (
                forms.get("route_form") or RouteForm(stations=self.route_stations(request))
            )
            if routable
            else None,
        }
        return page

    def route_stations(self, request):
        stations = tenancy.stations_for(request.user, roles=ROUTE_ROLES)
        return stations.filter(active=True).order_by("name")

    def render_page(self, request, lead: Lead, **forms):
        """The lead page again, with the forms given (bound, showing their errors)."""
        shown = copy(request)
        shown.method = "GET"
        shown.POST = QueryDict()
        return self.changeform_view(shown, str(lead.pk), self.page_url(lead), {"work_forms": forms})

    def _done(self, request, lead: Lead, text: str):
        messages.success(request, text)
        return HttpResponseRedirect(self.page_url(lead))

    # --- the work views ---------------------------------------------------------------------

    def log_view(self, request, object_id):
        lead = self.lead_to_work(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(self.page_url(lead))
        form = LogForm(request.POST)
        if form.is_valid():
            try:
                services.lead_log(
                    lead=lead,
                    kind=form.cleaned_data["kind"],
                    body=form.cleaned_data["body"],
                    actor=Actor.of(request.user),
                )
            except ApiError as exc:
                add_service_error(form, exc)
            else:
                kind = dict(form.fields["kind"].choices)[form.cleaned_data["kind"]]
                return self._done(request, lead, f"{kind.split(' (')[0]} logged.")
        return self.render_page(request, lead, log_form=form)

    def status_view(self, request, object_id):
        lead = self.lead_to_work(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(self.page_url(lead))
        form = StatusForm(request.POST, lead=lead)
        if form.is_valid():
            try:
                lead = services.lead_set_status(
                    lead=lead,
                    status=form.cleaned_data["status"],
                    reason=form.cleaned_data["reason"],
                    actor=Actor.of(request.user),
                )
            except ApiError as exc:
                add_service_error(form, exc)
            else:
                return self._done(
                    request, lead, f"The lead is {lead.get_status_display().lower()}."
                )
        return self.render_page(request, lead, status_form=form)

    def assign_view(self, request, object_id):
        lead = self.lead_to_work(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(self.page_url(lead))
        form = AssignForm(request.POST, lead=lead)
        if form.is_valid():
            assignee = form.cleaned_data["assignee"]
            try:
                services.lead_assign(lead=lead, assignee=assignee, actor=Actor.of(request.user))
            except ApiError as exc:
                add_service_error(form, exc)
            else:
                return self._done(
                    request,
                    lead,
                    f"Assigned to {display.person(assignee) if assignee else 'nobody'}.",
                )
        return self.render_page(request, lead, assign_form=form)

    def follow_up_view(self, request, object_id):
        lead = self.lead_to_work(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(self.page_url(lead))
        form = FollowUpForm(request.POST, lead=lead, zone=lead_zone(lead))
        if form.is_valid():
            at = form.cleaned_data["at"]
            lead = services.lead_set_follow_up(lead=lead, at=at, actor=Actor.of(request.user))
            text = f"Follow up {display.station_time(at, None)}." if at else "Follow-up cleared."
            return self._done(request, lead, text)
        return self.render_page(request, lead, follow_up_form=form)

    def route_view(self, request, object_id):
        lead = self.lead_to_work(request, object_id, roles=ROUTE_ROLES)
        if request.method != "POST" or lead.station_id is not None:
            return HttpResponseRedirect(self.page_url(lead))
        form = RouteForm(request.POST, stations=self.route_stations(request))
        if form.is_valid():
            try:
                lead = services.lead_route(
                    lead=lead, station=form.cleaned_data["station"], actor=Actor.of(request.user)
                )
            except ApiError as exc:
                add_service_error(form, exc)
            else:
                return self._done(request, lead, f"Routed to {lead.station.name}.")
        return self.render_page(request, lead, route_form=form)
