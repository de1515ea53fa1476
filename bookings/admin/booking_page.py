"""What the booking page shows beyond its fields: the money in dollars, the payments and their
refunds, and the history in words ("chef: Kenji Tanaka → Hiro Sato", not `{"to_chef": 3}`).

Nothing here writes. Money is shown only to the staff roles (owner, manager, agent) of the
booking's station: a chef sees the event, never what it costs (`sees_money`).
"""

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from bookings.models import Booking, BookingEvent, BookingStatus
from bookings.scheduling import station_tz
from config.money import format_money
from payments.models import Payment, PaymentMethod, Refund
from stations import tenancy
from stations.admin_base import StationScopedInline
from stations.models import Chef


def sees_money(user, booking: Booking | None) -> bool:
    """Owners, managers and agents of the booking's station (of any of their stations, for a
    list) see money; chefs do not."""
    if booking is None:
        return tenancy.has_any_role(user, tenancy.STAFF_WRITE_ROLES)
    return tenancy.has_role(user, booking.station_id, tenancy.STAFF_WRITE_ROLES)


def money_station_ids(user) -> list[int] | None:
    """The stations where the user sees money (None: every station, for a superuser). A list
    mixes stations: money is shown row by row, never because the user is staff elsewhere."""
    if tenancy.is_superuser(user):
        return None
    return tenancy.station_ids_for(user, roles=tenancy.STAFF_WRITE_ROLES)


def local_event(day: date | None, at: time | None) -> str:
    """An event's local date and start as people say it: "Sat Dec 5, 6 p.m."."""
    if day is None or at is None:
        return "-"
    return date_format(datetime.combine(day, at), "D M j, P")


def _money(cents, currency: str) -> str:
    return format_money(cents, currency) if isinstance(cents, int) else str(cents)


# --- Money ------------------------------------------------------------------------------------


def quote_table(booking: Booking):
    """The quote lines (people, add-ons, minimum top-up...) and the charges, in dollars."""
    cur = booking.currency
    rows = [
        (
            line.get("label") or line.get("code", ""),
            line.get("quantity", ""),
            line.get("amount_cents"),
        )
        for line in booking.quote_lines or []
    ]
    rows += [
        (label, "", cents)
        for label, cents in (
            ("Travel fee", booking.travel_fee_cents),
            ("Gratuity", booking.gratuity_cents),
            ("Tax", booking.tax_cents),
            ("Change fees", booking.fees_cents),
        )
        if cents
    ]
    body = format_html_join(
        "",
        '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
        ((label, qty, _money(cents, cur)) for label, qty, cents in rows),
    )
    return format_html(
        '<table class="booking-quote"><thead><tr><th>Item</th><th class="num">Qty</th>'
        '<th class="num">Amount</th></tr></thead><tbody>{}</tbody><tfoot><tr><th>Total</th>'
        '<th></th><th class="num">{}</th></tr></tfoot></table>',
        body,
        format_money(booking.total_cents, cur),
    )


def money_summary(booking: Booking):
    """Total, deposit, what came in and went back, and what is owed either way."""
    cur = booking.currency
    rows = [
        ("Total", booking.total_cents, ""),
        ("Deposit", booking.deposit_cents, ""),
        ("Paid", booking.amount_paid_cents, ""),
        ("Refunded", booking.amount_refunded_cents, ""),
        ("Refund pending", booking.amount_refund_pending_cents, "sent to Stripe, not confirmed"),
        ("Balance due", booking.balance_due_cents, "what the customer still owes"),
        ("Credit owed", booking.credit_cents, "held above the total: owed to the customer"),
    ]
    body = format_html_join(
        "",
        '<tr class="{}"><th>{}</th><td class="num">{}</td><td class="help">{}</td></tr>',
        (
            (
                "owing" if label == "Balance due" and cents else "",
                label,
                format_money(cents, cur),
                note,
            )
            for label, cents, note in rows
        ),
    )
    return format_html('<table class="booking-money">{}</table>', body)


# --- Payments ---------------------------------------------------------------------------------


def _payment_method(payment: Payment) -> str:
    if payment.method != PaymentMethod.STRIPE:  # taken outside Stripe: cash, check, terminal
        taken_by = f", taken by {payment.taken_by}" if payment.taken_by else ""
        return f"{payment.get_method_display()}{taken_by}"
    return "Stripe (offline mode: not real money)" if payment.offline else "Stripe"


