"""
Leads API (DESIGN.md §5, issue 15). Public: the lead form, `POST /api/v1/leads/`. Staff (token
or session; a station's agents, managers and owners, chefs have no leads): the pipeline under
`/api/v1/staff/leads/`: list, detail, PATCH details, status, assign, activities, follow-up,
route (owners: the unassigned queue), convert to a booking, and the speed-to-lead metrics.
Views validate, call a service (leads.services) and shape the answer.

Scoping: leads.selectors.leads_for, the tenancy rule plus the unassigned queue for owners;
another station's lead is not found (404), never forbidden.

Costs that must not grow with the data: a page of the pipeline is one query with its station,
assignee and booking joined (plus the page's COUNT), over the seed's (station, status) index,
whatever the page size.
"""

import secrets
from zoneinfo import ZoneInfo

import django_filters
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, permissions
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings import scheduling
from bookings.selectors import contact_match
from bookings.services import Actor
from config.filters import by_assignee
from config.idempotency import idempotent
from config.schema import errors
from config.throttling import ContactThrottle, PublicThrottle
from inbox import contact
from leads import selectors, services
from leads import serializers as s
from leads.models import Lead, LeadActivity, LeadSource, LeadStatus
from stations import tenancy
from stations.api import PublicEndpointMixin, StationScopedViewSet
from stations.models import Station

ASSIGNEE_VALUE = "^(me|none|[0-9]{1,19})$"
# The last of the US's days to begin (UTC-10): with no station, "not in the past" is read there.
_EARLIEST_US_ZONE = ZoneInfo("Pacific/Honolulu")
# Converting answers the booking's own errors (pricing, the slot) and the lead's.
CONVERT_ERRORS = (
    "outside_service_area",
    "no_price_list",
    "slot_unavailable",
    "try_again",
    "conflict",
    "lead_converted",
    "lead_unrouted",
)


# --- The public lead form ------------------------------------------------------------------


class LeadFormThrottle(ContactThrottle):
    """The lead form: per client address, counted apart from the contact form, at the contact
    form's rate (THROTTLE_CONTACT_RATE) unless settings.THROTTLE_RATES names "lead_form"."""

    scope = "lead_form"

    def get_rate(self):
        rates = settings.THROTTLE_RATES
        return rates.get(self.scope, rates.get(ContactThrottle.scope, self.default_rate))


def _form_station(slug: str) -> Station | None:
    if not slug:
        return None
    station = Station.objects.filter(slug=slug, active=True).first()
    if station is None:
        raise ValidationError({"station": ["Unknown station."]})
    return station


def _check_event_date(v: dict, station: Station | None, now) -> None:
    """Not before today where the party is (the station's day; with no station, the earliest
    day anywhere in the US, so that a lead from Hawaii's today is never refused)."""
    event_date = v["event_date"]
    if event_date is None:
        return
    routed = station or services.station_for_zip(v["zip_code"])
    if routed is not None:
        today = scheduling.local_today(routed, now)
    else:
        today = timezone.localtime(now, timezone=_EARLIEST_US_ZONE).date()
    if event_date < today:
        raise ValidationError({"event_date": ["The date has passed."]})


def _decoy_id() -> int:
    """The id a dropped (spam) submission is answered with: like the next lead's, so the
    answer tells a program nothing (it reads no contact data)."""
    last = Lead.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return last + 1 + secrets.randbelow(3)


class LeadCaptureView(PublicEndpointMixin, APIView):
    """A party enquiry: 201 with the lead's id and status, and nothing stored is read back.
    Needs an e-mail or a phone. Routed to the station named, else to the one that serves the
    ZIP code, else left in the unassigned queue (owners route it); merged into the station's
    open lead with the same phone or e-mail (the same id comes back). A form filled in by a
    program (the hidden `website` field, or sent faster than a person types) is answered alike
    and stores nothing."""

    throttle_classes = [PublicThrottle, LeadFormThrottle]

    @extend_schema(request=s.LeadFormSerializer, responses={201: s.LeadReceivedSerializer}, auth=[])
    @idempotent("lead-capture")
    def post(self, request):
        data = s.LeadFormSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        now = timezone.now()
        station = _form_station(v["station"])
        _check_event_date(v, station, now)
        submission = contact.ContactSubmission(
            name=v["name"],
            message=v["message"],
            honeypot=v["website"],
            form_started_at=v["form_started_at"],
        )
        if contact.spam_reason(submission, now=now):
            return Response({"id": _decoy_id(), "status": LeadStatus.NEW}, status=201)
        lead, _new = services.lead_capture(
            data=services.LeadInput(
                name=v["name"].strip(),
                email=v["email"],
                phone=v["phone"],
                zip_code=v["zip_code"],
                event_date=v["event_date"],
                guests=v["guests"],
                budget_cents=v["budget_cents"],
                message=v["message"],
                source=v["source"],
            ),
            station=station,
            actor=services.SYSTEM,
            now=now,
        )
        # A merge answers "new" whatever the open lead's stage: the pipeline (contacted,
        # quoted...) is stored data about a person that an unauthenticated request never reads
        # back (DESIGN.md §3); to the visitor, their enquiry has just come in.
        return Response({"id": lead.pk, "status": LeadStatus.NEW}, status=201)


