"""Bookings in the back office: the list, the booking page, its actions, and the calendar."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Q, Value
from django.db.models.expressions import ExpressionWrapper
from django.utils.html import format_html

from bookings import selectors, services
from bookings.admin.booking_changes import BookingChangesMixin
from bookings.admin.booking_filters import ChefFilter, OutstandingFilter, WhenFilter
from bookings.admin.booking_page import (
    BookingEventInline,
    PaymentInline,
    local_event,
    money_station_ids,
    money_summary,
    quote_table,
    refunds_list,
    sees_money,
)
from bookings.admin.calendar_view import CalendarMixin
from bookings.admin.forms import BookingAdminForm
from bookings.admin.payment_tools import BookingPaymentToolsMixin
from bookings.admin.phone import PhoneBookingMixin
from bookings.models import AddOn, Booking, BookingStatus
from config.exceptions import ApiError
from config.money import format_money
from payments import intents as payment_intents
from payments import refunds as payment_refunds
from payments import stripe_client
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin
from stations.models import Chef

NO_MONEY = "-"  # a money column's cell on a row of a station where the user sees no money


class StationMoneyFilter(OutstandingFilter):
    """The Outstanding filter, acting only on the stations where the user sees money: someone
    who manages one station and cooks at another never learns who owes what at the second."""

    def queryset(self, request, queryset):
        if self.value() not in ("outstanding", "settled"):
            return queryset
        ids = money_station_ids(request.user)
        if ids is not None:
            queryset = queryset.filter(station_id__in=ids)
        return super().queryset(request, queryset)


@admin.register(Booking)
class BookingAdmin(
    PhoneBookingMixin,
    BookingPaymentToolsMixin,
    BookingChangesMixin,
    CalendarMixin,
    StationScopedAdmin,
):
    change_list_template = "admin/bookings/booking/change_list.html"
    change_form_template = "admin/bookings/booking/change_form.html"
    list_display = [
        "reference",
        "when_display",
        "station",
        "customer",
        "chef",
        "guests_display",
        "status",
        "total_display",
        "paid_display",
        "balance_display",
    ]
    MONEY_COLUMNS = ("total_display", "paid_display", "balance_display")
    list_filter = [
        StationListFilter,
        WhenFilter,
        "status",
        ChefFilter,
        StationMoneyFilter,
        "source",
    ]
    list_select_related = ["station", "customer", "chef"]
    search_fields = ["reference", "customer__name", "customer__email", "customer__phone"]
    date_hierarchy = "event_date"
    inlines = [PaymentInline, BookingEventInline]
    actions = [
        "confirm_selected",
        "cancel_selected",
        "reassign_selected",
        "request_balance",
        "apply_submitted_contact",
    ]
    MONEY_FIELDSET = "Money"
    fieldsets = [
        (None, {"fields": ["reference", "station", "status", "source", "chef"]}),
        (
            "When (station time)",
            {
                "fields": [
                    "event_display",
                    "starts_at",
                    "ends_at",
                    "hold_expires_at",
                    "station_zone",
                ]
            },
        ),
        (
            "Party",
            {
                "fields": [
                    "customer",
                    "submitted_contact_display",
                    "adults",
                    "children",
                    "addons_display",
                    "allergies",
                    "notes",
                ]
            },
        ),
        ("Where", {"fields": ["address_line1", "address_line2", "city", "state", "zip_code"]}),
        (
            MONEY_FIELDSET,
            {"fields": ["money_display", "quote_display", "refunds_display"]},
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        """A chef sees the event, not what it costs."""
        if sees_money(request.user, obj):
            return self.fieldsets
        return [fs for fs in self.fieldsets if fs[0] != self.MONEY_FIELDSET]

    def get_inline_instances(self, request, obj=None):
        return [
            inline
            for inline in super().get_inline_instances(request, obj)
            if not isinstance(inline, PaymentInline) or sees_money(request.user, obj)
        ]

    def get_list_display(self, request):
        """No money columns for chefs; no station column for people of one station. Someone
        with money at one station only sees the columns' amounts on its rows (`_sees_money`)."""
        columns = list(self.list_display)
        if not sees_money(request.user, None):
            columns = [c for c in columns if c not in self.MONEY_COLUMNS]
        if (
            not tenancy.is_superuser(request.user)
            and len(tenancy.station_ids_for(request.user)) < 2
        ):
            columns.remove("station")
        return columns

    def get_list_filter(self, request):
        if sees_money(request.user, None):
            return self.list_filter
        return [f for f in self.list_filter if f is not StationMoneyFilter]

    def get_ordering(self, request):
        """Upcoming events soonest first (the list opens there); past ones latest first."""
        return WhenFilter.ordering_for(request)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["booking_tools"] = self.booking_tools(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_readonly_fields(self, request, obj=None):
        # Everything moves through services; in the form only the chef can be changed (which
        # reassigns under the no-overlap rule) and the notes edited.
        editable = {"chef", "notes", "allergies"}
        return [f for fs in self.fieldsets for f in fs[1]["fields"] if f not in editable]

    def get_queryset(self, request):
        """The user's bookings, each marked `_sees_money`: whether the user's role at that
        row's station shows money (the list's money columns read it row by row)."""
        queryset = selectors.bookings_for(request.user, super().get_queryset(request))
        ids = money_station_ids(request.user)
        sees = Value(True) if ids is None else Q(station_id__in=ids)
        return queryset.annotate(_sees_money=ExpressionWrapper(sees, output_field=BooleanField()))

    def has_add_permission(self, request):
        return False  # bookings are taken through the booking flow (site or staff API)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the history and the money stay

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "chef":
            booking_id = request.resolver_match.kwargs.get("object_id")
            booking = Booking.objects.filter(pk=booking_id).only("station_id").first()
            chefs = Chef.objects.filter(active=True)
            if booking is not None:
                chefs = chefs.filter(station_id=booking.station_id)
            kwargs["queryset"] = tenancy.scope(chefs, request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = BookingAdminForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        actor = services.Actor.of(request.user)
        details = {
            f: form.cleaned_data[f] for f in ("notes", "allergies") if f in form.changed_data
        }
        if details:
            services.booking_update_details(
                booking=Booking.objects.get(pk=obj.pk), actor=actor, **details
            )
        if "chef" in form.changed_data:
            try:
                services.booking_reassign_chef(
                    booking=Booking.objects.get(pk=obj.pk), chef=obj.chef, actor=actor
                )
            except ApiError as exc:  # taken meanwhile, after the form's own check
                self.message_user(request, str(exc.detail), messages.ERROR)

    @admin.display(description="contact given with the booking")
    def submitted_contact_display(self, booking):
        given = booking.submitted_contact or {}
        if not given:
            return "-"
        sms = "SMS yes" if given.get("sms_opt_in") else "SMS no"
        parts = [given.get("name"), given.get("email"), given.get("phone"), sms]
        text = " · ".join(p for p in parts if p)
        if booking.contact_differs:
            return (
                f"{text} (differs from the customer record: if it is right, use the action "
                "'Update the customer from the contact given with the booking')"
            )
        return text

    @admin.display(description="event (local)")
    def event_display(self, booking):
        return local_event(booking.event_date, booking.start_time)

    @admin.display(description="time zone")
    def station_zone(self, booking):
        return f"{booking.station.timezone} (every time on this page is in it)"

    @admin.display(description="money")
    def money_display(self, booking):
        return money_summary(booking)

    @admin.display(description="quote")
    def quote_display(self, booking):
        return quote_table(booking)

    @admin.display(description="refunds")
    def refunds_display(self, booking):
        return refunds_list(booking)

    @admin.display(description="when", ordering="event_date")
    def when_display(self, booking):
        return format_html(
            '<span style="white-space:nowrap">{}</span>',
            local_event(booking.event_date, booking.start_time),
        )

    @admin.display(description="add-ons")
    def addons_display(self, booking):
        """The add-ons by their names, in the order booked (a code no longer on the price list
        is shown as it was booked)."""
        codes = list(booking.addon_codes or [])
        if not codes:
            return "-"
        labels = dict(
            AddOn.objects.filter(station_id=booking.station_id, code__in=codes).values_list(
                "code", "label"
            )
        )
        return ", ".join(labels.get(code, code) for code in codes)

    @admin.display(description="guests")
    def guests_display(self, booking):
        return booking.adults + booking.children

    @staticmethod
    def _row_money(booking, cents: int) -> str:
        """An amount on a list row, or "-" on a row of a station where the user sees no money
        (a row not read through `get_queryset` shows none either)."""
        if not getattr(booking, "_sees_money", False):
            return NO_MONEY
        return format_money(cents, booking.currency)

    @admin.display(description="total", ordering="total_cents")
    def total_display(self, booking):
        return self._row_money(booking, booking.total_cents)

    @admin.display(description="paid")
    def paid_display(self, booking):
        return self._row_money(booking, booking.net_paid_cents)

    @admin.display(description="balance")
    def balance_display(self, booking):
        return self._row_money(booking, booking.balance_due_cents)

    def _run(self, request, queryset, operation, done: str):
        ok, failed = 0, []
        for booking in queryset.select_related("station"):
            if not tenancy.has_role(request.user, booking.station_id, self.write_roles):
                raise PermissionDenied
            try:
                operation(booking, services.Actor.of(request.user))
                ok += 1
            except ApiError as exc:
                failed.append(f"{booking.reference}: {exc.detail}")
            except stripe_client.StripeError as exc:
                failed.append(f"{booking.reference}: Stripe: {exc}")
        if ok:
            self.message_user(request, f"{ok} booking(s) {done}.", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Confirm selected bookings")
    def confirm_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda b, actor: services.booking_transition(
                booking=b, to_status=BookingStatus.CONFIRMED, actor=actor, reason="admin"
            ),
            "confirmed",
        )

    @admin.action(description="Cancel selected bookings (station policy applies)")
    def cancel_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda b, actor: payment_refunds.booking_cancel_with_refund(
                booking=b, actor=actor, reason="cancelled in the back office"
            ),
            "cancelled",
        )

    @admin.action(description="Reassign selected bookings to another free chef")
    def reassign_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda b, actor: services.booking_reassign_to_any_free_chef(booking=b, actor=actor),
            "reassigned",
        )

    @admin.action(description="Request the balance (creates the payment and messages the customer)")
    def request_balance(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda b, actor: payment_intents.payment_request_balance(booking=b, actor=actor),
            "sent a balance request",
        )

    @admin.action(description="Update the customer from the contact given with the booking")
    def apply_submitted_contact(self, request, queryset):
        self._run(
            request,
            queryset.select_related("customer"),
            lambda b, actor: services.customer_apply_submitted_contact(booking=b, actor=actor),
            "applied to their customer",
        )
