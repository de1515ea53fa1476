"""The price list and add-ons of a station: what the quote engine charges."""

from django.contrib import admin

from bookings.models import AddOn, PriceList
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin


@admin.register(PriceList)
class PriceListAdmin(StationScopedAdmin):
    write_roles = tenancy.MANAGE_ROLES
    list_display = [
        "station",
        "adult_price_cents",
        "child_price_cents",
        "tax_rate_bp",
        "updated_at",
    ]
    list_select_related = ["station"]


@admin.register(AddOn)
class AddOnAdmin(StationScopedAdmin):
    write_roles = tenancy.MANAGE_ROLES
    list_display = ["label", "code", "station", "pricing", "price_cents", "active"]
    list_filter = [StationListFilter, "pricing", "active"]
    list_select_related = ["station"]
    search_fields = ["label", "code"]
