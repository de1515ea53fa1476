"""
The pipeline list's actions, and "Convert to booking".

- Assign to me, Mark contacted: one service call per selected lead (lead_assign,
  lead_set_status); what a service refuses is reported per lead, the others go through.
- Mark lost: an intermediate page asks the reason (the pipeline refuses lost without one).
- Route to a station (owners): an intermediate page picks the station for unassigned leads.
- Convert to booking (one lead): its own page, also behind the lead page's button, pre-filled
  from services.conversion_defaults with the free start times of the day; it calls
  services.lead_convert, which books through the booking service. A slot taken meanwhile (409
  slot_unavailable) comes back on the form and nothing changes; success opens the booking.

Every action runs only on leads the user may work (leads.admin.access.guarded): agents,
managers and owners of the lead's station; the unassigned queue is the owners'.
"""

from datetime import date

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from bookings import scheduling
from bookings.services import Actor
from config.exceptions import ApiError
from config.money import format_money
from leads import services
from leads.admin import display
from leads.admin.access import ROUTE_ROLES, WORK_ROLES, guarded
from leads.forms import (
    LOST_REASONS,
    ConvertForm,
    DayField,
    LostReasonForm,
    RouteForm,
    add_service_error,
)
from leads.models import Lead, LeadStatus
from stations import tenancy
from stations.admin_base import StationScopedAdmin, station_action

CONVERT_TEMPLATE = "admin/leads/lead/convert.html"


def free_starts(station, day: date | None, guests: int) -> list:
    """The free start times of the day for the party (none for a day that cannot be booked)."""
    if day is None or guests < 1:
        return []
    try:
        slots = scheduling.availability(station=station, start=day, end=day, guests=guests)
    except ApiError:
        return []
    return [slot.start for slot in slots]


def _parsed(field: forms.Field, value):
    try:
        return field.clean(value)
    except forms.ValidationError:
        return None


