"""Merging two customers (inbox.merge, which moves every key to Customer it finds) moves their
reviews to the kept customer, and a review's request stays with its booking."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import merge
from reviews import services
from reviews.models import Review
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_a_merge_moves_the_merged_customers_reviews(san_jose, sj_agent):
    keep = CustomerFactory(station=san_jose)
    other = CustomerFactory(station=san_jose)
    review = services.review_upsert(
        station=san_jose,
        platform="internal",
        external_id="r1",
        rating=5,
        created_on_platform=timezone.now() - timedelta(days=1),
        customer=other,
        prepare_reply=False,
    ).review
    record = merge.customers_merge(keep=keep, merge=other, actor=sj_agent)
    assert Review.objects.get(pk=review.pk).customer_id == keep.pk
    assert record.moved["reviews"] == 1
