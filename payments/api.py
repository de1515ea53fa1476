"""Staff payments API: list, detail, refund (role-limited, idempotent)."""

import uuid

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from bookings import services as bookings
from config.schema import errors
from config.serializers import ModelSerializer, Serializer
from payments import refunds
from payments.models import Payment, PaymentStatus, Refund
from stations import tenancy
from stations.api import StationScopedViewSet


class RefundSerializer(ModelSerializer):
    class Meta:
        model = Refund
        fields = [
            "id",
            "amount_cents",
            "status",
            "reason",
            "stripe_refund_id",
            "error",
            "requested_by_label",
            "created_at",
        ]


class PaymentSerializer(ModelSerializer):
    booking = serializers.CharField(source="booking.reference")
    station = serializers.CharField(source="booking.station.slug")
    refundable_cents = serializers.IntegerField()
    refunds = RefundSerializer(many=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "booking",
            "station",
            "kind",
            "amount_cents",
            "currency",
            "status",
            "amount_refunded_cents",
            "refundable_cents",
            "disputed",
            "failure_message",
            "stripe_payment_intent_id",
            "offline",
            "created_at",
            "refunds",
        ]


class RefundRequestSerializer(Serializer):
    amount_cents = serializers.IntegerField(
        min_value=1, required=False, help_text="Leave out for everything still refundable."
    )
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")


class PaymentFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="booking__station__slug")
    booking = django_filters.CharFilter(field_name="booking__reference")
    status = django_filters.MultipleChoiceFilter(choices=PaymentStatus.choices)

    class Meta:
        model = Payment
        fields = ["station", "booking", "status", "kind"]


class StaffPaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, StationScopedViewSet):
    """Payments of the user's stations. Refunds: owners any amount, managers up to the
    station's limit, agents and chefs none."""

    queryset = (
        Payment.objects.select_related("booking__station")
        .prefetch_related("refunds")
        .order_by("-created_at", "-pk")
    )
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter
    write_roles = tenancy.MANAGE_ROLES

    def get_queryset(self):
        # Chefs see their events, not the money.
        return tenancy.scope(
            super().get_queryset(), self.request.user, roles=tenancy.STAFF_WRITE_ROLES
        )

    @extend_schema(
        request=RefundRequestSerializer,
        responses={
            200: PaymentSerializer,
            **errors(
                "refund_not_allowed",
                "refund_over_limit",
                "idempotency_key_reused",
                "refund_failed",
                "refund_outside_stripe",
            ),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key refunds once: a repeat answers the first refund.",
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        payment = self.get_object()
        data = RefundRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
        refunds.payment_refund(
            payment=payment,
            amount_cents=data.validated_data.get("amount_cents", payment.refundable_cents),
            idempotency_key=f"staff-{request.user.pk}-{key}"[:255],
            actor=bookings.Actor.of(request.user),
            reason=data.validated_data["reason"],
        )
        payment.refresh_from_db()
        return Response(PaymentSerializer(self.get_queryset().get(pk=payment.pk)).data)
