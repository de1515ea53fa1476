"""
Station endpoints, and the bases every station-scoped staff endpoint builds on.

`StationScopedViewSet` is the staff API's one door: its queryset goes through the tenancy rule,
writes need one of `write_roles` at the object's station, and create/update may only name a
station the user may write to. Public endpoints use `PublicAPIView`-style settings: no
authentication, the public rate limit.
"""

from django.db.models import Prefetch
from rest_framework import mixins, permissions, serializers, viewsets

from config.serializers import ModelSerializer, Serializer
from config.throttling import PublicThrottle, StaffThrottle
from stations import tenancy
from stations.models import ServiceZone, Station

# A slug in a URL: anything else (a NUL, say, which PostgreSQL refuses in a query) is a 404
# before it reaches the database. DRF's default, [^/.]+, lets any character through.
SLUG_IN_URL = r"[-\w]+"


class StationRolePermission(permissions.BasePermission):
    """Members may read what the tenancy rule shows them; writing needs `view.write_roles`."""

    message = "Your role at this station does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not tenancy.has_any_role(user):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if tenancy.has_any_role(user, view.write_roles):
            return True
        if (view.lookup_url_kwarg or view.lookup_field) in view.kwargs:
            view.get_object()  # another station's object is not found (404), never forbidden
        return False

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return tenancy.has_role(request.user, tenancy.station_id_of(obj), view.write_roles)


class ScopedStationField(serializers.SlugRelatedField):
    """A station named by slug, limited to those the requesting user may write to."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context["request"]
        view = self.context.get("view")
        roles = getattr(view, "write_roles", tenancy.STAFF_WRITE_ROLES)
        return tenancy.stations_for(request.user, roles=roles)


class StationScopedViewSet(viewsets.GenericViewSet):
    """Base for staff endpoints over station-owned rows (add the mixins you need)."""

    permission_classes = [permissions.IsAuthenticated, StationRolePermission]
    throttle_classes = [StaffThrottle]
    write_roles = tenancy.STAFF_WRITE_ROLES

    def get_queryset(self):
        return tenancy.scope(super().get_queryset(), self.request.user)


class PublicEndpointMixin:
    """Anonymous, CSRF-free, rate limited per client address."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PublicThrottle]


def _with_zones(queryset):
    return queryset.prefetch_related(
        Prefetch("zones", queryset=ServiceZone.objects.only("station_id", "zip_codes"))
    )


class PublicStationSerializer(ModelSerializer):
    service_zip_codes = serializers.SerializerMethodField()

    class Meta:
        model = Station
        fields = ["slug", "name", "timezone", "currency", "phone", "service_zip_codes"]

    def get_service_zip_codes(self, station) -> list[str]:
        return sorted({zip_code for zone in station.zones.all() for zip_code in zone.zip_codes})


class PublicStationViewSet(PublicEndpointMixin, viewsets.ReadOnlyModelViewSet):
    """Active stations, for the booking site's station picker."""

    serializer_class = PublicStationSerializer
    lookup_field = "slug"
    lookup_value_regex = SLUG_IN_URL
    pagination_class = None

    def get_queryset(self):
        return _with_zones(Station.objects.filter(active=True))


class DurationTierSerializer(Serializer):
    max_guests = serializers.IntegerField(min_value=1, max_value=32767)
    minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)


class StaffStationSerializer(PublicStationSerializer):
    role = serializers.SerializerMethodField()
    duration_rules = serializers.ListField(
        child=DurationTierSerializer(),
        min_length=1,
        max_length=50,
        help_text=Station._meta.get_field("duration_rules").help_text,
    )
    currency = serializers.RegexField(
        "^[A-Z]{3}$", max_length=3, help_text="ISO 4217, in capitals (USD)."
    )

    class Meta:
        model = Station
        fields = [
            "slug",
            "name",
            "timezone",
            "currency",
            "phone",
            "email",
            "active",
            "service_zip_codes",
            "role",
            "slot_interval_minutes",
            "earliest_start",
            "latest_start",
            "duration_rules",
            "buffer_minutes",
            "min_notice_hours",
            "booking_horizon_days",
            "max_events_per_chef_per_day",
            "max_guests",
            "hold_minutes",
            "staff_hold_minutes",
            "deposit_forfeit_hours",
            "free_reschedule_notice_hours",
            "quiet_hours_start",
            "quiet_hours_end",
            "sms_help_text",
            "manager_refund_limit_cents",
            "auto_charge_balance_days",
            "ai_monthly_budget_cents",
            "ai_rate_limit_per_minute",
            "ai_auto_reply_level",
            "ai_l1_intents",
            "ai_confidence_threshold",
        ]
        read_only_fields = ["slug"]

    def get_role(self, station) -> str | None:
        user = self.context["request"].user
        return "superuser" if tenancy.is_superuser(user) else tenancy.role_at(user, station.pk)

    def validate(self, attrs):
        instance = Station(**{**self._current_values(), **attrs})
        instance.clean()  # the same rules as the admin form (start window, duration tiers)
        return attrs

    def _current_values(self) -> dict:
        if self.instance is None:
            return {}
        return {
            f: getattr(self.instance, f)
            for f in ("earliest_start", "latest_start", "duration_rules")
        }


class StaffStationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, StationScopedViewSet
):
    """The stations the user works at; only owners may change settings (PATCH)."""

    queryset = Station.objects.all()
    serializer_class = StaffStationSerializer
    lookup_field = "slug"
    lookup_value_regex = SLUG_IN_URL
    write_roles = tenancy.SETTINGS_ROLES
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return _with_zones(super().get_queryset())