# --- Staff: who may ------------------------------------------------------------------------


class LeadAccess(permissions.BasePermission):
    """Leads are for a station's agents, managers and owners (and superusers); a chef or a
    user of no station is refused (403), except that a lead named in the URL is simply not
    found (404), as another station's objects are everywhere in the staff API. Whoever sees a
    lead may work it (leads_for shows each user only what they may work)."""

    message = "Leads are for a station's agents, managers and owners."

    def has_permission(self, request, view) -> bool:
        if tenancy.has_any_role(request.user, tenancy.STAFF_WRITE_ROLES):
            return True
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
        if lookup and lookup in getattr(view, "kwargs", {}) and tenancy.has_any_role(request.user):
            view.get_object()  # scoped to the leads' roles: not found
        return False


# --- Staff: the list -----------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": ASSIGNEE_VALUE})
class AssigneeFilter(django_filters.CharFilter):
    """ "me", "none" (unassigned) or a staff member's id."""


class LeadOrdering(django_filters.OrderingFilter):
    """By score or by when the lead came in; ties newest first (a stable page order)."""

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.order_by(*[self.get_ordering_value(v) for v in value], "-created_at", "-pk")


class LeadFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(
        method="filter_station",
        help_text='A station\'s slug, or "unassigned" for the queue no station serves.',
    )
    status = django_filters.MultipleChoiceFilter(choices=LeadStatus.choices)
    source = django_filters.MultipleChoiceFilter(choices=LeadSource.choices)
    assignee = AssigneeFilter(
        method="filter_assignee",
        validators=[RegexValidator(ASSIGNEE_VALUE, "Give me, none or a staff member's id.")],
        help_text='"me", "none" (nobody) or a staff member\'s id.',
    )
    q = django_filters.CharFilter(method="search", help_text="Part of the name, e-mail or phone.")
    ordering = LeadOrdering(
        fields=(("score", "score"), ("created_at", "created_at")),
        help_text="score, -score, created_at or -created_at (default: newest first).",
    )

    class Meta:
        model = Lead
        fields = ["station", "status", "source", "assignee", "q", "ordering"]

    def filter_station(self, queryset, name, value):
        if value == "unassigned":
            return queryset.filter(station__isnull=True)
        return queryset.filter(station__slug=value)

    def filter_assignee(self, queryset, name, value):
        return by_assignee(queryset, value, self.request.user)

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(contact_match(value, prefix=""))


METRICS_PARAMETERS = [
    OpenApiParameter(
        name,
        OpenApiTypes.DATETIME,
        OpenApiParameter.QUERY,
        description=f"{what} (RFC 3339, with its offset).",
    )
    for name, what in (
        ("since", "Leads that came in from then"),
        ("until", "Leads that came in before then"),
    )
]


# --- Staff: the viewset --------------------------------------------------------------------


