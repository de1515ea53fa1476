"""
Reviews (DESIGN.md §4, issue 16): every platform's reviews of a station in one table, the
replies drafted for them and who decided them, the review requests sent after events, and the
station's Google Business Profile location with its credentials (sealed at rest).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from bookings.models import Booking, Customer
from inbox.models import AIInteraction, Conversation, Level, Message
from stations.models import Station


class Platform(models.TextChoices):
    GOOGLE = "google", "Google"
    YELP = "yelp", "Yelp"
    FACEBOOK = "facebook", "Facebook"
    INTERNAL = "internal", "Our review form"


class ReplyStatus(models.TextChoices):
    """Where the review's answer stands (the admin's "reply status" filter)."""

    WAITING = "waiting", "Waiting for a reply"  # no draft (the AI was unavailable)
    NEEDS_PERSON = "needs_person", "Needs a person (1-3 stars)"  # L3: alerted, never drafted
    DRAFTED = "drafted", "Draft to approve"
    APPROVED = "approved", "Approved, posting"
    POSTED = "posted", "Posted"
    POST_MANUALLY = "post_manually", "Post manually"
    REJECTED = "rejected", "No reply"
    REPLIED = "replied", "Already answered on the platform"


class Review(models.Model):
    """One review on one platform, stored once under the platform's id (per station)."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="reviews")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    external_id = models.CharField(max_length=200, help_text="the platform's id of the review")
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    author = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True)
    created_on_platform = models.DateTimeField()
    updated_on_platform = models.DateTimeField(null=True, blank=True)
    platform_reply = models.TextField(
        blank=True, help_text="the reply the platform shows (posted by us or elsewhere)"
    )
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    reply_status = models.CharField(
        max_length=14, choices=ReplyStatus.choices, default=ReplyStatus.WAITING
    )
    alerted_at = models.DateTimeField(
        null=True, blank=True, help_text="when the station's managers were alerted (1-3 stars)"
    )
    alert_mailed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "station", "external_id"], name="review_once_per_platform"
            ),
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"
            ),
        ]
        indexes = [
            # The seed's index (DESIGN.md §4): the dashboard's rating trend per station (and
            # the admin's rating filter within a station).
            models.Index(fields=["station", "rating"], name="review_station_rating"),
            # The reviews list, newest first within a station.
            models.Index(fields=["station", "-created_on_platform"], name="review_station_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.rating}★ by {self.author or 'anonymous'}"


class ResponseStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    POSTED = "posted", "Posted"
    POST_MANUALLY = "post_manually", "Post manually"
    REJECTED = "rejected", "Rejected"


LIVE_RESPONSE_STATUSES = (ResponseStatus.DRAFT, ResponseStatus.APPROVED)


class ReviewResponse(models.Model):
    """A reply to a review: drafted by the AI (L1 sent on its own, L2 for a person to approve
    or edit) or written by a person, then posted (Google) or marked to post by hand (Yelp,
    Facebook). At most one is live (draft or approved) per review."""

    STATION_PATH = "review__station"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    drafted_text = models.TextField(blank=True, help_text="the AI's text, before any edit")
    level = models.CharField(max_length=2, choices=Level.choices, default=Level.L2)
    status = models.CharField(
        max_length=14, choices=ResponseStatus.choices, default=ResponseStatus.DRAFT
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    edited = models.BooleanField(default=False)
    posted_at = models.DateTimeField(null=True, blank=True)
    post_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    post_attempts = models.PositiveSmallIntegerField(default=0)
    post_error = models.TextField(blank=True)
    post_failed = models.BooleanField(
        default=False, help_text="the platform refused the reply for good (see the error)"
    )
    ai_interaction = models.ForeignKey(
        AIInteraction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["review"],
                condition=Q(status__in=["draft", "approved"]),
                name="reviewresponse_one_live",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} reply ({self.get_status_display()})"


class ReviewRequest(models.Model):
    """The one request for a review after a completed booking. Only the token's SHA-256 is
    stored (the link went out in the message); `skipped_reason` says why nothing was sent
    (no consent, do not contact, no channel)."""

    STATION_PATH = "booking__station"

    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, related_name="review_request")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    channel = models.CharField(max_length=20, blank=True, help_text="the inbox channel kind")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    skipped_reason = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="queued in the inbox (quiet hours may hold it)"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    review = models.OneToOneField(
        Review, null=True, blank=True, on_delete=models.SET_NULL, related_name="request"
    )
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"review request for booking {self.booking_id}"


class GoogleLocation(models.Model):
    """A station's Google Business Profile location: `location_name` as Google names it
    ("accounts/123/locations/456"), the place id for the public "write a review" link, and
    the OAuth credentials (client_id, client_secret, refresh_token, or an access_token),
    sealed with inbox.credentials (AES-GCM under SECRET_KEY) and never shown back."""

    station = models.OneToOneField(
        Station, on_delete=models.CASCADE, related_name="google_location"
    )
    location_name = models.CharField(max_length=200, unique=True)
    place_id = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    credentials_sealed = models.BinaryField(null=True, blank=True, editable=False)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "Google location"

    def __str__(self) -> str:
        return self.location_name


class GoogleNotification(models.Model):
    """A verified Pub/Sub push from Google Business Profile, stored once under Pub/Sub's
    messageId; the task fetches the review it names and records the outcome."""

    message_id = models.CharField(max_length=200, unique=True)
    notification_type = models.CharField(max_length=40)
    location_name = models.CharField(max_length=200)
    review_name = models.CharField(max_length=300)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="googlenotification_waiting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} {self.review_name}"
