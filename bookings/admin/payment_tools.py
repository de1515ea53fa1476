"""Getting paid for a booking from its page in the back office (views of BookingAdmin):
"Send deposit link" e-mails the customer their booking link (bookings.services), "Record
a payment taken outside Stripe" counts cash, a check or a card terminal, and "Record a refund
given by hand" counts such money given back (payments.outside).

Each form carries a one-time key made when it is shown, and the service it calls acts once per
key: a double click or a reload of the answer does not send a link, or record money, twice.

Who: anyone who takes bookings (owner, manager, agent) may send the link; only owners and
managers record money taken outside Stripe, since nothing but their word stands behind it
(no provider's record), the same people who answer for refunds."""

import secrets
from datetime import UTC

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bookings import services
from bookings.models import NO_PAYMENT_STATUSES, Booking
from config.exceptions import ApiError
from config.money import MoneyField, format_money
from payments import selectors
from payments.models import OUTSIDE_METHODS, PaymentMethod
from payments.outside import (
    outside_payment_of_key,
    outside_refund_of_key,
    outside_refundable,
    payment_record_outside,
    payment_refund_outside,
)
from stations import tenancy
from stations.models import Chef, Membership, Role

SEND_LINK_ROLES = tenancy.STAFF_WRITE_ROLES
RECORD_PAYMENT_ROLES = tenancy.MANAGE_ROLES


def _person(user) -> str:
    return user.get_full_name() or user.get_username()


def taken_by_choices(booking: Booking, user) -> list[tuple[str, str]]:
    """Who may have taken the money: the current user first, the station's staff, its chefs."""
    names = [_person(user)]
    staff = Membership.objects.filter(station_id=booking.station_id).exclude(role=Role.CHEF)
    names += sorted(_person(m.user) for m in staff.select_related("user"))
    chefs = Chef.objects.filter(station_id=booking.station_id, active=True).order_by("name")
    names += [f"Chef {chef.name}" for chef in chefs]
    unique = list(dict.fromkeys(names))
    return [(name, name) for name in unique]


def one_time_key() -> str:
    return secrets.token_hex(16)


