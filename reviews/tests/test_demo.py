"""seed_demo's reviews: both stations, every platform, some drafts, a low rating waiting for a
person; running it again adds nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from reviews.models import Review, ReviewResponse

pytestmark = pytest.mark.django_db


def seed():
    call_command("seed_demo", stdout=StringIO())


def test_the_demo_has_reviews_on_every_platform_at_both_stations_and_is_idempotent(
    settings, django_capture_on_commit_callbacks
):
    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        seed()
    platforms = set(Review.objects.values_list("station__slug", "platform"))
    assert platforms == {
        (station, platform)
        for station in ("san-jose", "sacramento")
        for platform in ("google", "yelp", "facebook", "internal")
    }
    assert ReviewResponse.objects.filter(status="draft").count() >= 4
    assert Review.objects.filter(reply_status="needs_person").exists()
    internal = Review.objects.filter(platform="internal").select_related("request")
    assert all(r.booking_id and r.request.completed_at for r in internal)
    before = (
        list(Review.objects.order_by("pk").values()),
        list(ReviewResponse.objects.order_by("pk").values_list("pk", "status")),
    )
    with django_capture_on_commit_callbacks(execute=True):
        seed()
    after = (
        list(Review.objects.order_by("pk").values()),
        list(ReviewResponse.objects.order_by("pk").values_list("pk", "status")),
    )
    assert after == before
