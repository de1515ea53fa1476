"""
Reviews API.

- Staff (token or session, station-scoped): `GET /api/v1/staff/reviews/` and `/{id}` for a
  station's agents, managers and owners (chefs: 403; another station's review: 404), filtered
  by station, platform, rating and reply status, newest first; `POST
  /api/v1/staff/reviews/{id}/respond` approves the draft (or the text given in its place, or a
  reply written for a review with no draft) and posts it: managers and owners only (an agent
  gets 403), once (409 `review_replied` after a reply was approved or posted).
- Public: `POST /api/v1/reviews/` with the review request's token, a rating (1-5) and text:
  201 with the same invitation to review publicly whatever the rating (no review gating); 404
  for a token that is no request's, 409 `review_submitted` when it was used before.
"""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.idempotency import idempotent
from config.schema import errors
from config.serializers import ModelSerializer, Serializer
from reviews import services
from reviews.models import Platform, ReplyStatus, Review, ReviewResponse
from stations import tenancy
from stations.api import PublicEndpointMixin, StationScopedViewSet

TEXT_MAX_LENGTH = 4000
TOKEN_MAX_LENGTH = 200


class ReviewAccess(permissions.BasePermission):
    """Reviews are for a station's agents, managers and owners (and superusers); anyone else
    is refused (403), except that a review named in the URL is simply not found (404)."""

    message = "Reviews are for a station's agents, managers and owners."

    def has_permission(self, request, view) -> bool:
        if tenancy.has_any_role(request.user, tenancy.STAFF_WRITE_ROLES):
            return True
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
        if lookup and lookup in getattr(view, "kwargs", {}) and tenancy.has_any_role(request.user):
            view.get_object()  # scoped to the roles above: not found
        return False


class ReviewResponseSerializer(ModelSerializer):
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ReviewResponse
        fields = [
            "id",
            "text",
            "level",
            "status",
            "approver",
            "approved_at",
            "edited",
            "posted_at",
            "post_error",
            "created_at",
        ]
        read_only_fields = fields


class ReviewSerializer(ModelSerializer):
    station = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    booking = serializers.SlugRelatedField(slug_field="reference", read_only=True, allow_null=True)
    responses = ReviewResponseSerializer(many=True, read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "station",
            "platform",
            "external_id",
            "rating",
            "author",
            "text",
            "created_on_platform",
            "updated_on_platform",
            "platform_reply",
            "reply_status",
            "alerted_at",
            "booking",
            "customer",
            "conversation",
            "responses",
        ]
        read_only_fields = fields


class RespondRequestSerializer(Serializer):
    text = serializers.CharField(
        max_length=TEXT_MAX_LENGTH,
        required=False,
        help_text="The reply to post in place of the draft (required when there is no draft).",
    )


class ReviewFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="station__slug", help_text="A station's slug.")
    platform = django_filters.MultipleChoiceFilter(choices=Platform.choices)
    rating = django_filters.MultipleChoiceFilter(choices=[(n, str(n)) for n in range(1, 6)])
    reply_status = django_filters.MultipleChoiceFilter(choices=ReplyStatus.choices)

    class Meta:
        model = Review
        fields = ["station", "platform", "rating", "reply_status"]


class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, StationScopedViewSet):
    """Every platform's reviews of your stations, newest first, with their replies."""

    queryset = (
        Review.objects.select_related("station", "booking")
        .prefetch_related("responses__approver")
        .order_by("-created_on_platform", "-pk")
    )
    serializer_class = ReviewSerializer
    filterset_class = ReviewFilter
    permission_classes = [permissions.IsAuthenticated, ReviewAccess]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return tenancy.scope(self.queryset, self.request.user, roles=tenancy.STAFF_WRITE_ROLES)

    @extend_schema(
        request=RespondRequestSerializer,
        responses={200: ReviewSerializer, **errors("review_replied")},
    )
    @action(detail=True, methods=["post"])
    def respond(self, request, pk=None):
        """Approve and post the reply: the draft as written, or `text` in its place (recorded
        as edited). Managers and owners only."""
        review = self.get_object()
        if not services.may_respond(request.user, review):
            raise PermissionDenied("Managers and owners answer reviews.")
        data = RespondRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.review_respond(
            review=review, actor=request.user, text=data.validated_data.get("text")
        )
        return Response(ReviewSerializer(self.get_queryset().get(pk=review.pk)).data)


# --- The public review form -------------------------------------------------------------------


class ReviewSubmitSerializer(Serializer):
    token = serializers.CharField(
        max_length=TOKEN_MAX_LENGTH, help_text="The token from the review request's link."
    )
    rating = serializers.IntegerField(min_value=1, max_value=5)
    text = serializers.CharField(
        max_length=TEXT_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class PublicLinkSerializer(Serializer):
    platform = serializers.CharField()
    url = serializers.URLField()


class InvitationSerializer(Serializer):
    text = serializers.CharField()
    links = PublicLinkSerializer(many=True)


class ReviewReceivedSerializer(Serializer):
    received = serializers.BooleanField()
    invitation = InvitationSerializer()


class ReviewSubmitView(PublicEndpointMixin, APIView):
    """A customer's review, with the token of their review request (once per token). Every
    customer is invited to review publicly too, whatever they rated."""

    @extend_schema(
        request=ReviewSubmitSerializer,
        responses={201: ReviewReceivedSerializer, **errors("not_found", "review_submitted")},
        auth=[],
    )
    @idempotent("review-submit")
    def post(self, request):
        data = ReviewSubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        submitted = services.review_submit(token=v["token"], rating=v["rating"], text=v["text"])
        return Response({"received": True, "invitation": submitted.invitation}, status=201)
