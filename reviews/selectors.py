"""
Reads: for the dashboard, a station's rating trend (monthly average and count, in the station's
time zone, through the seed's (station, rating) index) and how fast reviews get a reply
(median and 90th percentile, PostgreSQL's percentile_cont); for the periodic tasks, what is
due (review requests) or was lost (fetches, drafts, posts).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from bookings.models import Booking, BookingStatus
from bookings.scheduling import station_tz
from reviews.models import (
    GoogleNotification,
    ReplyStatus,
    ResponseStatus,
    Review,
    ReviewResponse,
)
from stations.models import Station

REQUEST_MAX_AGE = timedelta(days=30)  # events older than this are not asked about any more
# Reviews older than this when they reach us (a first sync, an import of years of Yelp) are
# stored without a draft or an alert: nobody answers a review from 2019 today.
REPLY_WINDOW = timedelta(days=30)


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


# --- What the periodic tasks pick up -----------------------------------------------


def responses_to_post(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Approved replies not posted and not being posted (their task was lost, or a retry is
    due; not those the platform refused for good): the sweeper enqueues them again."""
    now = now or timezone.now()
    return list(
        ReviewResponse.objects.filter(status=ResponseStatus.APPROVED, post_failed=False)
        .filter(Q(post_claimed_until__isnull=True) | Q(post_claimed_until__lt=now))
        .filter(approved_at__lt=now - timedelta(minutes=2))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def reviews_waiting(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Reviews still waiting for their reply to be prepared a while after they came (their
    task was lost, or the AI was unavailable)."""
    now = now or timezone.now()
    return list(
        Review.objects.filter(
            reply_status=ReplyStatus.WAITING,
            updated_at__lt=now - timedelta(minutes=10),
            updated_at__gte=now - timedelta(days=7),
            created_on_platform__gte=now - REPLY_WINDOW,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def google_notifications_waiting(*, now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        GoogleNotification.objects.filter(
            processed_at__isnull=True,
            received_at__lt=now - timedelta(minutes=2),
            attempts__lt=8,
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:500]
    )


def bookings_due_for_request(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Completed bookings whose event ended at least the station's delay ago (and not longer
    ago than REQUEST_MAX_AGE) with no request yet."""
    now = now or timezone.now()
    delay = ExpressionWrapper(
        F("station__review_request_delay_hours") * timedelta(hours=1),
        output_field=DurationField(),
    )
    return list(
        Booking.objects.filter(
            status=BookingStatus.COMPLETED,
            review_request__isnull=True,
            ends_at__gte=now - REQUEST_MAX_AGE,
        )
        .alias(due_at=F("ends_at") + delay)
        .filter(due_at__lte=now)
        .order_by("ends_at")
        .values_list("pk", flat=True)[:limit]
    )
