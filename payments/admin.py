import json

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.html import format_html

from bookings import services as bookings
from config.broker import enqueue
from config.exceptions import ApiError
from payments import refunds, stripe_client
from payments.models import Payment, Refund, StripeEvent
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin, StationScopedInline


class RefundInline(StationScopedInline):
    model = Refund
    fields = [
        "created_at",
        "amount_cents",
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


class RefundForm(forms.Form):
    amount_cents = forms.IntegerField(min_value=1, help_text="In cents, e.g. 2500 for 25.00")
    reason = forms.CharField(max_length=300, required=False)


@admin.register(Payment)
class PaymentAdmin(StationScopedAdmin):
    view_roles = tenancy.STAFF_WRITE_ROLES  # chefs see their events, not the money
    write_roles = tenancy.MANAGE_ROLES  # refunds: owners, and managers up to the limit
    list_display = [
        "booking",
        "kind",
        "amount_display",
        "status",
        "amount_refunded_cents",
        "disputed",
        "offline",
        "created_at",
    ]
    list_filter = [StationListFilter, "status", "kind", "disputed", "offline"]
    list_select_related = ["booking", "booking__station"]
    search_fields = ["booking__reference", "stripe_payment_intent_id"]
    raw_id_fields = ["booking"]
    inlines = [RefundInline]
    actions = ["refund_selected"]
    readonly_fields = [
        "booking",
        "kind",
        "amount_cents",
        "currency",
        "status",
        "succeeded",
        "failed",
        "failure_message",
        "amount_refunded_cents",
        "disputed",
        "stripe_payment_intent_id",
        "stripe_customer_id",
        "stripe_payment_method_id",
        "offline",
        "created_at",
        "updated_at",
    ]
    exclude = ["client_secret"]

    def has_add_permission(self, request):
        return False  # payments come from bookings and Stripe

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="amount", ordering="amount_cents")
    def amount_display(self, payment):
        return f"{payment.amount_cents / 100:,.2f} {payment.currency}"

    @admin.action(description="Refund selected payments (full or partial)")
    def refund_selected(self, request, queryset):
        """An intermediate page asks for the amount (one payment) or refunds everything still
        refundable (several); the same role limits as the API apply."""
        payments = list(queryset.select_related("booking__station"))
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if "apply" not in request.POST or not form.is_valid():
            initial = payments[0].refundable_cents if len(payments) == 1 else None
            if not form.is_bound:
                form = RefundForm(initial={"amount_cents": initial})
            return render(
                request,
                "admin/payments/payment/refund.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Refund payments",
                    "payments": payments,
                    "form": form,
                    "single": len(payments) == 1,
                    "opts": self.model._meta,
                },
            )
        actor = bookings.Actor.of(request.user)
        for payment in payments:
            amount = (
                form.cleaned_data["amount_cents"]
                if len(payments) == 1
                else payment.refundable_cents
            )
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
                    f"{payment.booking}: refund of {amount / 100:,.2f} sent.",
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
        "payload_pretty",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request)

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
