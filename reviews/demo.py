"""
Reviews' part of `manage.py seed_demo`: for each demo station, reviews on Google, Yelp,
Facebook and our own form (the latter answering review requests of completed demo events),
stored through reviews.services under fixed platform ids (running the seed again adds
nothing), with their replies prepared as the task does: 4-5 stars get an AI draft from the
local drafter (san-jose lets a 5-star review without text reply on its own), 1-3 stars wait
for a person. Each station gets a Google location (no credentials: nothing is called) whose
place id makes the public review link.
"""

from datetime import timedelta

from django.utils import timezone

from bookings.models import Booking, BookingStatus
from reviews import services
from reviews.models import GoogleLocation, Platform, Review, ReviewRequest
from stations.models import Station

# (platform, id, rating, author, text, days ago)
REVIEWS = [
    (
        Platform.GOOGLE,
        "g1",
        5,
        "Priya Raman",
        "Chef was amazing, the kids loved the onion volcano!",
        3,
    ),
    (Platform.GOOGLE, "g2", 5, "Tom Becker", "", 6),
    (
        Platform.GOOGLE,
        "g3",
        2,
        "Dana Whitfield",
        "Food was good but the chef arrived 40 minutes late.",
        9,
    ),
    (
        Platform.YELP,
        "y1",
        4,
        "Marco S.",
        "Great fried rice and a fun show. A bit pricey for 10 people.",
        12,
    ),
    (Platform.YELP, "y2", 1, "Kelly N.", "Nobody answered my calls about the deposit.", 20),
    (Platform.FACEBOOK, "f1", 5, "Linh Tran", "Best birthday party ever, thank you!", 15),
    (Platform.FACEBOOK, "f2", 3, "Oscar Diaz", "Okay experience, the steak was overcooked.", 30),
]
PLACE_IDS = {"san-jose": "ChIJDemoSanJose000001", "sacramento": "ChIJDemoSacramento0002"}
LOCATIONS = {"san-jose": "accounts/100/locations/1001", "sacramento": "accounts/100/locations/1002"}
INTERNAL = [(5, "Everything was perfect."), (4, "Great chef, would book again.")]


def build_reviews(*, password: str) -> str:
    now = timezone.now()
    made = drafted = 0
    for station in Station.objects.filter(slug__in=PLACE_IDS).order_by("slug"):
        if station.slug == "san-jose" and not station.review_auto_reply_five_star:
            Station.objects.filter(pk=station.pk).update(review_auto_reply_five_star=True)
            station.review_auto_reply_five_star = True
        GoogleLocation.objects.get_or_create(
            station=station,
            defaults={
                "location_name": LOCATIONS[station.slug],
                "place_id": PLACE_IDS[station.slug],
            },
        )
        for platform, key, rating, author, text, days in REVIEWS:
            external_id = f"demo-{station.slug}-{key}"
            if Review.objects.filter(
                station=station, platform=platform, external_id=external_id
            ).exists():
                continue  # seeded before (its dates were relative to that day)
            result = services.review_upsert(
                station=station,
                platform=platform,
                external_id=external_id,
                rating=rating,
                author=author,
                text=text,
                created_on_platform=now - timedelta(days=days),
                prepare_reply=False,
            )
            made += result.created
            drafted += _prepare(result.review.pk)
        made_internal, drafted_internal = _internal(station, now)
        made += made_internal
        drafted += drafted_internal
    return f"{made} reviews, {drafted} replies prepared"


def _prepare(review_id: int) -> int:
    return int(services.review_reply_prepare(review_id=review_id) in ("drafted", "auto-reply"))


def _internal(station: Station, now) -> tuple[int, int]:
    """Reviews through our own form, for two completed events: a request (its token is not
    kept: only the review it brought matters here) and the review it brought."""
    made = drafted = 0
    completed = Booking.objects.filter(station=station, status=BookingStatus.COMPLETED)
    for booking, (rating, text) in zip(completed.order_by("ends_at")[:2], INTERNAL, strict=False):
        request, _ = ReviewRequest.objects.get_or_create(
            booking=booking,
            defaults={
                "token_hash": services.hash_token(f"demo-{booking.pk}-{booking.reference}"),
                "channel": "email",
                "created_at": booking.ends_at + timedelta(hours=24),
                "sent_at": booking.ends_at + timedelta(hours=24),
            },
        )
        if request.review_id is not None:
            continue
        result = services.review_upsert(
            station=station,
            platform=Platform.INTERNAL,
            external_id=f"request-{request.pk}",
            rating=rating,
            author=booking.customer.name,
            text=text,
            created_on_platform=min(now, booking.ends_at + timedelta(hours=30)),
            booking=booking,
            customer=booking.customer,
            prepare_reply=False,
        )
        ReviewRequest.objects.filter(pk=request.pk).update(
            review=result.review, completed_at=result.review.created_on_platform
        )
        made += result.created
        drafted += _prepare(result.review.pk)
    return made, drafted


STEPS = [("reviews", build_reviews)]
