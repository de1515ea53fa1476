"""Cancel and Reschedule from the booking page: each shows what the station's policy will do
(refund, forfeit, change fee, the new total, balance and credit) before staff confirm, then runs
the payments service that does it (`booking_cancel_with_refund`,
`booking_reschedule_with_payments`), exactly as the list's cancel action does.

Only the staff roles (owner, manager, agent) of the booking's station see and use them (a chef
gets 403, another station's user 404). A confirm is refused when the booking changed since the
page that showed the terms (its `version`), so nobody confirms terms they did not see.
Refusals (the slot taken meanwhile, Stripe down) come back as admin messages, never a 500.
"""

from datetime import date

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateformat import time_format
from django.utils.http import urlencode

from bookings import policy, scheduling, services
from bookings.admin.booking_page import local_event
from bookings.models import Booking
from config.exceptions import ApiError
from config.money import format_money
from payments import refunds as payment_refunds
from payments import stripe_client
from stations import tenancy


def booking_version(booking: Booking, terms) -> str:
    """What a confirmation was shown: the booking's state and the policy's answer. Any change
    (a payment, a refund, a reschedule, a status, the clock crossing a policy window) makes the
    confirm stale."""
    stamp = booking.updated_at.isoformat() if booking.updated_at else ""
    parts = [booking.status, booking.reschedule_count, booking.net_paid_cents, stamp]
    parts += [f"{k}={v}" for k, v in sorted(terms.as_dict().items()) if k != "hours_before"]
    return "|".join(map(str, parts))


def _notice(hours: int) -> str:
    """How long before the event, as people say it: "12 days", "30 hours"."""
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} hour{'s' if hours != 1 else ''}"


class CancelForm(forms.Form):
    version = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=200, required=False, help_text="Recorded in the booking's history."
    )


class RescheduleDayForm(forms.Form):
    date = forms.DateField(label="New date", widget=forms.DateInput(attrs={"type": "date"}))


class RescheduleConfirmForm(forms.Form):
    date = forms.DateField(widget=forms.HiddenInput)
    start = forms.TimeField(widget=forms.HiddenInput)
    version = forms.CharField(widget=forms.HiddenInput)


