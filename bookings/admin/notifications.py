"""The outbox of customer messages, read-only."""

from django.contrib import admin

from bookings.models import Notification
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin


@admin.register(Notification)
class NotificationAdmin(StationScopedAdmin):
    """The outbox, read-only: what each customer was sent (or why not), and what is still on
    its way. Chefs don't see customer messages."""

    view_roles = tenancy.STAFF_WRITE_ROLES
    list_display = ["created_at", "booking", "subject", "channel", "status", "attempts", "sent_at"]
    list_filter = [StationListFilter, "status", "channel"]
    list_select_related = ["booking"]
    search_fields = ["booking__reference", "subject"]
    ordering = ["-created_at", "-pk"]
    date_hierarchy = "created_at"
    raw_id_fields = ["booking"]
    fields = [
        "booking",
        "key",
        "channel",
        "subject",
        "text",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # messages are written by the services that change bookings

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
