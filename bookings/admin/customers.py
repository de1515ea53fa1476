"""A station's customer book: each customer's page lists their bookings and payments."""

from django.contrib import admin, messages
from django.db.models import Count
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join

from bookings.admin.booking_page import local_event
from bookings.models import Customer
from config.exceptions import ApiError
from config.money import format_money
from inbox.merge import customers_merge
from payments.models import Payment
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin, query_id


def _table(headers: list[str], rows, empty: str, numeric: set[int] = frozenset()):
    if not rows:
        return empty
    head = format_html_join(
        "",
        "<th{}>{}</th>",
        ((' class="num"' if i in numeric else "", h) for i, h in enumerate(headers)),
    )
    cell = "".join(
        '<td class="num">{}</td>' if i in numeric else "<td>{}</td>" for i in range(len(headers))
    )
    body = format_html_join("", f"<tr>{cell}</tr>", rows)
    return format_html(
        '<table class="customer-history"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        body,
    )


@admin.register(Customer)
class CustomerAdmin(StationScopedAdmin):
    change_form_template = "admin/bookings/customer/change_form.html"
    list_display = ["name", "email", "phone", "station", "sms_opt_in", "do_not_contact"]
    list_filter = [StationListFilter, "sms_opt_in", "email_opt_in", "do_not_contact"]
    list_select_related = ["station"]
    search_fields = ["name", "email", "phone"]
    actions = ["merge_customers"]
    fieldsets = [
        (None, {"fields": ["station", "name", "email", "phone"]}),
        (
            "Consent",
            {"fields": ["sms_opt_in", "email_opt_in", "marketing_opt_in", "do_not_contact"]},
        ),
        ("Bookings and payments", {"fields": ["bookings_display", "payments_display"]}),
        ("Record", {"fields": ["erased_at", "created_at", "updated_at"]}),
    ]
    readonly_fields = [
        "bookings_display",
        "payments_display",
        "erased_at",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        # Chefs see their events, not the customer book.
        return tenancy.scope(
            super().get_queryset(request), request.user, roles=tenancy.STAFF_WRITE_ROLES
        )

    @admin.action(description="Merge the two selected customers", permissions=["change"])
    def merge_customers(self, request, queryset):
        """Two rows of one person (they wrote from a new number, booked under another
        e-mail): a page asks which to keep, then inbox.merge.customers_merge moves everything
        of the other to it (identities, messages, bookings with their payments) and records
        the merge. The queryset is the user's own stations' customers (get_queryset)."""
        customers = list(queryset.annotate(booking_count=Count("bookings")).order_by("pk")[:3])
        if len(customers) != 2:
            self.message_user(request, "Select exactly two customers to merge.", messages.ERROR)
            return None
        if not tenancy.may_act_on(request.user, queryset, tenancy.STAFF_WRITE_ROLES):
            self.message_user(request, "Not yours to merge.", messages.ERROR)
            return None
        keep_id = query_id(request.POST.get("keep")) if "apply" in request.POST else None
        keep = next((c for c in customers if c.pk == keep_id), None)
        if keep is None:
            return render(
                request,
                "admin/bookings/customer/merge.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Merge two customers",
                    "customers": customers,
                    "opts": self.model._meta,
                },
            )
        merge = next(c for c in customers if c.pk != keep.pk)
        try:
            record = customers_merge(keep=keep, merge=merge, actor=request.user)
        except ApiError as exc:
            self.message_user(request, f"Not merged: {exc.detail}", messages.ERROR)
            return None
        moved = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in record.moved.items() if n)
        self.message_user(
            request,
            f"{merge.name} merged into {keep.name}" + (f" ({moved} moved)." if moved else "."),
            messages.SUCCESS,
        )
        return None

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # a new customer has no history yet
            return [fs for fs in self.fieldsets if fs[0] != "Bookings and payments"]
        return self.fieldsets

    @admin.display(description="bookings")
    def bookings_display(self, customer: Customer):
        # Whoever sees this page is staff at the customer's station (get_queryset), and a
        # customer's bookings are at that station: the filter keeps it so.
        bookings = customer.bookings.filter(station_id=customer.station_id)
        rows = [
            (
                local_event(b.event_date, b.start_time),
                format_html(
                    '<a href="{}">{}</a>',
                    reverse("admin:bookings_booking_change", args=[b.pk]),
                    b.reference,
                ),
                b.get_status_display(),
                format_money(b.total_cents, b.currency),
                format_money(b.balance_due_cents, b.currency),
            )
            for b in bookings.order_by("-event_date", "-start_time")
        ]
        return _table(
            ["Date", "Reference", "Status", "Total", "Balance due"], rows, "No bookings.", {3, 4}
        )

    @admin.display(description="payments")
    def payments_display(self, customer: Customer):
        payments = Payment.objects.filter(
            booking__customer=customer, booking__station_id=customer.station_id
        ).select_related("booking")
        rows = [
            (
                date_format(p.created_at, "N j, Y, P T"),
                p.booking.reference,
                p.get_kind_display(),
                format_money(p.amount_cents, p.currency),
                p.get_status_display(),
                format_money(p.amount_refunded_cents, p.currency)
                if p.amount_refunded_cents
                else "-",
            )
            for p in payments.order_by("-created_at", "-pk")
        ]
        return _table(
            ["When", "Booking", "Kind", "Amount", "Status", "Refunded"],
            rows,
            "No payments.",
            {3, 5},
        )
