"""Bookings in the back office: the list, the booking page, its actions, and the calendar."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from bookings import selectors, services
from bookings.admin.calendar_view import CalendarMixin
from bookings.admin.forms import BookingAdminForm
from bookings.admin.payment_tools import BookingPaymentToolsMixin
from bookings.admin.phone import PhoneBookingMixin
from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
)
from config.exceptions import ApiError
from payments import intents as payment_intents
from payments import refunds as payment_refunds
from payments import stripe_client
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin, StationScopedInline
from stations.models import Chef


class BookingEventInline(StationScopedInline):
    model = BookingEvent
    fields = ["created_at", "actor_label", "from_status", "to_status", "reason", "data"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "Status history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Booking)
class BookingAdmin(PhoneBookingMixin, BookingPaymentToolsMixin, CalendarMixin, StationScopedAdmin):
    change_list_template = "admin/bookings/booking/change_list.html"
    list_display = [
        "reference",
        "event_date",
        "start_time",
        "station",
        "customer",
        "chef",
        "guests_display",
        "status",
        "total_display",
    ]
    list_filter = [StationListFilter, "status", "source", "event_date"]
    list_select_related = ["station", "customer", "chef"]
    search_fields = ["reference", "customer__name", "customer__email", "customer__phone"]
    date_hierarchy = "event_date"
    ordering = ["-event_date", "start_time"]
    inlines = [BookingEventInline]
    actions = [
        "confirm_selected",
        "cancel_selected",
        "reassign_selected",
        "request_balance",
        "apply_submitted_contact",
    ]
    fieldsets = [
        (None, {"fields": ["reference", "station", "status", "source", "chef"]}),
        (
            "When",
            {"fields": ["event_date", "start_time", "starts_at", "ends_at", "hold_expires_at"]},
        ),
        (
            "Party",
            {
                "fields": [
                    "customer",
                    "submitted_contact_display",
                    "adults",
                    "children",
                    "addon_codes",
                    "notes",
                ]
            },
        ),
        ("Where", {"fields": ["address_line1", "address_line2", "city", "state", "zip_code"]}),
        (
            "Money (cents)",
            {
                "fields": [
                    "currency",
                    "quote_lines",
                    "subtotal_cents",
                    "travel_fee_cents",
                    "gratuity_cents",
                    "tax_cents",
                    "fees_cents",
                    "total_cents",
                    "deposit_cents",
                    "amount_paid_cents",
                    "amount_refunded_cents",
                    "amount_refund_pending_cents",
                    "credit_display",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Everything moves through services; in the form only the chef can be changed (which
        # reassigns under the no-overlap rule) and the notes edited.
        editable = {"chef", "notes"}
        return [f for fs in self.fieldsets for f in fs[1]["fields"] if f not in editable]

    def get_queryset(self, request):
        return selectors.bookings_for(request.user, super().get_queryset(request))

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
        if "notes" in form.changed_data:
            Booking.objects.filter(pk=obj.pk).update(notes=obj.notes)
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

    @admin.display(description="credit owed to the customer")
    def credit_display(self, booking):
        return f"{booking.credit_cents / 100:,.2f} {booking.currency}"

    @admin.display(description="guests")
    def guests_display(self, booking):
        return booking.adults + booking.children

    @admin.display(description="total", ordering="total_cents")
    def total_display(self, booking):
        return f"{booking.total_cents / 100:,.2f} {booking.currency}"

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
