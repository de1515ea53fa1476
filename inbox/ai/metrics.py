"""
How the AI does, per station and month (issue 14 point 8), for the dashboard and the admin's
line: the share of inbound messages at L1, L2 and L3 (the seed expects about 80 / 15 / 5),
approval and edit rates of the drafts people decided, rejections, cost and draft latency.

Two aggregate queries whatever the volume: one over the month's drafts (through the
(station, created_at) index, joined to their messages for the latency), one over the month's
AI interactions (the same index) for the cost. The month is the station's: its first and last
instants in the station's time zone.
"""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Aggregate, Count, DurationField, F, FloatField, Q, Sum
from django.db.models.expressions import ExpressionWrapper
from django.db.models.functions import Extract
from django.utils import timezone

from config.money import format_money
from inbox.models import AIInteraction, AIOutcome, Draft, DraftStatus, Level
from stations.models import Station

TARGET = {"l1": 80, "l2": 15, "l3": 5}  # the seed's expected shares, percent


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class AIMonth:
    station_id: int
    month: date  # the first day of the month
    messages: int  # inbound messages the ladder handled (one draft each)
    l1: int
    l2: int
    l3: int
    auto_sent: int
    sent_as_is: int  # approved without a change
    edited: int  # sent after an edit
    rejected: int
    superseded: int
    cost_millicents: int
    calls: int  # calls made to a model (the local drafter's excluded)
    latency_p50_ms: int | None  # inbound message → draft stored
    latency_p95_ms: int | None

    def share(self, level: str) -> float:
        """Percent of the month's messages at `level` ("l1", "l2", "l3")."""
        return 100.0 * getattr(self, level) / self.messages if self.messages else 0.0

    @property
    def decided(self) -> int:
        return self.sent_as_is + self.edited + self.rejected

    @property
    def approval_rate(self) -> float | None:
        """Of the drafts people decided, the share sent as written."""
        return self.sent_as_is / self.decided if self.decided else None

    @property
    def edit_rate(self) -> float | None:
        return self.edited / self.decided if self.decided else None

    @property
    def cost_cents(self) -> int:
        return (self.cost_millicents + 999) // 1000  # a started cent counts


def month_bounds(station: Station, month: date) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, in the station's zone."""
    zone = ZoneInfo(station.timezone)
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    following = (
        datetime(month.year + 1, 1, 1, tzinfo=zone)
        if month.month == 12
        else datetime(month.year, month.month + 1, 1, tzinfo=zone)
    )
    return start, following


def this_month(station: Station, now: datetime | None = None) -> date:
    local = (now or timezone.now()).astimezone(ZoneInfo(station.timezone))
    return date(local.year, local.month, 1)


def ai_month(*, station: Station, month: date | None = None) -> AIMonth:
    """The station's figures for a month (default: the current one, in its zone)."""
    month = (month or this_month(station)).replace(day=1)
    start, end = month_bounds(station, month)
    latency = Extract(
        ExpressionWrapper(F("created_at") - F("message__created_at"), DurationField()), "epoch"
    )
    sent = Q(status=DraftStatus.SENT)
    drafts = Draft.objects.filter(
        station=station, created_at__gte=start, created_at__lt=end
    ).aggregate(
        messages=Count("pk"),
        l1=Count("pk", filter=Q(level=Level.L1)),
        l2=Count("pk", filter=Q(level=Level.L2)),
        l3=Count("pk", filter=Q(level=Level.L3)),
        auto_sent=Count("pk", filter=Q(status=DraftStatus.AUTO_SENT)),
        sent_as_is=Count("pk", filter=sent & Q(edited=False)),
        edited=Count("pk", filter=sent & Q(edited=True)),
        rejected=Count("pk", filter=Q(status=DraftStatus.REJECTED)),
        superseded=Count("pk", filter=Q(status=DraftStatus.SUPERSEDED)),
        p50=Percentile(latency, 0.5),
        p95=Percentile(latency, 0.95),
    )
    calls = AIInteraction.objects.filter(
        station=station, created_at__gte=start, created_at__lt=end
    ).aggregate(
        cost=Sum("cost_millicents"),
        calls=Count(
            "pk",
            filter=~Q(model="local-drafter")
            & ~Q(outcome__in=[AIOutcome.RATE_LIMITED, AIOutcome.OVER_BUDGET]),
        ),
    )
    return AIMonth(
        station_id=station.pk,
        month=month,
        messages=drafts["messages"],
        l1=drafts["l1"],
        l2=drafts["l2"],
        l3=drafts["l3"],
        auto_sent=drafts["auto_sent"],
        sent_as_is=drafts["sent_as_is"],
        edited=drafts["edited"],
        rejected=drafts["rejected"],
        superseded=drafts["superseded"],
        cost_millicents=calls["cost"] or 0,
        calls=calls["calls"],
        latency_p50_ms=_ms(drafts["p50"]),
        latency_p95_ms=_ms(drafts["p95"]),
    )


def _ms(seconds) -> int | None:
    return None if seconds is None else round(float(seconds) * 1000)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{round(rate * 100)}%"


def _seconds(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f} s"


def summary_line(station: Station, figures: AIMonth) -> str:
    """The month in one line, as the admin shows it."""
    shares = " · ".join(f"{lvl.upper()} {round(figures.share(lvl))}%" for lvl in TARGET)
    target = "/".join(str(v) for v in TARGET.values())
    return (
        f"{station.name}, {figures.month:%B %Y}: {shares} of {figures.messages} messages "
        f"(target {target}) · approved as is {_percent(figures.approval_rate)}, edited "
        f"{_percent(figures.edit_rate)}, rejected {figures.rejected} · cost "
        f"{format_money(figures.cost_cents, station.currency)} ({figures.calls} calls) · draft "
        f"latency p50 {_seconds(figures.latency_p50_ms)}, p95 {_seconds(figures.latency_p95_ms)}"
    )
