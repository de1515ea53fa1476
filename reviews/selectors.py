"""
Reads for the dashboard: a station's rating trend (monthly average and count, in the station's
time zone, through the seed's (station, rating) index) and how fast reviews get a reply
(median and 90th percentile, PostgreSQL's percentile_cont).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Aggregate, Avg, Count, DurationField, F, FloatField
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from bookings.scheduling import station_tz
from reviews.models import ReplyStatus, ResponseStatus, Review, ReviewResponse
from stations.models import Station


class PercentileCont(Aggregate):
    """percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("a percentile is a fraction from 0 to 1")
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class Month:
    month: date
    average: float
    count: int


def rating_trend(*, station: Station, months: int = 12, now: datetime | None = None) -> list[Month]:
    """Average rating and number of reviews per month (the station's months), oldest first,
    for the last `months` months (months without reviews are left out)."""
    now = now or timezone.now()
    tz = station_tz(station)
    local = now.astimezone(tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(months - 1):
        start = (start - timedelta(days=1)).replace(day=1)
    rows = (
        Review.objects.filter(station=station, created_on_platform__gte=start)
        .annotate(month=TruncMonth("created_on_platform", tzinfo=tz))
        .values("month")
        .annotate(average=Avg("rating"), count=Count("pk"))
        .order_by("month")
    )
    return [
        Month(
            month=row["month"].date(), average=round(float(row["average"]), 2), count=row["count"]
        )
        for row in rows
    ]


@dataclass(frozen=True)
class ReplyTimes:
    replied: int
    median: timedelta | None
    p90: timedelta | None


def reply_times(*, station: Station, days: int = 90, now: datetime | None = None) -> ReplyTimes:
    """From a review's arrival here to its reply's posting (or marking to post by hand), for
    the replies of the last `days` days: how many, the median and the 90th percentile."""
    now = now or timezone.now()
    wait = F("posted_or_marked") - F("review__created_at")
    answered = (
        ReviewResponse.objects.filter(
            review__station=station,
            status__in=[ResponseStatus.POSTED, ResponseStatus.POST_MANUALLY],
            approved_at__gte=now - timedelta(days=days),
        )
        .annotate(posted_or_marked=Coalesce("posted_at", "approved_at"))
        .annotate(wait=wait)
    )
    figures = answered.aggregate(
        replied=Count("pk"),
        median=PercentileCont(F("wait"), 0.5, output_field=DurationField()),
        p90=PercentileCont(F("wait"), 0.9, output_field=DurationField()),
    )
    return ReplyTimes(replied=figures["replied"], median=figures["median"], p90=figures["p90"])


def needing_a_person(*, station_ids: list[int]) -> int:
    """Reviews of these stations with 1-3 stars that nobody answered yet (the admin's alert)."""
    return Review.objects.filter(
        station_id__in=station_ids, reply_status=ReplyStatus.NEEDS_PERSON
    ).count()


def average_rating(*, station: Station) -> float | None:
    value = Review.objects.filter(station=station).aggregate(
        average=Avg("rating", output_field=FloatField())
    )["average"]
    return round(value, 2) if value is not None else None
