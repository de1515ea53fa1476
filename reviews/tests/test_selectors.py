"""The dashboard's figures: a station's monthly rating trend (in its time zone) and reply
times (median, 90th percentile)."""

from datetime import date, datetime, timedelta

import pytest
import time_machine

from reviews import selectors, services
from reviews.models import ReplyStatus, ResponseStatus, Review, ReviewResponse

pytestmark = pytest.mark.django_db

NOW = datetime.fromisoformat("2026-11-17T12:00:00-08:00")


def review(station, key, rating, at):
    return services.review_upsert(
        station=station,
        platform="google",
        external_id=key,
        rating=rating,
        created_on_platform=at,
        prepare_reply=False,
    ).review


def test_the_rating_trend_is_per_month_of_the_station(san_jose, sacramento):
    # 23:30 on Oct 31 in San Jose is already November in UTC: it counts for October.
    review(san_jose, "a", 5, datetime.fromisoformat("2026-10-31T23:30:00-07:00"))
    review(san_jose, "b", 2, datetime.fromisoformat("2026-10-03T12:00:00-07:00"))
    review(san_jose, "c", 4, datetime.fromisoformat("2026-11-02T12:00:00-08:00"))
    review(san_jose, "old", 1, datetime.fromisoformat("2025-01-02T12:00:00-08:00"))
    review(sacramento, "d", 1, datetime.fromisoformat("2026-11-02T12:00:00-08:00"))
    trend = selectors.rating_trend(station=san_jose, months=3, now=NOW)
    assert trend == [
        selectors.Month(month=date(2026, 10, 1), average=3.5, count=2),
        selectors.Month(month=date(2026, 11, 1), average=4.0, count=1),
    ]
    assert selectors.average_rating(station=san_jose) == 3.0


def test_reply_times_are_the_median_and_90th_percentile(san_jose, sj_manager):
    with time_machine.travel(NOW - timedelta(days=5), tick=False) as clock:
        for hours in (1, 2, 3, 4, 10):
            made = review(san_jose, f"r{hours}", 4, NOW - timedelta(days=6))
            ReviewResponse.objects.create(
                review=made,
                text="Thanks!",
                status=ResponseStatus.POSTED,
                approved_at=made.created_at + timedelta(hours=hours),
                posted_at=made.created_at + timedelta(hours=hours),
            )
            Review.objects.filter(pk=made.pk).update(reply_status=ReplyStatus.POSTED)
        clock.move_to(NOW)
    figures = selectors.reply_times(station=san_jose, now=NOW)
    assert figures.replied == 5
    assert figures.median == timedelta(hours=3)
    assert figures.p90 == timedelta(hours=7, minutes=36)  # 4 + 0.6 * (10 - 4)
    empty = selectors.reply_times(station=san_jose, now=NOW + timedelta(days=200))
    assert (empty.replied, empty.median, empty.p90) == (0, None, None)
