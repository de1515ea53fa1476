"""
Bookings API. Public (booking site): menu, availability, quotes, booking create and the
customer's self-service link. Staff: bookings (with transitions and reassignment) and customers.
Views validate, call a service, and shape the answer.
"""

import json

import django_filters
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSet

from bookings import pricing, scheduling, selectors, services
from bookings import serializers as s
from bookings.models import (
    NO_PAYMENT_STATUSES,
    Booking,
    BookingEvent,
    BookingSource,
    BookingStatus,
    Customer,
)
from config import filters
from config.exceptions import Conflict
from config.idempotency import idempotent
from config.schema import errors
from payments import intents as payment_intents
from payments import refunds as payment_refunds
from payments import selectors as payment_selectors
from payments import stripe_client
from stations import tenancy
from stations.api import PublicEndpointMixin, StationScopedViewSet
from stations.models import Chef

# The domain errors of the operations below (the schema lists them; config.schema adds the
# ones every operation of its kind can answer). Pricing a party: bookings.pricing.
PRICING_ERRORS = ("outside_service_area", "no_price_list")
CREATE_ERRORS = (*PRICING_ERRORS, "slot_unavailable", "try_again", "conflict")
TRANSITION_ERRORS = ("invalid_transition", "conflict")
RESCHEDULE_ERRORS = (*PRICING_ERRORS, *TRANSITION_ERRORS, "slot_unavailable", "event_started")

TOKEN_HEADER = OpenApiParameter(
    "X-Booking-Token", str, OpenApiParameter.HEADER, required=True, description="manage_token"
)


def _station_or_404(slug: str):
    station = selectors.active_station(slug)
    if station is None:
        raise Http404
    return station


def _contact(data: dict) -> dict:
    return {k: data[k] for k in ("name", "email", "phone", "sms_opt_in")}


# --- Public ----------------------------------------------------------------------------------


class MenuView(PublicEndpointMixin, APIView):
    @extend_schema(responses={200: s.MenuSerializer, **errors("no_price_list")}, auth=[])
    def get(self, request, slug):
        station = _station_or_404(slug)
        return Response(s.MenuSerializer(pricing.price_list_for(station)).data)


class AvailabilityView(PublicEndpointMixin, APIView):
    @extend_schema(
        parameters=[s.AvailabilityQuerySerializer], responses=s.AvailabilitySerializer, auth=[]
    )
    def get(self, request, slug):
        station = selectors.active_station_with_chefs(slug)
        if station is None:
            raise Http404
        query = s.AvailabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["guests"] > station.max_guests:
            raise serializers.ValidationError(
                {"guests": [f"Parties of 1 to {station.max_guests} guests can book online."]}
            )
        # The slots come JSON-encoded in the shape of AvailabilitySerializer, mostly from the
        # cache; the answer is assembled around them rather than decoded and encoded again.
        slots = scheduling.available_slots_json(
            station=station, chef_ids=station.active_chef_ids, **query.validated_data
        )
        head = json.dumps(
            {"station": station.slug, "timezone": station.timezone}, separators=scheduling.COMPACT
        )[:-1]
        return HttpResponse(
            f'{head},"slots":[{",".join(slots)}]}}', content_type="application/json"
        )


class QuoteView(PublicEndpointMixin, APIView):
    @extend_schema(
        request=s.QuoteRequestSerializer,
        responses={200: s.QuoteSerializer, **errors(*PRICING_ERRORS)},
        auth=[],
    )
    def post(self, request):
        data = s.QuoteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        quote = pricing.quote(
            station=v["station"],
            event_date=v["event_date"],
            adults=v["adults"],
            children=v["children"],
            zip_code=v["zip_code"],
            addon_codes=v["addons"],
        )
        return Response(s.QuoteSerializer(quote).data)


def _create_booking(request, *, source: str, actor: services.Actor) -> Response:
    data = s.BookingRequestSerializer(data=request.data, context={"request": request})
    data.is_valid(raise_exception=True)
    v = data.validated_data
    claim = getattr(request, "idempotency", None)  # set under an Idempotency-Key
    booking, token, payment = payment_intents.booking_create_with_deposit(
        request_ref=claim.lookup if claim else "",
        manage_token=claim.secret_for("manage-token") if claim else None,
        station=v["station"],
        event_date=v["event_date"],
        start_time=v["start_time"],
        adults=v["adults"],
        children=v["children"],
        addon_codes=v["addons"],
        address=v["address"],
        customer=_contact(v["customer"]),
        notes=v["notes"],
        allergies=v["allergies"],
        source=source,
        actor=actor,
    )
    context = {"manage_token": token, "payment": payment_selectors.payment_block(payment)}
    return Response(s.BookingCreatedSerializer(booking, context=context).data, status=201)