@extend_schema_view(
    partial_update=extend_schema(
        request=s.LeadUpdateSerializer, responses={200: s.LeadDetailSerializer}
    )
)
class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    StationScopedViewSet,
):
    """The pipeline: the leads of the user's stations (owners: and the unassigned queue),
    newest first."""

    queryset = Lead.objects.select_related("station", "assignee", "converted_booking").order_by(
        "-created_at", "-pk"
    )
    serializer_class = s.LeadSerializer
    filterset_class = LeadFilter
    permission_classes = [permissions.IsAuthenticated, LeadAccess]
    lookup_value_regex = "[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        queryset = selectors.leads_for(self.request.user, self.queryset)
        if self.action != "list":
            activities = LeadActivity.objects.order_by("created_at", "pk")
            queryset = queryset.prefetch_related(Prefetch("activities", queryset=activities))
        return queryset

    def get_serializer_class(self):
        if self.action == "list":
            return s.LeadSerializer
        return s.LeadDetailSerializer

    def _answer(self, lead: Lead, status: int = 200) -> Response:
        fresh = self.get_queryset().get(pk=lead.pk)
        return Response(s.LeadDetailSerializer(fresh).data, status=status)

    def _actor(self) -> Actor:
        return Actor.of(self.request.user)

    def partial_update(self, request, pk=None):
        """Correct or complete the lead's details (only the fields sent); scored again."""
        lead = self.get_object()
        data = s.LeadUpdateSerializer(data=request.data, partial=True, context={"lead": lead})
        data.is_valid(raise_exception=True)
        services.lead_update(lead=lead, changes=dict(data.validated_data), actor=self._actor())
        return self._answer(lead)

    @extend_schema(
        request=s.StatusRequestSerializer,
        responses={200: s.LeadDetailSerializer, **errors("lead_status_conflict")},
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        """Move the lead along the pipeline; `lost` needs a reason; `won` comes only from
        converting it (409 lead_status_conflict for a move the pipeline does not allow)."""
        lead = self.get_object()
        data = s.StatusRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.lead_set_status(
            lead=lead, status=v["status"], reason=v["reason"], actor=self._actor()
        )
        return self._answer(lead)

    @extend_schema(request=s.LeadAssignRequestSerializer, responses=s.LeadDetailSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give the lead to a staff member of its station (null: nobody)."""
        lead = self.get_object()
        data = s.LeadAssignRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = data.validated_data["assignee"]
        assignee = None
        if user_id is not None:
            assignee = get_user_model().objects.filter(pk=user_id, is_active=True).first()
            if assignee is None:
                raise ValidationError({"assignee": ["Not a member of this station."]})
        services.lead_assign(lead=lead, assignee=assignee, actor=self._actor())
        return self._answer(lead)

    @extend_schema(request=s.ActivityRequestSerializer, responses={201: s.ActivitySerializer})
    @action(detail=True, methods=["post"])
    def activities(self, request, pk=None):
        """Log a note, a call or a message. A call or a message is contact: a new lead
        becomes `contacted`, and the speed-to-lead clock stops."""
        lead = self.get_object()
        data = s.ActivityRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        activity = services.lead_log(lead=lead, kind=v["kind"], body=v["body"], actor=self._actor())
        return Response(s.ActivitySerializer(activity).data, status=201)

    @extend_schema(request=s.FollowUpRequestSerializer, responses=s.LeadDetailSerializer)
    @action(detail=True, methods=["post"], url_path="follow-up")
    def follow_up(self, request, pk=None):
        """When to follow the lead up (null: no date)."""
        lead = self.get_object()
        data = s.FollowUpRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.lead_set_follow_up(lead=lead, at=data.validated_data["at"], actor=self._actor())
        return self._answer(lead)

    @extend_schema(
        request=s.RouteRequestSerializer,
        responses={200: s.LeadDetailSerializer, **errors("lead_routed")},
    )
    @action(detail=True, methods=["post"])
    def route(self, request, pk=None):
        """Give a lead of the unassigned queue to a station (owners, to a station they own;
        403 for other roles). 409 lead_routed for a lead that has a station."""
        lead = self.get_object()
        if not tenancy.has_any_role(request.user, tenancy.SETTINGS_ROLES):
            raise PermissionDenied("Owners route leads to a station.")
        data = s.RouteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        owned = tenancy.stations_for(request.user, roles=tenancy.SETTINGS_ROLES)
        station = owned.filter(slug=data.validated_data["station"], active=True).first()
        if station is None:
            raise ValidationError({"station": ["Not an active station you own."]})
        services.lead_route(lead=lead, station=station, actor=self._actor())
        return self._answer(lead)

    @extend_schema(
        request=s.ConvertRequestSerializer,
        responses={201: s.ConvertedSerializer, **errors(*CONVERT_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    @idempotent("lead-convert")
    def convert(self, request, pk=None):
        """Book the lead's party: the customer and booking are created by the bookings service
        (its availability and capacity rules: 409 slot_unavailable when the slot is gone, and
        nothing changes), the two are linked and the lead is `won`. Once: 409 lead_converted
        after. With an Idempotency-Key a retried POST gets the first answer."""
        lead = self.get_object()
        data = s.ConvertRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        won = services.lead_convert(
            lead=lead,
            event_date=v["event_date"],
            start_time=v["start_time"],
            adults=v["adults"],
            children=v["children"],
            addon_codes=v["addons"],
            address=dict(v["address"]),
            notes=v["notes"],
            allergies=v["allergies"],
            sms_opt_in=v["sms_opt_in"],
            actor=self._actor(),
        )
        booking = won.converted_booking
        answer = {
            "id": won.pk,
            "status": won.status,
            "booking_reference": booking.reference,
            "booking_status": booking.status,
        }
        return Response(s.ConvertedSerializer(answer).data, status=201)

    @extend_schema(parameters=METRICS_PARAMETERS, responses=s.MetricsSerializer)
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def metrics(self, request):
        """Speed to lead and conversion over the leads you see that came in within
        [since, until): by source, time to first human contact (median and p90, minutes),
        conversion per station and per source."""
        # A plain dict: DRF would read "?since=" from a QueryDict as "not given", where the
        # schema (a date-time) says it is invalid.
        query = s.MetricsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        v = query.validated_data
        leads = selectors.leads_for(request.user)
        figures = selectors.lead_metrics(leads, since=v.get("since"), until=v.get("until"))
        return Response(s.MetricsSerializer(figures).data)
