import json

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.html import format_html

from bookings import services as bookings
from config.broker import enqueue
from config.exceptions import ApiError
from config.money import MoneyField, format_money
from payments import refunds, stripe_client
from payments.models import Payment, Refund, StripeEvent
from stations import tenancy
from stations.admin_base import (
    StationListFilter,
    StationScopedAdmin,
    StationScopedInline,
    money_column,
)


class RefundInline(StationScopedInline):
    model = Refund
    fields = [
        "created_at",
        "amount_display",
        "status",
        "reason",
        "requested_by_label",
        "stripe_refund_id",
        "error",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="amount")
    def amount_display(self, refund):
        return format_money(refund.amount_cents, refund.payment.currency)


class RefundForm(forms.Form):
    """The refund page's form. For one payment it asks for an amount in dollars, empty to
    start with, at most what is still refundable; for several, only a reason (each is refunded
    what is left on it)."""

    amount = MoneyField(min_cents=1, required=False)
    reason = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, payments, **kwargs):
        super().__init__(*args, **kwargs)
        self.single = payments[0] if len(payments) == 1 else None
        if self.single is None:
            del self.fields["amount"]
            return
        refundable = format_money(self.single.refundable_cents, self.single.currency)
        self.fields["amount"].required = True
        self.fields["amount"].label = "Amount to refund"
        self.fields["amount"].help_text = f"In dollars and cents, of {refundable} refundable."

    def clean_amount(self):
        amount = self.cleaned_data.get("amount")
        if amount is not None and amount > self.single.refundable_cents:
            refundable = format_money(self.single.refundable_cents, self.single.currency)
            raise forms.ValidationError(f"At most {refundable} can be refunded on this payment.")
        return amount


@admin.register(Payment)
class PaymentAdmin(StationScopedAdmin):
    view_roles = tenancy.STAFF_WRITE_ROLES  # chefs see their events, not the money
    write_roles = tenancy.MANAGE_ROLES  # refunds: owners, and managers up to the limit
    list_display = [
        "booking",
        "kind",
        "amount_display",
        "method",
        "status",
        "amount_refunded_display",
        "refundable_display",
        "disputed",
        "offline",
        "created_at",
    ]
    list_filter = [StationListFilter, "status", "kind", "method", "disputed", "offline"]
    list_select_related = ["booking", "booking__station"]
    search_fields = ["booking__reference", "stripe_payment_intent_id"]
    raw_id_fields = ["booking"]
    inlines = [RefundInline]
    actions = ["refund_selected"]
    readonly_fields = [
        "booking",
        "kind",
        "amount_display",
        "currency",
        "method",
        "taken_by",
        "received_at",
        "note",
        "recorded_by",
        "status",
        "succeeded",
        "failed",
        "failure_message",
        "amount_refunded_display",
        "refundable_display",
        "disputed",
        "stripe_payment_intent_id",
        "stripe_customer_id",
        "stripe_payment_method_id",
        "offline",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # payments come from bookings and Stripe

    def has_delete_permission(self, request, obj=None):
        return False

    amount_display = money_column("amount_cents", "amount")
    amount_refunded_display = money_column("amount_refunded_cents", "refunded")

    @admin.display(description="refundable")
    def refundable_display(self, payment):
        return format_money(payment.refundable_cents, payment.currency)

    @admin.action(description="Refund selected payments (full or partial)")
    def refund_selected(self, request, queryset):
        """An intermediate page asks for the amount (one payment) or refunds everything still
        refundable (several); the same role limits as the API apply."""
        payments = list(queryset.select_related("booking__station"))
        applying = "apply" in request.POST
        form = RefundForm(request.POST if applying else None, payments=payments)
        if not applying or not form.is_valid():
            return render(
                request,
                "admin/payments/payment/refund.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Refund payments",
                    "rows": [
                        {
                            "payment": p,
                            "paid": format_money(p.amount_cents, p.currency),
                            "refundable": format_money(p.refundable_cents, p.currency),
                        }
                        for p in payments
                    ],
                    "form": form,
                    "single": len(payments) == 1,
                    "opts": self.model._meta,
                },
            )
        actor = bookings.Actor.of(request.user)
        for payment in payments:
            amount = form.cleaned_data["amount"] if form.single else payment.refundable_cents
            if amount <= 0:
                self.message_user(
                    request, f"{payment.booking}: nothing left to refund.", messages.WARNING
                )
                continue
            key = f"admin-{request.user.pk}-{payment.pk}-{request.POST.get('refund_token', '')}"
            try:
                refunds.payment_refund(
                    payment=payment,
                    amount_cents=amount,
                    idempotency_key=key,
                    actor=actor,
                    reason=form.cleaned_data["reason"],
                )
                self.message_user(
                    request,
                    f"{payment.booking}: refund of {format_money(amount, payment.currency)} sent.",
                    messages.SUCCESS,
                )
            except (ApiError, stripe_client.StripeError) as exc:
                detail = getattr(exc, "detail", exc)
                self.message_user(request, f"{payment.booking}: {detail}", messages.ERROR)
        return None


@admin.register(StripeEvent)
class StripeEventAdmin(StationScopedAdmin):
    """The webhook ledger. Its rows carry the payments' amounts, receipt e-mails and intents, so
    the same roles as payments read it and act on it. Rows not yet tied to a station (unknown
    objects) are visible to superusers only."""

    view_roles = PaymentAdmin.view_roles
    write_roles = PaymentAdmin.write_roles  # reprocess
    list_display = [
        "event_id",
        "type",
        "amount_display",
        "outcome",
        "attempts",
        "station",
        "received_at",
        "processed_at",
    ]
    list_filter = ["outcome", "type", StationListFilter]
    list_select_related = ["station"]
    search_fields = ["=event_id"]  # exact: a big table, and ids are pasted whole
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    fields = [
        "event_id",
        "type",
        "livemode",
        "station",
        "outcome",
        "attempts",
        "error",
        "received_at",
        "processed_at",
        "amount_display",
        "payload_pretty",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request)

    @admin.display(description="amount")
    def amount_display(self, event):
        """The amount the event is about (Stripe's `data.object.amount`, in minor units)."""
        obj = (event.payload or {}).get("data", {}).get("object", {})
        amount = obj.get("amount") if isinstance(obj, dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool):
            return "-"
        return format_money(amount, str(obj.get("currency") or "usd").upper())

    @admin.display(description="payload")
    def payload_pretty(self, event):
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            json.dumps(event.payload, indent=2, sort_keys=True),
        )

    @admin.action(description="Process selected events again (skips those already processed)")
    def reprocess(self, request, queryset):
        from payments.tasks import process_stripe_event

        row_ids = queryset.values_list("pk", flat=True)
        queued = [enqueue(process_stripe_event, row_id) for row_id in row_ids]
        if all(queued):
            self.message_user(request, "Queued.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                "Not all queued: the broker is unreachable. The Stripe sweeper applies them "
                "once it is back.",
                messages.WARNING,
            )