def refunds_text(payment: Payment) -> str:
    """Each refund of a payment (they are prefetched): amount, status, when, why."""
    lines = [
        format_html(
            "{} {} · {} · {}{}",
            format_money(r.amount_cents, payment.currency),
            r.get_status_display().lower(),
            date_format(r.created_at, "N j, P T") if r.created_at else "",
            r.reason or "no reason given",
            f" · {r.error}" if r.error else "",
        )
        for r in payment.refunds.all()
    ]
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) if lines else "-"


def refunds_list(booking: Booking):
    """Every refund of the booking's payments, newest first (one query)."""
    refunds = Refund.objects.filter(payment__booking=booking).select_related("payment")
    rows = [
        (
            date_format(r.created_at, "N j, Y, P T") if r.created_at else "",
            format_money(r.amount_cents, r.payment.currency),
            r.get_status_display(),
            r.reason or "-",
            r.requested_by_label,
            r.error or "",
        )
        for r in refunds.order_by("-created_at", "-pk")
    ]
    if not rows:
        return "No refunds."
    body = format_html_join(
        "",
        '<tr><td>{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        rows,
    )
    return format_html(
        '<table class="booking-refunds"><thead><tr><th>When</th><th class="num">Amount</th>'
        "<th>Status</th><th>Why</th><th>By</th><th>Error</th></tr></thead><tbody>{}</tbody>"
        "</table>",
        body,
    )


class PaymentInline(StationScopedInline):
    """The booking's payments, read-only, each with its refunds (prefetched: no query per
    row). Money is the staff's business, not the chef's."""

    model = Payment
    fields = ["payment", "kind", "amount", "paid_how", "status", "created_at", "refunds"]
    readonly_fields = fields
    can_delete = False
    verbose_name = "payment"
    verbose_name_plural = "Payments"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("refunds")

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, obj, tenancy.STAFF_WRITE_ROLES)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="payment")
    def payment(self, payment: Payment):
        try:
            url = reverse("admin:payments_payment_change", args=[payment.pk])
        except NoReverseMatch:
            return payment.stripe_payment_intent_id
        return format_html('<a href="{}">{}</a>', url, payment.stripe_payment_intent_id)

    @admin.display(description="amount")
    def amount(self, payment: Payment):
        return format_money(payment.amount_cents, payment.currency)

    @admin.display(description="method")
    def paid_how(self, payment: Payment):
        return _payment_method(payment)

    @admin.display(description="refunds")
    def refunds(self, payment: Payment):
        return refunds_text(payment)


# --- History ----------------------------------------------------------------------------------

# An amount as the services write it in a line's reason: "$1,234.50", "-$5.00", "CA$12.00",
# "12.50 USD", "1,234.50" (format_money, or a bare `f"{cents / 100:,.2f}"`).
AMOUNT = re.compile(
    r"-?(?:CA\$|A\$|[$€£])\s?\d[\d,]*(?:\.\d+)?"
    r"|(?<![\w.])-?\d[\d,]*\.\d{2}(?![\d])(?:\s?[A-Z]{3}\b)?"
)
# Data keys that are about money or Stripe (not the event): left out for whoever may not see
# money at the booking's station. Any `*_cents` key too.
MONEY_KEYS = frozenset(
    {"payment", "payment_intent", "event", "type", "dispute", "method", "taken_by", "received_at"}
)
# A value the services store as an ISO date and time ("2026-12-02T02:12:00+00:00").
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def without_amounts(text: str) -> str:
    """A reason with its amounts taken out ("$123.45 taken by Bob" → "an amount taken by
    Bob"), for someone who may not see money."""
    return AMOUNT.sub("an amount", text or "")


def _value(value, zone: ZoneInfo | None) -> str:
    """A data value as people read it: a date and time in the station's zone ("Dec. 1, 2026,
    6:12 p.m. PST"), never the UTC ISO string it is stored as."""
    if isinstance(value, str) and ISO_DATETIME.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None and zone is not None:
            return date_format(moment.astimezone(zone), "N j, Y, P T")
    return str(value)


CHEF_KEYS = ("chef", "from_chef", "to_chef")
RULES = {
    "full_refund": "full refund",
    "deposit_forfeited": "deposit forfeited",
    "event_started": "the event had started",
    "free_reschedule": "free reschedule",
    "change_fee": "change fee",
}