class LeadActionsMixin:
    """LeadAdmin's actions and the convert page."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/convert/",
                wrap(self.convert_view),
                name="leads_lead_convert",
            ),
            *super().get_urls(),
        ]

    def get_actions(self, request):
        """The actions the user holds a role for somewhere, each guarded per selected lead
        (StationScopedAdmin's rule, with the unassigned queue counting as the owners')."""
        actions = {}
        for name, (func, action_name, description) in (
            super(StationScopedAdmin, self).get_actions(request).items()
        ):
            roles = self.action_roles(func)
            if tenancy.has_any_role(request.user, roles):
                actions[name] = (guarded(func, roles), action_name, description)
        return actions

    def _each(self, request, queryset, operation, done: str) -> None:
        ok, failed = 0, []
        actor = Actor.of(request.user)
        for lead in queryset.select_related("station"):
            try:
                operation(lead, actor)
                ok += 1
            except ApiError as exc:
                failed.append(f"{lead.name}: {exc.detail}")
        if ok:
            self.message_user(request, f"{ok} lead(s) {done}.", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    # --- Actions ---------------------------------------------------------------------------

    @station_action(roles=WORK_ROLES, description="Assign to me")
    def assign_to_me(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda lead, actor: services.lead_assign(lead=lead, assignee=request.user, actor=actor),
            "assigned to you",
        )

    @station_action(roles=WORK_ROLES, description="Mark contacted")
    def mark_contacted(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda lead, actor: services.lead_set_status(
                lead=lead, status=LeadStatus.CONTACTED, actor=actor
            ),
            "marked contacted",
        )

    @station_action(roles=WORK_ROLES, description="Mark lost…")
    def mark_lost(self, request, queryset):
        form = LostReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(
                request,
                queryset,
                lambda lead, actor: services.lead_set_status(
                    lead=lead, status=LeadStatus.LOST, reason=reason, actor=actor
                ),
                "marked lost",
            )
            return None
        return self._intermediate(
            request, queryset, "mark_lost", "Mark leads lost", form, "admin/leads/lead/lost.html"
        )

    @station_action(roles=ROUTE_ROLES, description="Route to a station…")
    def route_to_station(self, request, queryset):
        form = RouteForm(
            request.POST if "apply" in request.POST else None,
            stations=self.route_stations(request),
        )
        if form.is_valid():
            station = form.cleaned_data["station"]
            self._each(
                request,
                queryset,
                lambda lead, actor: services.lead_route(lead=lead, station=station, actor=actor),
                f"routed to {station.name}",
            )
            return None
        return self._intermediate(
            request,
            queryset,
            "route_to_station",
            "Route leads to a station",
            form,
            "admin/leads/lead/route.html",
        )

    @station_action(roles=WORK_ROLES, description="Convert to booking…")
    def convert_to_booking(self, request, queryset):
        chosen = list(queryset.order_by().values_list("pk", flat=True)[:2])
        if len(chosen) != 1:
            self.message_user(
                request, "Convert one lead at a time: select just one.", messages.WARNING
            )
            return None
        return HttpResponseRedirect(reverse("admin:leads_lead_convert", args=[chosen[0]]))

    def _intermediate(self, request, queryset, action, title, form, template):
        leads = list(queryset.select_related("station").order_by("name"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "leads": leads,
            "action": action,
            "form": form,
            "lost_reasons": LOST_REASONS,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:leads_lead_changelist"),
        }
        return TemplateResponse(request, template, context)

    # --- Convert to booking ----------------------------------------------------------------

    def convert_view(self, request, object_id):
        lead = self.lead_to_work(request, object_id)
        if lead.converted_booking_id is not None:
            messages.info(request, "This lead was converted already: here is its booking.")
            return HttpResponseRedirect(
                reverse("admin:bookings_booking_change", args=[lead.converted_booking_id])
            )
        if lead.station_id is None:
            messages.error(request, "Route the lead to a station first.")
            return HttpResponseRedirect(self.page_url(lead))
        station = lead.station
        posted = request.method == "POST"
        refresh = posted and "_refresh" in request.POST
        values = request.POST if posted else None
        initial = self._convert_initial(lead)
        day = initial["event_date"]
        guests = initial["adults"] + initial["children"]
        if values is not None:
            day = _parsed(DayField(), values.get("event_date"))
            adults = _parsed(forms.IntegerField(min_value=1, max_value=500), values.get("adults"))
            children = _parsed(
                forms.IntegerField(min_value=0, max_value=500), values.get("children") or "0"
            )
            guests = (adults or 0) + (children or 0) if adults else 0
        slots = free_starts(station, day, guests)
        if refresh:
            initial = {key: values.get(key) for key in ConvertForm.base_fields if key in values}
            initial["addons"] = values.getlist("addons")
            initial["sms_opt_in"] = values.get("sms_opt_in") == "on"
            form = ConvertForm(initial=initial, station=station, slots=slots)
        else:
            form = ConvertForm(values, initial=initial, station=station, slots=slots)
        if posted and not refresh and form.is_valid():
            converted = self._convert(request, lead, form)
            if converted is not None:
                return converted
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Convert {lead.name} to a booking",
            "lead": lead,
            "form": form,
            "slots_free": bool(slots),
            "day": day,
            "guests": guests,
            "status": display.status_pill(lead),
            "score_badge": display.score_badge(lead),
            "budget": format_money(lead.budget_cents, station.currency)
            if lead.budget_cents is not None
            else "",
            "page_url": self.page_url(lead),
            "changelist_url": reverse("admin:leads_lead_changelist"),
        }
        return TemplateResponse(request, CONVERT_TEMPLATE, context)

    @staticmethod
    def _convert_initial(lead: Lead) -> dict:
        defaults = services.conversion_defaults(lead)
        return {
            "event_date": defaults["event_date"],
            "adults": defaults["adults"],
            "children": defaults["children"],
            "zip_code": defaults["zip_code"],
            "notes": defaults["notes"],
            "state": "CA",
            "city": lead.station.name if lead.station_id else "",
            "sms_opt_in": bool(lead.customer_id and lead.customer.sms_opt_in),
        }

    def _convert(self, request, lead: Lead, form: ConvertForm):
        data = form.cleaned_data
        try:
            lead = services.lead_convert(
                lead=lead,
                event_date=data["event_date"],
                start_time=data["start_time"],
                adults=data["adults"],
                children=data["children"],
                addon_codes=data["addons"],
                address=form.address(),
                actor=Actor.of(request.user),
                notes=data["notes"],
                allergies=data["allergies"],
                sms_opt_in=data["sms_opt_in"],
            )
        except ApiError as exc:  # nothing was changed
            if exc.error_code == "lead_converted":
                lead.refresh_from_db()
                if lead.converted_booking_id is not None:
                    messages.info(request, "This lead was converted already: here is its booking.")
                    return HttpResponseRedirect(
                        reverse("admin:bookings_booking_change", args=[lead.converted_booking_id])
                    )
            add_service_error(form, exc)
            return None
        booking = lead.converted_booking
        messages.success(
            request,
            f"{lead.name} is won: booking {booking.reference} created "
            f"({format_money(booking.total_cents, booking.currency)}, deposit "
            f"{format_money(booking.deposit_cents, booking.currency)} due). Send the deposit "
            "link from the booking's page.",
        )
        return HttpResponseRedirect(reverse("admin:bookings_booking_change", args=[booking.pk]))
