"""A station's customer book."""

from django.contrib import admin

from bookings.models import Customer
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin


@admin.register(Customer)
class CustomerAdmin(StationScopedAdmin):
    list_display = ["name", "email", "phone", "station", "sms_opt_in", "do_not_contact"]
    list_filter = [StationListFilter, "sms_opt_in", "email_opt_in", "do_not_contact"]
    list_select_related = ["station"]
    search_fields = ["name", "email", "phone"]
    readonly_fields = ["erased_at", "created_at", "updated_at"]

    def get_queryset(self, request):
        # Chefs see their events, not the customer book.
        return tenancy.scope(
            super().get_queryset(request), request.user, roles=tenancy.STAFF_WRITE_ROLES
        )