def _customer_payment(booking: Booking) -> dict | None:
    """The payment the customer can make now; a deposit intent that could not be created at
    booking time (Stripe unreachable) is created here."""
    if booking.status in NO_PAYMENT_STATUSES:
        return None  # an ended booking takes no money
    payment = payment_selectors.open_payment(booking)
    if (
        payment is None
        and booking.status == BookingStatus.PENDING_DEPOSIT
        and not booking.payments.filter(kind="deposit").exists()
    ):
        try:
            payment = payment_intents.payment_for_deposit(booking=booking)
        except stripe_client.StripeError:
            payment = None
    return payment_selectors.payment_block(payment)


class BookingCreateView(PublicEndpointMixin, APIView):
    @extend_schema(
        request=s.BookingRequestSerializer,
        responses={201: s.BookingCreatedSerializer, **errors(*CREATE_ERRORS)},
        auth=[],
    )
    @idempotent("booking-create")
    def post(self, request):
        return _create_booking(request, source=BookingSource.WEB, actor=services.CUSTOMER)


class BookingManageViewSet(PublicEndpointMixin, ViewSet):
    """The customer's own booking, behind the secret manage token. Any wrong token is 404."""

    lookup_field = "reference"
    lookup_value_regex = "MH-[0-9A-Za-z]{6}"

    def _booking(self, request, reference) -> Booking:
        booking = selectors.booking_for_customer(reference)
        token = request.headers.get("X-Booking-Token")
        if booking is None or not services.token_matches(booking, token):
            raise Http404
        return booking

    @extend_schema(parameters=[TOKEN_HEADER], responses=s.BookingSerializer, auth=[])
    def retrieve(self, request, reference=None):
        booking = self._booking(request, reference)
        context = {"payment": _customer_payment(booking)}
        return Response(s.BookingSerializer(booking, context=context).data)

    @extend_schema(
        parameters=[TOKEN_HEADER],
        request=s.CancelRequestSerializer,
        responses={200: s.BookingSerializer, **errors("event_started", *TRANSITION_ERRORS)},
        auth=[],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, reference=None):
        booking = self._booking(request, reference)
        data = s.CancelRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        booking, _, _ = payment_refunds.booking_cancel_with_refund(
            booking=booking, actor=services.CUSTOMER, reason=data.validated_data["reason"]
        )
        booking.refresh_from_db()
        return Response(s.BookingSerializer(booking).data)

    @extend_schema(
        parameters=[TOKEN_HEADER],
        request=s.RescheduleRequestSerializer,
        responses={200: s.BookingSerializer, **errors(*RESCHEDULE_ERRORS)},
        auth=[],
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, reference=None):
        booking = self._booking(request, reference)
        data = s.RescheduleRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        booking, _ = payment_refunds.booking_reschedule_with_payments(
            booking=booking, actor=services.CUSTOMER, **data.validated_data
        )
        booking.refresh_from_db()
        context = {"payment": _customer_payment(booking)}
        return Response(s.BookingSerializer(booking, context=context).data)


# --- Staff -----------------------------------------------------------------------------------


class BookingFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="station__slug")
    date_from = filters.DateFilter(field_name="event_date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="event_date", lookup_expr="lte")
    status = django_filters.MultipleChoiceFilter(choices=BookingStatus.choices)
    chef = filters.IdFilter(field_name="chef_id")
    customer = filters.IdFilter(field_name="customer_id")

    class Meta:
        model = Booking
        fields = ["station", "date_from", "date_to", "status", "chef", "customer"]


class StaffBookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, StationScopedViewSet):
    """Bookings of the user's stations (chefs: their own events, read-only)."""

    # station__price_list: each row shows its policy, whose change fee comes from the price list.
    queryset = Booking.objects.select_related(
        "station", "station__price_list", "customer", "chef"
    ).order_by("starts_at", "pk")
    filterset_class = BookingFilter

    def get_queryset(self):
        queryset = selectors.bookings_for(self.request.user, self.queryset)
        if self.action == "retrieve":
            events = BookingEvent.objects.order_by("created_at", "pk")
            queryset = queryset.prefetch_related(Prefetch("events", queryset=events))
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.StaffBookingDetailSerializer
        if self.action == "create":
            return s.StaffBookingCreateSerializer
        return s.StaffBookingSerializer

    @extend_schema(
        request=s.StaffBookingCreateSerializer,
        # The customer's answer, as the booking site gets it: staff pass the booking link on.
        responses={201: s.BookingCreatedSerializer, **errors(*CREATE_ERRORS)},
    )
    def create(self, request):
        data = s.StaffBookingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        station = data.validated_data["station"]
        if not tenancy.has_role(request.user, station.pk, self.write_roles):
            raise serializers.ValidationError({"station": ["Unknown station."]})
        return _create_booking(
            request, source=BookingSource.STAFF, actor=services.Actor.of(request.user)
        )

    def _transition(self, request, to_status):
        booking = self.get_object()
        serializer = s.CancelBySerializer if to_status == BookingStatus.CANCELLED else None
        data = (serializer or s.TransitionSerializer)(data=request.data)
        data.is_valid(raise_exception=True)
        actor = services.Actor.of(request.user)
        reason = data.validated_data["reason"]
        if to_status == BookingStatus.CANCELLED:
            booking, _, _ = payment_refunds.booking_cancel_with_refund(
                booking=booking,
                actor=actor,
                reason=reason,
                refund_cents=data.validated_data.get("refund_cents"),
            )
            booking.refresh_from_db()
        else:
            booking = services.booking_transition(
                booking=booking, to_status=to_status, actor=actor, reason=reason
            )
        return Response(s.StaffBookingSerializer(booking).data)

    @extend_schema(
        request=s.TransitionSerializer,
        responses={200: s.StaffBookingSerializer, **errors(*TRANSITION_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        return self._transition(request, BookingStatus.CONFIRMED)

    @extend_schema(
        request=s.CancelBySerializer,
        responses={
            200: s.StaffBookingSerializer,
            **errors(*TRANSITION_ERRORS, "refund_not_allowed", "refund_over_limit"),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._transition(request, BookingStatus.CANCELLED)

    @extend_schema(
        request=s.TransitionSerializer,
        responses={200: s.StaffBookingSerializer, **errors(*TRANSITION_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._transition(request, BookingStatus.COMPLETED)

    @extend_schema(
        request=s.TransitionSerializer,
        responses={200: s.StaffBookingSerializer, **errors(*TRANSITION_ERRORS)},
    )
    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request, pk=None):
        return self._transition(request, BookingStatus.NO_SHOW)

    @extend_schema(
        request=None,
        responses={
            200: s.StaffBookingSerializer,
            **errors(
                "nothing_due",
                "invalid_transition",
                "payment_provider_refused",
                "payment_provider_unavailable",
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="request-balance")
    def request_balance(self, request, pk=None):
        """Create a PaymentIntent for the balance due and send the customer the link."""
        booking = self.get_object()
        payment_intents.payment_request_balance(
            booking=booking, actor=services.Actor.of(request.user)
        )
        return Response(s.StaffBookingSerializer(booking).data)

    @extend_schema(
        request=s.ReassignSerializer,
        responses={
            200: s.StaffBookingSerializer,
            **errors("invalid_transition", "chef_unavailable", "conflict"),
        },
    )
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        booking = self.get_object()
        data = s.ReassignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        chef = Chef.objects.filter(pk=data.validated_data["chef"], station_id=booking.station_id)
        if not chef.exists():
            raise serializers.ValidationError({"chef": ["No such chef at this station."]})
        booking = services.booking_reassign_chef(
            booking=booking, chef=chef.get(), actor=services.Actor.of(request.user)
        )
        return Response(s.StaffBookingSerializer(booking).data)

    @extend_schema(
        request=s.RescheduleRequestSerializer,
        responses={200: s.StaffBookingSerializer, **errors(*RESCHEDULE_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        booking = self.get_object()
        data = s.RescheduleRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        booking, _ = payment_refunds.booking_reschedule_with_payments(
            booking=booking, actor=services.Actor.of(request.user), **data.validated_data
        )
        booking.refresh_from_db()
        return Response(s.StaffBookingSerializer(booking).data)


class CustomerFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="station__slug")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Customer
        fields = ["station", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value) | Q(email__icontains=value) | Q(phone__contains=value)
        )


@extend_schema_view(
    partial_update=extend_schema(responses={200: s.CustomerSerializer, **errors("conflict")})
)
class StaffCustomerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, StationScopedViewSet
):
    queryset = Customer.objects.select_related("station").order_by("name", "pk")
    serializer_class = s.CustomerSerializer
    filterset_class = CustomerFilter
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        # Chefs see their events, not the customer book.
        queryset = super().get_queryset()
        return tenancy.scope(queryset, self.request.user, roles=tenancy.STAFF_WRITE_ROLES)

    def perform_update(self, serializer):
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError as exc:  # the same e-mail or phone saved meanwhile
            raise Conflict("Another customer of this station has that e-mail or phone.") from exc