def is_one_time_key(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isalnum()


class StationTimeField(forms.DateTimeField):
    """A wall-clock time in the station's zone (the admin's current one). In the hour that
    repeats when the clocks fall back it is read as the first of the two (the form's own
    default, "now", can fall there); a time the clocks skip is refused."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            if exc.code != "ambiguous_timezone":
                raise
            naive = parse_datetime(str(value).strip())
            if naive is None or naive.tzinfo is not None:
                raise
            zone = timezone.get_current_timezone()
            aware = naive.replace(tzinfo=zone)  # fold=0: the first occurrence
            if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
                raise  # skipped by the clocks: no such time
            return aware


class OneTimeKeyForm(forms.Form):
    """A form whose service acts once per showing of the form: its hidden key, made when the
    form is shown, goes to the service as the request's key. A form sent without a valid key
    (shown before this existed, tampered with) is refused once and shown again with a new one."""

    key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].initial = one_time_key()
        self.key_was_stale = self.is_bound and not is_one_time_key(self.data.get("key"))
        if self.key_was_stale:
            self.data = self.data.copy()
            self.data["key"] = one_time_key()

    def clean(self):
        data = super().clean()
        if self.key_was_stale:
            raise forms.ValidationError(
                "This form had expired: check it and send it again.", code="stale_key"
            )
        return data


class OutsidePaymentForm(OneTimeKeyForm):
    amount_cents = MoneyField(label="Amount", min_cents=1, help_text="In dollars, e.g. 100.00")
    method = forms.ChoiceField(
        choices=[(m.value, m.label) for m in PaymentMethod if m in OUTSIDE_METHODS],
        widget=forms.RadioSelect,
        initial=PaymentMethod.CASH,
    )
    taken_by = forms.ChoiceField(label="Taken by")
    received_at = StationTimeField(
        label="Received",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Station time.",
    )
    note = forms.CharField(
        max_length=300,
        label="What for",
        help_text="e.g. deposit in cash at the door; check no. 1042",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    def __init__(self, *args, booking: Booking, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.booking = booking
        self.fields["taken_by"].choices = taken_by_choices(booking, user)
        self.fields["taken_by"].initial = _person(user)
        self.fields["received_at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def clean_amount_cents(self):
        amount = self.cleaned_data["amount_cents"]
        due = self.booking.balance_due_cents
        if amount > due:
            raise forms.ValidationError(
                f"At most {format_money(due, self.booking.currency)} is due on this booking."
            )
        return amount


class RefundByHandForm(OneTimeKeyForm):
    payment = forms.TypedChoiceField(label="Payment", coerce=int, widget=forms.RadioSelect)
    amount_cents = MoneyField(label="Amount given back", min_cents=1, help_text="In dollars.")
    note = forms.CharField(
        max_length=300,
        label="How",
        help_text="e.g. cash returned by Chef Kenji after the cancellation",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    def __init__(self, *args, payments, **kwargs):
        super().__init__(*args, **kwargs)
        self.payments = {p.pk: p for p in payments}
        self.fields["payment"].choices = [
            (
                p.pk,
                f"{p.get_method_display()} {format_money(p.amount_cents, p.currency)}, "
                f"taken by {p.taken_by or 'staff'}: "
                f"{format_money(selectors.refundable_now(p), p.currency)} can be given back",
            )
            for p in payments
        ]
        if len(payments) == 1:
            self.fields["payment"].initial = payments[0].pk


class BookingPaymentToolsMixin:
    """The booking page's payment buttons (payment_tools) and the views they open."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/deposit-link/",
                wrap(self.deposit_link_view),
                name="bookings_booking_deposit_link",
            ),
            path(
                "<path:object_id>/record-payment/",
                wrap(self.record_payment_view),
                name="bookings_booking_record_payment",
            ),
            path(
                "<path:object_id>/refund-by-hand/",
                wrap(self.refund_by_hand_view),
                name="bookings_booking_refund_by_hand",
            ),
            *super().get_urls(),
        ]

    def payment_tools(self, request, booking: Booking) -> list[dict]:
        """The buttons the booking page shows for getting paid, for this user and booking."""
        tools = []
        user, station_id = request.user, booking.station_id
        if booking.is_active and tenancy.has_role(user, station_id, SEND_LINK_ROLES):
            tools.append(
                {
                    "label": "Send deposit link",
                    "url": reverse("admin:bookings_booking_deposit_link", args=[booking.pk]),
                    "help": "E-mail the customer their booking link to pay the deposit "
                    "(SMS once the inbox lands).",
                }
            )
        if booking.status not in NO_PAYMENT_STATUSES and tenancy.has_role(
            user, station_id, RECORD_PAYMENT_ROLES
        ):
            tools.append(
                {
                    "label": "Record a payment taken outside Stripe",
                    "url": reverse("admin:bookings_booking_record_payment", args=[booking.pk]),
                    "help": "Cash, check or a card terminal: counted like any other payment.",
                }
            )
        if tenancy.has_role(user, station_id, RECORD_PAYMENT_ROLES) and outside_refundable(booking):
            tools.append(
                {
                    "label": "Record a refund given by hand",
                    "url": reverse("admin:bookings_booking_refund_by_hand", args=[booking.pk]),
                    "help": "Money taken outside Stripe and given back (cash, a check): "
                    "the booking stops showing it as held.",
                }
            )
        return tools

    def _booking_for(self, request, object_id, roles) -> Booking:
        """The booking, if the user's stations have it (else 404) and their role there allows
        the tool (else 403)."""
        booking = self.get_object(request, object_id)  # scoped; activates the station's zone
        if booking is None:
            raise Http404("No such booking.")
        if not tenancy.has_role(request.user, booking.station_id, roles):
            raise PermissionDenied
        return Booking.objects.select_related("station", "customer").get(pk=booking.pk)

    def _page(self, request, booking, template, **context):
        return render(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "booking": booking,
                "booking_url": reverse("admin:bookings_booking_change", args=[booking.pk]),
                "changelist_url": reverse("admin:bookings_booking_changelist"),
                **context,
            },
        )

    def deposit_link_view(self, request, object_id):
        booking = self._booking_for(request, object_id, SEND_LINK_ROLES)
        booking_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        if request.method == "POST":
            key = request.POST.get("key", "")
            if not (0 < len(key) <= 64 and key.isalnum()):
                messages.error(request, "This form has expired: open it again.")
                return redirect(booking_url)
            try:
                sent = services.booking_send_deposit_link(
                    booking=booking, actor=services.Actor.of(request.user), request_key=key
                )
            except ApiError as exc:
                messages.error(request, f"Deposit link not sent: {exc.detail}")
                return redirect(booking_url)
            if sent:
                messages.success(
                    request,
                    f"Deposit link e-mailed to {booking.customer.email}. Any link sent before "
                    "no longer works. (SMS once the inbox lands.)",
                )
            else:
                messages.info(request, "That deposit link was already sent; nothing sent again.")
            return redirect(booking_url)
        return self._page(
            request,
            booking,
            "admin/bookings/booking/phone_deposit_link.html",
            title=f"Send deposit link for {booking.reference}",
            refusal=services.deposit_link_refusal(booking),
            deposit=format_money(
                max(0, booking.deposit_cents - max(0, booking.net_paid_cents)), booking.currency
            ),
            key=secrets.token_hex(16),
        )

    def record_payment_view(self, request, object_id):
        booking = self._booking_for(request, object_id, RECORD_PAYMENT_ROLES)
        booking_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        key = request.POST.get("key", "")
        if request.method == "POST" and is_one_time_key(key):  # before the form: the balance
            first = outside_payment_of_key(booking=booking, request_key=key)  # it checks moved
            if first is not None:
                messages.info(request, _already_recorded(first))
                return redirect(booking_url)
        form = OutsidePaymentForm(request.POST or None, booking=booking, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                payment = payment_record_outside(
                    booking=booking,
                    amount_cents=data["amount_cents"],
                    method=data["method"],
                    taken_by=data["taken_by"],
                    received_at=data["received_at"],
                    note=data["note"],
                    actor=services.Actor.of(request.user),
                    request_key=data["key"],
                )
            except ApiError as exc:
                _add_service_error(form, exc)
            else:
                booking.refresh_from_db()
                messages.success(
                    request,
                    f"{format_money(payment.amount_cents, payment.currency)} "
                    f"({payment.get_method_display().lower()}) recorded. Balance due now "
                    f"{format_money(booking.balance_due_cents, booking.currency)}; the booking "
                    f"is {booking.get_status_display().lower()}.",
                )
                return redirect(booking_url)
        return self._page(
            request,
            booking,
            "admin/bookings/booking/phone_record_payment.html",
            title=f"Record a payment taken outside Stripe for {booking.reference}",
            form=form,
            due=format_money(booking.balance_due_cents, booking.currency),
            paid=format_money(booking.net_paid_cents, booking.currency),
            total=format_money(booking.total_cents, booking.currency),
            closed=booking.status in NO_PAYMENT_STATUSES,
        )

    def refund_by_hand_view(self, request, object_id):
        booking = self._booking_for(request, object_id, RECORD_PAYMENT_ROLES)
        booking_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        key = request.POST.get("key", "")
        if request.method == "POST" and is_one_time_key(key):  # before the form: its payment
            first = outside_refund_of_key(booking=booking, request_key=key)  # may be refunded
            if first is not None:
                amount = format_money(first.amount_cents, booking.currency)
                messages.info(
                    request,
                    f"{amount} given back by hand was already recorded from this form; "
                    "nothing recorded again.",
                )
                return redirect(booking_url)
        payments = outside_refundable(booking)
        form = RefundByHandForm(request.POST or None, payments=payments)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                refund = payment_refund_outside(
                    payment=form.payments[data["payment"]],
                    amount_cents=data["amount_cents"],
                    note=data["note"],
                    actor=services.Actor.of(request.user),
                    request_key=data["key"],
                )
            except ApiError as exc:
                _add_service_error(form, exc)
            else:
                booking.refresh_from_db()
                amount = format_money(refund.amount_cents, booking.currency)
                messages.success(
                    request,
                    f"{amount} given back by hand recorded. The booking now holds "
                    f"{format_money(max(0, booking.net_paid_cents), booking.currency)}.",
                )
                return redirect(booking_url)
        return self._page(
            request,
            booking,
            "admin/bookings/booking/phone_refund_by_hand.html",
            title=f"Record a refund given by hand for {booking.reference}",
            form=form,
            held=format_money(max(0, booking.net_paid_cents), booking.currency),
            total=format_money(booking.total_cents, booking.currency),
        )


def _already_recorded(payment) -> str:
    return (
        f"{format_money(payment.amount_cents, payment.currency)} "
        f"({payment.get_method_display().lower()}) was already recorded from this form; "
        "nothing recorded again."
    )


def _add_service_error(form: forms.Form, exc: ApiError) -> None:
    field = next(iter(exc.fields or {}), None)
    form.add_error(field if field in form.fields else None, str(exc.detail))