class BookingChangesMixin:
    """The views behind the page's Reschedule and Cancel buttons (BookingAdmin)."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/cancel/",
                wrap(self.cancel_view),
                name="bookings_booking_cancel",
            ),
            path(
                "<path:object_id>/reschedule/",
                wrap(self.reschedule_view),
                name="bookings_booking_reschedule",
            ),
            *super().get_urls(),
        ]

    # --- who may -------------------------------------------------------------------------

    def may_change_booking(self, request, booking: Booking) -> bool:
        return tenancy.has_role(request.user, booking.station_id, tenancy.STAFF_WRITE_ROLES)

    def _booking_to_change(self, request, object_id) -> Booking:
        """The booking, if the user sees it (else 404) and is staff at its station (else 403)."""
        visible = self.get_object(request, object_id)  # scoped; activates the station's zone
        if visible is None:
            raise Http404("No such booking.")
        if not self.may_change_booking(request, visible):
            raise PermissionDenied
        return Booking.objects.select_related("station", "customer", "chef").get(pk=visible.pk)

    def booking_tools(self, request, booking: Booking | None) -> list[dict]:
        """The buttons of the booking page's object tools, each {"label", "url"}: Reschedule
        and Cancel for an active booking, then the payment tools (BookingPaymentToolsMixin),
        all for the station's staff only."""
        if booking is None or not self.may_change_booking(request, booking):
            return []
        tools = []
        if booking.is_active:
            tools += [
                {
                    "label": "Reschedule",
                    "url": reverse("admin:bookings_booking_reschedule", args=[booking.pk]),
                },
                {
                    "label": "Cancel booking",
                    "url": reverse("admin:bookings_booking_cancel", args=[booking.pk]),
                },
            ]
        payment_tools = getattr(self, "payment_tools", None)
        if payment_tools is not None:
            tools += list(payment_tools(request, booking))
        return tools

    def _booking_url(self, booking: Booking) -> str:
        return reverse("admin:bookings_booking_change", args=[booking.pk])

    def _context(self, request, booking: Booking, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "booking": booking,
            "original": booking,
            "booking_url": self._booking_url(booking),
            "event_when": local_event(booking.event_date, booking.start_time),
            "total": format_money(booking.total_cents, booking.currency),
            "balance": format_money(booking.balance_due_cents, booking.currency),
            "held": format_money(max(0, booking.net_paid_cents), booking.currency),
            **extra,
        }

    def _refuse_inactive(self, request, booking: Booking, what: str):
        self.message_user(
            request,
            f"{booking.reference} is {booking.get_status_display().lower()}: it cannot be {what}.",
            messages.ERROR,
        )
        return HttpResponseRedirect(self._booking_url(booking))

    # --- Cancel -------------------------------------------------------------------------

    def cancel_view(self, request, object_id):
        booking = self._booking_to_change(request, object_id)
        if not booking.is_active:
            return self._refuse_inactive(request, booking, "cancelled")
        terms = policy.cancellation_terms(booking)
        version = booking_version(booking, terms)
        form = CancelForm(initial={"version": version})
        if request.method == "POST":
            form = CancelForm(request.POST)
            if form.is_valid():
                if form.cleaned_data["version"] != version:
                    self.message_user(
                        request,
                        "The booking changed since these terms were shown: check them again "
                        "before you confirm.",
                        messages.ERROR,
                    )
                    form = CancelForm(initial={"version": version})
                else:
                    return self._cancel(request, booking, form.cleaned_data["reason"])
        context = self._context(
            request,
            booking,
            f"Cancel {booking.reference}",
            form=form,
            terms=terms,
            notice=_notice(terms.hours_before),
            refund=format_money(terms.refund_cents, booking.currency),
            forfeit=format_money(terms.forfeit_cents, booking.currency),
        )
        return TemplateResponse(request, "admin/bookings/booking/cancel.html", context)

    def _cancel(self, request, booking: Booking, reason: str):
        why = "cancelled in the back office" + (f": {reason}" if reason else "")
        try:
            booking, terms, refunds = payment_refunds.booking_cancel_with_refund(
                booking=booking, actor=services.Actor.of(request.user), reason=why
            )
        except ApiError as exc:
            self.message_user(request, f"Not cancelled: {exc.detail}", messages.ERROR)
            return HttpResponseRedirect(self._booking_url(booking))
        except stripe_client.StripeError as exc:
            self.message_user(request, f"Stripe: {exc}", messages.ERROR)
            return HttpResponseRedirect(self._booking_url(booking))
        refunded = sum(r.amount_cents for r in refunds)
        self.message_user(
            request,
            f"{booking.reference} is cancelled; "
            f"{format_money(refunded, booking.currency)} refunded to the customer.",
            messages.SUCCESS,
        )
        if refunded < terms.refund_cents:
            self.message_user(
                request,
                "Part of the refund did not go through: see the booking's history.",
                messages.WARNING,
            )
        return HttpResponseRedirect(self._booking_url(booking))

    # --- Reschedule -----------------------------------------------------------------------

    def reschedule_view(self, request, object_id):
        booking = self._booking_to_change(request, object_id)
        if not booking.is_active:
            return self._refuse_inactive(request, booking, "rescheduled")
        if request.method == "POST":
            return self._reschedule(request, booking)
        day_form = RescheduleDayForm(request.GET or None)
        extra = {"day_form": day_form, "terms": policy.reschedule_terms(booking)}
        if day_form.is_valid():
            day = day_form.cleaned_data["date"]
            extra.update(self._slots(booking, day, request.GET.get("start")))
        context = self._context(request, booking, f"Reschedule {booking.reference}", **extra)
        return TemplateResponse(request, "admin/bookings/booking/reschedule.html", context)

    def _slots(self, booking: Booking, day: date, start: str | None) -> dict:
        """The free start times of the day, and the preview of the one chosen."""
        slots = scheduling.availability(
            station=booking.station, start=day, end=day, guests=booking.guests
        )
        extra = {
            "day": day,
            "slots": [(f"{s.start:%H:%M}", time_format(s.start, "P")) for s in slots],
        }
        if start not in {value for value, _ in extra["slots"]}:
            return extra
        try:
            preview = policy.reschedule_preview(booking, day)
        except ApiError as exc:
            return {**extra, "preview_error": exc.detail}
        chosen = next(s for s in slots if f"{s.start:%H:%M}" == start)
        cur = booking.currency
        extra.update(
            start=start,
            new_when=local_event(day, chosen.start),
            preview=preview,
            fee=format_money(preview.terms.fee_cents, cur),
            new_total=format_money(preview.total_cents, cur),
            new_balance=format_money(preview.balance_due_cents, cur),
            new_refund=format_money(preview.refund_cents, cur),
            confirm_form=RescheduleConfirmForm(
                initial={
                    "date": day,
                    "start": start,
                    "version": booking_version(booking, preview.terms),
                }
            ),
        )
        return extra

    def _reschedule(self, request, booking: Booking):
        form = RescheduleConfirmForm(request.POST)
        back = reverse("admin:bookings_booking_reschedule", args=[booking.pk])
        if not form.is_valid():
            self.message_user(request, "Pick a date and a free start time.", messages.ERROR)
            return HttpResponseRedirect(back)
        day, start = form.cleaned_data["date"], form.cleaned_data["start"]
        again = f"{back}?{urlencode({'date': day.isoformat(), 'start': f'{start:%H:%M}'})}"
        if form.cleaned_data["version"] != booking_version(
            booking, policy.reschedule_terms(booking)
        ):
            self.message_user(
                request,
                "The booking changed since these terms were shown: check them again before "
                "you confirm.",
                messages.ERROR,
            )
            return HttpResponseRedirect(again)
        try:
            booking, terms = payment_refunds.booking_reschedule_with_payments(
                booking=booking,
                event_date=day,
                start_time=start,
                actor=services.Actor.of(request.user),
            )
        except ApiError as exc:
            self.message_user(request, f"Not rescheduled: {exc.detail}", messages.ERROR)
            return HttpResponseRedirect(f"{back}?{urlencode({'date': day.isoformat()})}")
        except stripe_client.StripeError as exc:
            self.message_user(
                request,
                f"Stripe: {exc}. Check the booking's date and history before trying again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(self._booking_url(booking))
        fee = terms.get("fee_cents") or 0
        self.message_user(
            request,
            f"{booking.reference} moved to {local_event(booking.event_date, booking.start_time)}"
            + (f" with a {format_money(fee, booking.currency)} change fee" if fee else " (free)")
            + f"; new total {format_money(booking.total_cents, booking.currency)}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._booking_url(booking))
