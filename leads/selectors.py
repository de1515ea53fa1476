"""Lead reads: the pipeline a user may see, its counts, and the speed-to-lead measures the
dashboard uses."""

from datetime import datetime
from statistics import median
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet

from leads.models import OPEN_STATUSES, Lead, LeadStatus
from stations import tenancy


def leads_for(user, queryset: QuerySet | None = None) -> QuerySet:
    """The leads this user may see: their stations' where they work leads (owners, managers,
    agents; a chef sees none), plus the unassigned queue (leads no station serves) for owners
    and superusers, who route them."""
    queryset = Lead.objects.all() if queryset is None else queryset
    scoped = tenancy.scope(queryset, user, roles=tenancy.STAFF_WRITE_ROLES)
    if tenancy.is_superuser(user) or not tenancy.has_any_role(user, tenancy.SETTINGS_ROLES):
        return scoped
    return scoped | queryset.filter(station__isnull=True)


def pipeline_counts(queryset: QuerySet) -> dict[str, int]:
    """{status: count} for the tabs, plus "open" and "unassigned" (the open leads no station
    serves: the owners' queue) (one query: (station, status) index)."""
    # Counting `status` (never null) rather than the id: the query reads only station and
    # status, which the index holds, so it needs no row of the table.
    rows = (
        queryset.order_by()
        .values("status")
        .annotate(n=Count("status"), unrouted=Count("status", filter=Q(station__isnull=True)))
    )
    counts = dict.fromkeys(LeadStatus.values, 0)
    unassigned = 0
    for row in rows:
        counts[row["status"]] = row["n"]
        if row["status"] in OPEN_STATUSES:
            unassigned += row["unrouted"]
    counts["open"] = sum(counts[s] for s in OPEN_STATUSES)
    counts["unassigned"] = unassigned
    return counts


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def leads_by_source(queryset: QuerySet) -> dict[str, int]:
    rows = queryset.order_by().values("source").annotate(n=Count("pk"))
    return {row["source"]: row["n"] for row in rows}


def time_to_first_contact(queryset: QuerySet) -> dict:
    """Minutes from a lead coming in to a person at the station contacting it: median and
    90th percentile over the leads that were contacted, and how many were not (yet)."""
    contacted = queryset.filter(first_human_contact_at__isnull=False)
    minutes = sorted(
        (delta.total_seconds() / 60)
        for delta in contacted.annotate(wait=F("first_human_contact_at") - F("created_at"))
        .order_by()
        .values_list("wait", flat=True)
    )
    return {
        "contacted": len(minutes),
        "not_contacted": queryset.filter(first_human_contact_at__isnull=True).count(),
        "median_minutes": round(median(minutes), 1) if minutes else None,
        "p90_minutes": round(_percentile(minutes, 0.9), 1) if minutes else None,
    }


def conversion_rates(queryset: QuerySet, *, by: str) -> list[dict]:
    """Per `by` ("station__slug" or "source"): leads, won, lost, open and won / (won + lost +
    open) as a percentage (one decimal)."""
    rows = (
        queryset.order_by()
        .values(by)
        .annotate(
            leads=Count("pk"),
            won=Count("pk", filter=Q(status=LeadStatus.WON)),
            lost=Count("pk", filter=Q(status=LeadStatus.LOST)),
        )
        .order_by(by)
    )
    return [
        {
            "key": row[by],
            "leads": row["leads"],
            "won": row["won"],
            "lost": row["lost"],
            "rate": round(100 * row["won"] / row["leads"], 1) if row["leads"] else 0.0,
        }
        for row in rows
    ]


def lead_metrics(
    queryset: QuerySet, *, since: datetime | None = None, until: datetime | None = None
) -> dict:
    """The dashboard's lead figures over leads that came in within [since, until)."""
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return {
        "by_source": leads_by_source(queryset),
        "first_contact": time_to_first_contact(queryset),
        "conversion_by_station": conversion_rates(queryset, by="station__slug"),
        "conversion_by_source": conversion_rates(queryset, by="source"),
    }


def reminder_text(*, lead_id: int, level: int) -> tuple[str, str] | None:
    """The staff e-mail for a stale lead, or None when it was contacted meanwhile."""
    lead = Lead.objects.select_related("station").filter(pk=lead_id).first()
    if lead is None or lead.first_human_contact_at is not None or lead.status != LeadStatus.NEW:
        return None
    who = "You were assigned" if level == 1 else "Your station has"
    link = f"{settings.PUBLIC_BASE_URL}/admin/leads/lead/{lead.pk}/change/"
    subject = f"Lead waiting: {lead.name} ({lead.station.name})"
    came_in = lead.created_at.astimezone(ZoneInfo(lead.station.timezone))  # DESIGN.md §3
    body = (
        f"{who} a new lead that nobody has contacted yet.\n\n"
        f"{lead.name}, came in {came_in:%Y-%m-%d %H:%M %Z} by {lead.source}, "
        f"score {lead.score}.\n\nOpen it: {link}\n"
    )
    return subject, body
