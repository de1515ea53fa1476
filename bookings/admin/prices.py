"""The price list and add-ons of a station: what the quote engine charges. Amounts are typed
and shown in dollars (stations.admin_base), rates in percent; saving a price list shows what a
typical party would pay with it."""

import functools
from datetime import timedelta

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from bookings import pricing
from bookings.models import AddOn, PriceList
from bookings.scheduling import local_today
from config.exceptions import ApiError
from config.money import format_money
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin, money_column
from stations.forms import PercentField, format_percent

SAMPLE_ADULTS, SAMPLE_CHILDREN = 10, 2
SATURDAY = 5
TIMES = "\u00d7"


class NoSampleQuote(Exception):
    """The station cannot quote a typical party (no zone, say)."""


def sample_quote(station) -> tuple[str, pricing.Quote]:
    """What a typical party (10 adults and 2 children, the next Saturday, the station's first
    zone, no add-ons) pays with the station's current prices: a description and the quote.
    Raises NoSampleQuote when the station cannot quote (no zone; the engine's own refusal)."""
    today = local_today(station)
    saturday = today + timedelta(days=(SATURDAY - today.weekday()) % 7 or 7)
    zone = station.zones.first()
    if zone is None or not zone.zip_codes:
        raise NoSampleQuote("the station has no service zone to quote for.")
    try:
        quote = pricing.quote(
            station=station,
            event_date=saturday,
            adults=SAMPLE_ADULTS,
            children=SAMPLE_CHILDREN,
            zip_code=zone.zip_codes[0],
            addon_codes=[],
        )
    except ApiError as exc:
        raise NoSampleQuote(str(exc.detail)) from exc
    party = (
        f"{SAMPLE_ADULTS} adults and {SAMPLE_CHILDREN} children on {saturday:%a %b %-d} "
        f"in {zone.name} ({zone.zip_codes[0]})"
    )
    return party, quote


def quote_rows(quote: pricing.Quote) -> list[tuple[str, str]]:
    """The quote as (label, amount) rows in the station's currency."""

    def money(cents: int) -> str:
        return format_money(cents, quote.currency)

    rows = []
    for line in quote.lines:
        if line.quantity > 1:
            each = money(line.amount_cents // line.quantity)
            rows.append(
                (f"{line.label} {TIMES} {line.quantity} at {each}", money(line.amount_cents))
            )
        else:
            rows.append((line.label, money(line.amount_cents)))
    rows += [
        ("Subtotal", money(quote.subtotal_cents)),
        ("Travel fee", money(quote.travel_fee_cents)),
        ("Gratuity", money(quote.gratuity_cents)),
        ("Tax", money(quote.tax_cents)),
        ("Total", money(quote.total_cents)),
        ("Deposit", money(quote.deposit_cents)),
    ]
    return rows


@admin.register(PriceList)
class PriceListAdmin(StationScopedAdmin):
    write_roles = tenancy.MANAGE_ROLES
    list_display = [
        "station",
        "adult_price",
        "child_price",
        "minimum_weekday",
        "minimum_weekend",
        "deposit_display",
        "change_fee",
        "gratuity_display",
        "tax_display",
        "updated_at",
    ]
    list_select_related = ["station"]
    readonly_fields = ["sample_quote_display", "updated_at"]
    fieldsets = [
        (None, {"fields": ["station"]}),
        ("Per guest", {"fields": [("adult_price_cents", "child_price_cents"), "child_age_limit"]}),
        ("Minimum spend", {"fields": [("minimum_weekday_cents", "minimum_weekend_cents")]}),
        ("Gratuity and tax", {"fields": [("gratuity_min_guests", "gratuity_bp"), "tax_rate_bp"]}),
        ("Deposit", {"fields": ["deposit_kind", ("deposit_fixed_cents", "deposit_bp")]}),
        ("Changes", {"fields": ["change_fee_cents"]}),
        ("What customers pay", {"fields": ["sample_quote_display", "updated_at"]}),
    ]

    adult_price = money_column("adult_price_cents", "adult")
    child_price = money_column("child_price_cents", "child")
    minimum_weekday = money_column("minimum_weekday_cents", "minimum weekday")
    minimum_weekend = money_column("minimum_weekend_cents", "minimum weekend")
    change_fee = money_column("change_fee_cents", "change fee")

    PERCENT_LABELS = {
        "gratuity_bp": ("Gratuity (%)", "Added from the number of guests above, e.g. 18."),
        "tax_rate_bp": ("Tax rate (%)", "On food and travel (not gratuity), e.g. 9.25."),
        "deposit_bp": ("Deposit (%)", "Of the total, when the deposit is a percentage, e.g. 20."),
    }

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.PERCENT_LABELS:
            label, help_text = self.PERCENT_LABELS[db_field.name]
            return PercentField(label=label, help_text=help_text, initial=db_field.default)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="deposit")
    def deposit_display(self, prices):
        if prices.deposit_kind == "percent":
            return f"{format_percent(prices.deposit_bp)}%"
        return format_money(prices.deposit_fixed_cents, prices.station.currency)

    @admin.display(description="gratuity", ordering="gratuity_bp")
    def gratuity_display(self, prices):
        return f"{format_percent(prices.gratuity_bp)}% from {prices.gratuity_min_guests} guests"

    @admin.display(description="tax", ordering="tax_rate_bp")
    def tax_display(self, prices):
        return f"{format_percent(prices.tax_rate_bp)}%"

    @admin.display(description="sample quote")
    def sample_quote_display(self, prices):
        if prices is None or prices.pk is None:
            return "Shown once the price list is saved."
        try:
            party, quote = sample_quote(prices.station)
        except NoSampleQuote as exc:
            return f"No sample quote: {exc}"
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td style="text-align:right">{}</td></tr>',
            quote_rows(quote),
        )
        return format_html(
            '<p>{}:</p><table class="sample-quote">{}</table>', f"A party of {party}", rows
        )

    def response_change(self, request, obj):
        self._say_sample_quote(request, obj)
        return super().response_change(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        self._say_sample_quote(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def _say_sample_quote(self, request, prices):
        try:
            party, quote = sample_quote(prices.station)
        except NoSampleQuote as exc:
            self.message_user(request, f"No sample quote: {exc}", messages.WARNING)
            return
        money = functools.partial(format_money, currency=quote.currency)
        lines = "; ".join(f"{label}: {amount}" for label, amount in quote_rows(quote)[:-2])
        self.message_user(
            request,
            f"Sample quote for {party}: total {money(quote.total_cents)}, deposit "
            f"{money(quote.deposit_cents)} ({lines}).",
            messages.INFO,
        )


@admin.register(AddOn)
class AddOnAdmin(StationScopedAdmin):
    write_roles = tenancy.MANAGE_ROLES
    list_display = ["label", "code", "station", "pricing", "price_display", "active"]
    list_filter = [StationListFilter, "pricing", "active"]
    list_select_related = ["station"]
    search_fields = ["label", "code"]

    @admin.display(description="price", ordering="price_cents")
    def price_display(self, addon):
        price = format_money(addon.price_cents, addon.station.currency)
        return f"{price} per person" if addon.pricing == "per_person" else f"{price} flat"
