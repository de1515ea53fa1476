from django.contrib import admin
from django.contrib.auth import get_user_model

from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin, StationScopedInline
from stations.models import Chef, Membership, ServiceZone, Station, TimeOff


class ServiceZoneInline(StationScopedInline):
    model = ServiceZone
    write_roles = tenancy.SETTINGS_ROLES
    fields = ["name", "zip_codes", "travel_fee_cents"]


@admin.register(Station)
class StationAdmin(StationScopedAdmin):
    write_roles = tenancy.SETTINGS_ROLES
    list_display = ["name", "slug", "timezone", "currency", "phone", "active"]
    list_filter = ["active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["calendar_token", "created_at", "updated_at"]
    inlines = [ServiceZoneInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "active", "timezone", "currency", "phone", "email"]}),
        (
            "Booking rules",
            {
                "fields": [
                    "slot_interval_minutes",
                    ("earliest_start", "latest_start"),
                    "duration_rules",
                    "buffer_minutes",
                    "min_notice_hours",
                    "booking_horizon_days",
                    "max_events_per_chef_per_day",
                    "max_guests",
                    "hold_minutes",
                ]
            },
        ),
        (
            "Cancellation policy",
            {
                "fields": [
                    "deposit_forfeit_hours",
                    "free_reschedule_notice_hours",
                ]
            },
        ),
        ("Messaging", {"fields": [("quiet_hours_start", "quiet_hours_end")]}),
        ("Payments", {"fields": ["manager_refund_limit_cents"]}),
        (
            "AI",
            {
                "fields": [
                    "ai_monthly_budget_cents",
                    "ai_rate_limit_per_minute",
                    "ai_auto_reply_level",
                ]
            },
        ),
        ("Feeds", {"fields": ["calendar_token", "created_at", "updated_at"]}),
    ]

    def has_add_permission(self, request):
        return tenancy.is_superuser(request.user)  # new territories are set up centrally

    def has_delete_permission(self, request, obj=None):
        return tenancy.is_superuser(request.user)


@admin.register(Membership)
class MembershipAdmin(StationScopedAdmin):
    write_roles = tenancy.SETTINGS_ROLES
    list_display = ["user", "station", "role", "created_at"]
    list_filter = [StationListFilter, "role"]
    list_select_related = ["user", "station"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]


@admin.register(Chef)
class ChefAdmin(StationScopedAdmin):
    write_roles = tenancy.MANAGE_ROLES
    list_display = ["name", "station", "phone", "active"]
    list_filter = [StationListFilter, "active"]
    list_select_related = ["station"]
    search_fields = ["name"]
    readonly_fields = ["calendar_token"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not tenancy.is_superuser(request.user):
            # A chef's login is one of the staff of the user's stations, never another station's.
            stations = tenancy.stations_for(request.user, roles=self.write_roles)
            kwargs["queryset"] = (
                get_user_model().objects.filter(memberships__station__in=stations).distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(TimeOff)
class TimeOffAdmin(StationScopedAdmin):
    write_roles = tenancy.MANAGE_ROLES
    list_display = ["chef", "starts_at", "ends_at", "reason"]
    list_filter = [StationListFilter]
    list_select_related = ["chef", "chef__station"]
    search_fields = ["chef__name", "reason"]
    autocomplete_fields = ["chef"]
    date_hierarchy = "starts_at"
