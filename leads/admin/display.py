"""How a lead reads to a person in the back office: its score with the reasons, its status, how
long ago it came in (red when nobody has contacted it within the station's target), dates and
times in the station's zone. Nothing here queries the database: the list shows 100 rows with
the same queries as 5."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join

from config.durations import elapsed
from leads import scoring
from leads.models import Lead, LeadStatus

# Used where no station (an unassigned lead) gives its own target: the model's default.
DEFAULT_TARGET_MINUTES = 15
FACTOR_LABELS = {
    "guests": "Party size",
    "timing": "Timing",
    "availability": "Availability",
    "completeness": "Completeness",
    "budget": "Budget",
    "source": "Source",
    "engagement": "Engagement",
}


def person(user) -> str:
    if user is None:
        return "-"
    return user.get_full_name() or user.get_username()


def ago(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago, as people say it: "just now", "12 min ago", "3 h 5 min ago", "2 days ago"."""
    text = elapsed(since, now)
    return text if text in ("-", "just now") else f"{text} ago"


def station_time(value: datetime | None, zone_name: str | None, fmt: str = "D N j, P") -> str:
    """A moment as the station's people read it ("Sat Mar. 14, 10 a.m.")."""
    if value is None:
        return "-"
    zone = ZoneInfo(zone_name) if zone_name else timezone.get_current_timezone()
    return date_format(timezone.localtime(value, zone), fmt)


def event_day(day: date | None) -> str:
    """The party's day, short: "Fri Dec. 25" (with the year when it is not this one)."""
    if day is None:
        return "-"
    if day.year == timezone.localdate().year:
        return date_format(day, "D N j")
    return date_format(day, "D N j, Y")


def zone_of(lead: Lead) -> str | None:
    return lead.station.timezone if lead.station_id else None


def waiting_too_long(lead: Lead, now: datetime | None = None) -> bool:
    """A new lead nobody has contacted after the station's response target (counted in its
    opening hours, as the stale-lead reminders count it)."""
    if lead.status != LeadStatus.NEW or lead.first_human_contact_at is not None:
        return False
    now = now or timezone.now()
    station = lead.station if lead.station_id else None
    if station is None:
        return now - lead.created_at > timedelta(minutes=DEFAULT_TARGET_MINUTES)
    due = scoring.stale_after(station, lead.created_at, station.lead_response_target_minutes)
    return due <= now


def came_in(lead: Lead, now: datetime | None = None) -> str:
    text = ago(lead.created_at, now)
    when = station_time(lead.created_at, zone_of(lead), "N j, P T")
    if waiting_too_long(lead, now):
        target = (
            lead.station.lead_response_target_minutes if lead.station_id else DEFAULT_TARGET_MINUTES
        )
        return format_html(
            '<span class="lead-late" title="Came in {}. Nobody has contacted it yet: the target '
            'is {} min (opening hours).">{}</span>',
            when,
            target,
            text,
        )
    return format_html('<span title="Came in {}">{}</span>', when, text)


def score_level(score: int) -> str:
    return "hot" if score >= 70 else "warm" if score >= 45 else "cold"


def reasons_text(lead: Lead) -> str:
    """The score's reasons on lines, for a tooltip: "Party size 16/20: 12 guests"."""
    return "\n".join(
        f"{FACTOR_LABELS.get(r.get('factor'), r.get('factor'))} "
        f"{r.get('points')}/{r.get('max')}: {r.get('detail')}"
        for r in lead.score_reasons or []
    )


def score_badge(lead: Lead) -> str:
    """The score as a coloured number; hovering shows each reason, and a click opens them."""
    rows = format_html_join(
        "",
        "<li><b>{}</b> {}/{}: {}</li>",
        (
            (
                FACTOR_LABELS.get(r.get("factor"), r.get("factor")),
                r.get("points"),
                r.get("max"),
                r.get("detail"),
            )
            for r in lead.score_reasons or []
        ),
    )
    return format_html(
        '<details class="lead-score"><summary title="{}"><span class="score-badge score-{}">{}'
        "</span></summary><ul>{}</ul></details>",
        reasons_text(lead),
        score_level(lead.score),
        lead.score,
        rows,
    )


def score_table(lead: Lead) -> str:
    """Each factor with its points out of its maximum and the reason, for the lead page."""
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td class="num">{} / {}</td>'
        '<td><span class="score-bar"><span style="width:{}%"></span></span></td><td>{}</td></tr>',
        (
            (
                FACTOR_LABELS.get(r.get("factor"), r.get("factor")),
                r.get("points"),
                r.get("max"),
                int(100 * (r.get("points") or 0) / (r.get("max") or 1)),
                r.get("detail"),
            )
            for r in lead.score_reasons or []
        ),
    )
    scored = station_time(lead.scored_at, zone_of(lead), "N j, P T") if lead.scored_at else "-"
    return format_html(
        '<table class="lead-score-table"><caption><span class="score-badge score-{}">{}</span> '
        "out of 100 · scored {}</caption><tbody>{}</tbody></table>",
        score_level(lead.score),
        lead.score,
        scored,
        rows,
    )


def status_pill(lead: Lead) -> str:
    title = f"Lost: {lead.lost_reason}" if lead.status == LeadStatus.LOST else ""
    return format_html(
        '<span class="lead-status status-{}" title="{}">{}</span>',
        lead.status,
        title,
        lead.get_status_display(),
    )


def follow_up(lead: Lead, now: datetime | None = None) -> str:
    if lead.follow_up_at is None:
        return "-"
    text = station_time(lead.follow_up_at, zone_of(lead), "N j, P")
    if lead.is_open and lead.follow_up_at <= (now or timezone.now()):
        return format_html('<span class="lead-late" title="Overdue">{}</span>', text)
    return text