def chef_names(events) -> dict[int, str]:
    """The chefs the history lines name, in one query."""
    ids = {
        value
        for event in events
        for key, value in (event.data or {}).items()
        if key in CHEF_KEYS and isinstance(value, int)
    }
    return dict(Chef.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def _when(moment: dict) -> str:
    try:
        day = date.fromisoformat(moment["event_date"])
        at = time.fromisoformat(moment["start_time"])
    except (KeyError, TypeError, ValueError):
        return str(moment)
    return local_event(day, at)


def _policy(terms: dict, currency: str, *, money: bool = True) -> str:
    rule = RULES.get(terms.get("rule"), terms.get("rule", "?"))
    parts = [rule]
    if money and "refund_cents" in terms:
        parts.append(f"refund {_money(terms['refund_cents'], currency)}")
    if money and terms.get("forfeit_cents"):
        parts.append(f"kept {_money(terms['forfeit_cents'], currency)}")
    if money and terms.get("fee_cents"):
        parts.append(f"fee {_money(terms['fee_cents'], currency)}")
    if "hours_before" in terms:
        parts.append(f"{terms['hours_before']} h before the event")
    return "policy: " + ", ".join(parts)


def history_text(
    data: dict,
    *,
    currency: str,
    chefs: dict[int, str],
    money: bool = True,
    zone: ZoneInfo | None = None,
) -> str:
    """A history line's data in words, one part per key the services write; any other key as
    "key: value", a date and time in the station's `zone`. Without `money` (a chef), no amount
    and nothing about payments or Stripe: the rest of the line (status, chef, move, allergies)
    stays."""
    data = dict(data or {})
    if not money:
        data = {k: v for k, v in data.items() if k not in MONEY_KEYS and not k.endswith("_cents")}
    parts = []

    def chef(value) -> str:
        return chefs.get(value, f"#{value}") if value is not None else "none"

    if "from_chef" in data or "to_chef" in data:
        before, after = chef(data.pop("from_chef", None)), chef(data.pop("to_chef", None))
        parts.append(f"chef: {before} → {after}")
    if "chef" in data:
        parts.append(f"chef: {chef(data.pop('chef'))}")
    if "from" in data or "to" in data:
        parts.append(f"moved: {_when(data.pop('from', {}))} → {_when(data.pop('to', {}))}")
    if isinstance(data.get("policy"), dict):
        parts.append(_policy(data.pop("policy"), currency, money=money))
    if isinstance(data.get("before"), dict):
        before = data.pop("before")
        parts.append("contact before: " + ", ".join(f"{k} {v or '-'}" for k, v in before.items()))
    if "payment_intent" in data:
        parts.append(f"Stripe payment {data.pop('payment_intent')}")
    if "event" in data:
        kind = data.pop("type", "")
        parts.append(f"Stripe event {data.pop('event')}" + (f" ({kind})" if kind else ""))
    if "dispute" in data:
        parts.append(f"dispute {data.pop('dispute')}")
    if isinstance(data.get("problems"), list):
        parts.append("problems: " + "; ".join(map(str, data.pop("problems"))))
    for key, value in data.items():
        if key.endswith("_cents"):
            label = key.removesuffix("_cents").replace("_", " ")
            parts.append(f"{label}: {_money(value, currency)}")
        else:
            parts.append(f"{key.replace('_', ' ')}: {_value(value, zone)}")
    text = " · ".join(parts) if parts else "-"
    return text if money else without_amounts(text)


class BookingEventInline(StationScopedInline):
    """The booking's history, in its station's time, with names instead of ids. The chefs
    named are loaded once per page (an inline instance lives for one request). Someone who may
    not see money at the booking's station (a chef) reads the lines without any amount."""

    model = BookingEvent
    fields = ["created_at", "by", "change", "why", "details"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "Status history"

    _chefs: dict[int, str] | None = None
    _currency = "USD"
    _money = False  # until the page's booking and user say otherwise
    _zone: ZoneInfo | None = None

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:
            self._currency = obj.currency
            self._money = sees_money(request.user, obj)
            self._zone = station_tz(obj.station)
            self._chefs = chef_names(BookingEvent.objects.filter(booking=obj).only("data"))
        return super().get_formset(request, obj, **kwargs)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def change(self, event: BookingEvent):
        labels = dict(BookingStatus.choices)
        to = labels.get(event.to_status, event.to_status)
        if not event.from_status:
            return to
        if event.from_status == event.to_status:
            return f"{to} (note)"
        return f"{labels.get(event.from_status, event.from_status)} → {to}"

    @admin.display(description="by")
    def by(self, event: BookingEvent):
        return event.actor_label

    @admin.display(description="reason")
    def why(self, event: BookingEvent):
        reason = event.reason or "-"
        return reason if self._money else without_amounts(reason)

    @admin.display(description="details")
    def details(self, event: BookingEvent):
        if self._chefs is None:  # not shown through get_formset (cannot happen on the page)
            self._chefs = chef_names([event])
        return history_text(
            event.data,
            currency=self._currency,
            chefs=self._chefs,
            money=self._money,
            zone=self._zone,
        )
