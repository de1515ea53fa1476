"""
Reviews: storing them, replying to them, and asking for them (issue 16).

- `review_upsert` stores a review once per (platform, station, platform id); a repeat with the
  same content changes nothing, an edit on the platform updates it. A new review (or a changed
  rating or text with no reply decided yet) gets its reply prepared by a task, queued on commit.
- `review_reply_prepare` (the task's work) applies the ladder: 1-3 stars are L3 (no draft, the
  station's managers alerted in the admin and by e-mail); a 5-star review with no text is L1
  when the station allows it (drafted, approved and posted on its own); everything else is L2
  (a draft for a manager to approve, edit or reject). The model is asked outside any
  transaction; the draft is written under the review's row lock, once (one live response per
  review, a constraint).
- `review_respond` / `review_response_reject` / `review_response_edit`: a manager's decision,
  claimed under the review's lock (two clicks: one decision, the second is 409).
- `review_response_post`: Google gets the reply through reviews.google (claimed with a lease,
  the network call outside any transaction, retried on retryable errors); Yelp and Facebook
  have no reply API: the reply is marked "post manually"; our own form's reviews are answered
  on our site (posted at once).
- Review requests: `review_request_send` sends one per completed booking through the inbox
  (automated: consent, opt-out and quiet hours apply), under the key "review-request-<booking
  id>", with a fresh token whose SHA-256 alone is stored; `review_submit` takes a rating and
  text once per token. Every customer gets the same invitation to review publicly, whatever
  the rating (no review gating).
"""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from bookings.models import Booking, BookingStatus, Customer
from bookings.notifications import channel_for
from config import broker
from config.exceptions import ApiError, Conflict
from inbox import compliance, credentials, outbound
from inbox.ai import gateway
from inbox.models import Conversation, Level, Sender
from inbox.services import conversation_for
from reviews import google, replies, selectors
from reviews.models import (
    LIVE_RESPONSE_STATUSES,
    GoogleLocation,
    GoogleNotification,
    Platform,
    ReplyStatus,
    ResponseStatus,
    Review,
    ReviewRequest,
    ReviewResponse,
)
from stations import tenancy
from stations.models import Membership, Station

logger = logging.getLogger(__name__)

GOOGLE_SCOPE = "google-location"  # inbox.credentials' scope for a location's sealed credentials
GOOGLE_CREDENTIAL_FIELDS = ("client_id", "client_secret", "refresh_token", "access_token")
POST_LEASE_SECONDS = 300  # above two requests of GOOGLE_TIMEOUT_SECONDS (at most 120 s each)
POST_RETRY_SECONDS = 120  # a retryable refusal waits this long before the next try
MATCH_WINDOW = timedelta(days=60)  # a review names a customer whose event ended this recently
DECIDED_STATUSES = (
    ReplyStatus.APPROVED,
    ReplyStatus.POSTED,
    ReplyStatus.POST_MANUALLY,
    ReplyStatus.REPLIED,
)


# --- Google credentials (sealed with the inbox's helper) -----------------------------------


def google_location_set_credentials(*, location: GoogleLocation, values: dict[str, str]) -> None:
    """Store the location's own OAuth credentials (blank values dropped; {} clears them)."""
    unknown = set(values) - set(GOOGLE_CREDENTIAL_FIELDS)
    if unknown:
        raise ValueError(f"not a Google credential: {', '.join(sorted(unknown))}")
    kept = {name: value for name, value in values.items() if value}
    sealed = credentials.seal(location.pk, kept, scope=GOOGLE_SCOPE) if kept else None
    GoogleLocation.objects.filter(pk=location.pk).update(credentials_sealed=sealed)
    location.credentials_sealed = sealed


def google_credentials(location: GoogleLocation) -> dict[str, str]:
    return credentials.unseal(location.pk, location.credentials_sealed, scope=GOOGLE_SCOPE)


def google_token(location: GoogleLocation) -> str:
    """An access token for the location (may call Google: never inside a transaction)."""
    return google.access_token(google_credentials(location))


# --- Storing reviews ------------------------------------------------------------------------


@dataclass(frozen=True)
class Upserted:
    review: Review
    created: bool
    changed: bool


def review_upsert(
    *,
    station: Station,
    platform: str,
    external_id: str,
    rating: int,
    author: str = "",
    text: str = "",
    created_on_platform: datetime,
    updated_on_platform: datetime | None = None,
    platform_reply: str = "",
    booking: Booking | None = None,
    customer: Customer | None = None,
    prepare_reply: bool = True,
) -> Upserted:
    """Store or update one review (see the module's docstring). Idempotent on the platform's
    id: the same content again changes nothing and queues nothing."""
    if not 1 <= int(rating) <= 5:
        raise ValueError("a rating is 1 to 5 stars")
    values = {
        "rating": int(rating),
        "author": (author or "")[:200],
        "text": text or "",
        "created_on_platform": created_on_platform,
        "updated_on_platform": updated_on_platform,
    }
    with transaction.atomic():
        review = (
            Review.objects.select_for_update()
            .filter(station=station, platform=platform, external_id=external_id)
            .first()
        )
        created = review is None
        if created:
            review = _review_create(station, platform, external_id, values, booking, customer)
            if review is None:  # created meanwhile by another worker: update that one
                return review_upsert(
                    station=station,
                    platform=platform,
                    external_id=external_id,
                    rating=rating,
                    author=author,
                    text=text,
                    created_on_platform=created_on_platform,
                    updated_on_platform=updated_on_platform,
                    platform_reply=platform_reply,
                    booking=booking,
                    customer=customer,
                    prepare_reply=prepare_reply,
                )
            changed = True
        else:
            changed = _review_update(review, values)
        if platform_reply and review.platform_reply != platform_reply:
            _mark_replied_elsewhere(review, platform_reply)
            changed = True
        recent = review.created_on_platform >= timezone.now() - selectors.REPLY_WINDOW
        if prepare_reply and changed and recent and review.reply_status == ReplyStatus.WAITING:
            review_id = review.pk
            transaction.on_commit(lambda: enqueue_reply_prepare(review_id))
    return Upserted(review=review, created=created, changed=changed)


def _review_create(station, platform, external_id, values, booking, customer) -> Review | None:
    if customer is None and booking is None and platform != Platform.INTERNAL:
        booking = _matching_booking(station, values["author"], values["created_on_platform"])
    if booking is not None and customer is None:
        customer = booking.customer
    conversation = (
        Conversation.objects.filter(customer=customer).first() if customer is not None else None
    )
    try:
        with transaction.atomic():
            return Review.objects.create(
                station=station,
                platform=platform,
                external_id=external_id,
                booking=booking,
                customer=customer,
                conversation=conversation,
                **values,
            )
    except IntegrityError:
        return None


def _review_update(review: Review, values: dict) -> bool:
    rating_or_text = (review.rating, review.text) != (values["rating"], values["text"])
    changed = {k: v for k, v in values.items() if getattr(review, k) != v and v is not None}
    if not changed:
        return False
    for name, value in changed.items():
        setattr(review, name, value)
    fields = list(changed)
    if rating_or_text and review.reply_status in (ReplyStatus.NEEDS_PERSON, ReplyStatus.DRAFTED):
        # The review changed before anyone answered: its draft (or alert) is for the old text.
        ReviewResponse.objects.filter(review=review, status=ResponseStatus.DRAFT).update(
            status=ResponseStatus.REJECTED
        )
        review.reply_status = ReplyStatus.WAITING
        fields.append("reply_status")
    review.save(update_fields=[*fields, "updated_at"])
    return rating_or_text


def _mark_replied_elsewhere(review: Review, platform_reply: str) -> None:
    review.platform_reply = platform_reply
    fields = ["platform_reply", "updated_at"]
    if review.reply_status not in (ReplyStatus.POSTED, ReplyStatus.APPROVED):
        ReviewResponse.objects.filter(review=review, status=ResponseStatus.DRAFT).update(
            status=ResponseStatus.REJECTED
        )
        review.reply_status = ReplyStatus.REPLIED
        fields.append("reply_status")
    review.save(update_fields=fields)


def _matching_booking(station: Station, author: str, at: datetime) -> Booking | None:
    """The booking a platform review is about, when it is clear: exactly one customer of the
    station with the reviewer's name whose event was completed in the weeks before it."""
    name = " ".join((author or "").split())
    if len(name) < 3 or " " not in name:  # "John" or "J." could be anyone
        return None
    bookings = list(
        Booking.objects.filter(
            station=station,
            status=BookingStatus.COMPLETED,
            customer__name__iexact=name,
            customer__erased_at__isnull=True,
            ends_at__lte=at,
            ends_at__gte=at - MATCH_WINDOW,
        )
        .select_related("customer")
        .order_by("-ends_at")[:5]
    )
    if len({b.customer_id for b in bookings}) != 1:
        return None
    return bookings[0]


# --- Preparing the reply (the task's work) ----------------------------------------------------


def level_for(review: Review) -> str:
    if review.rating <= 3:
        return Level.L3
    if (
        review.rating == 5
        and not review.text.strip()
        and review.station.review_auto_reply_five_star
    ):
        return Level.L1
    return Level.L2


def review_reply_prepare(*, review_id: int, now: datetime | None = None) -> str:
    """Apply the ladder to a review waiting for a reply (safe to run twice: only a review
    still waiting, with no live response, is drafted or alerted). Returns what happened."""
    now = now or timezone.now()
    review = Review.objects.select_related("station").filter(pk=review_id).first()
    if review is None or review.reply_status != ReplyStatus.WAITING:
        return "not waiting"
    if review.responses.filter(status__in=LIVE_RESPONSE_STATUSES).exists():
        return "answered"
    level = level_for(review)
    if level == Level.L3:
        return _alert(review, now)
    try:
        text, interaction = replies.draft_reply(review)  # outside any transaction
    except gateway.AIUnavailable as exc:
        logger.info("review %s waits for a person: %s", review.pk, exc.outcome)
        return "waiting for a person"
    with transaction.atomic():
        locked = Review.objects.select_for_update().get(pk=review.pk)
        if locked.reply_status != ReplyStatus.WAITING:
            return "not waiting"
        auto = level == Level.L1
        response = ReviewResponse.objects.create(
            review=locked,
            text=text,
            drafted_text=text,
            level=level,
            status=ResponseStatus.APPROVED if auto else ResponseStatus.DRAFT,
            approved_at=now if auto else None,
            ai_interaction=interaction,
        )
        locked.reply_status = ReplyStatus.APPROVED if auto else ReplyStatus.DRAFTED
        locked.save(update_fields=["reply_status", "updated_at"])
        if auto:
            transaction.on_commit(lambda: enqueue_post(response.pk))
    return "auto-reply" if auto else "drafted"


def _alert(review: Review, now: datetime) -> str:
    """L3: no draft; the review waits for a person, flagged in the admin, and the managers get
    an e-mail (sent by a task after commit)."""
    with transaction.atomic():
        changed = Review.objects.filter(pk=review.pk, reply_status=ReplyStatus.WAITING).update(
            reply_status=ReplyStatus.NEEDS_PERSON, alerted_at=now, updated_at=now
        )
        if changed:
            transaction.on_commit(lambda: enqueue_alert_mail(review.pk))
    return "alerted" if changed else "not waiting"


def manager_emails(station_id: int) -> list[str]:
    users = get_user_model().objects.filter(
        is_active=True,
        pk__in=Membership.objects.filter(
            station_id=station_id, role__in=tenancy.MANAGE_ROLES
        ).values("user_id"),
    )
    return sorted({u.email for u in users if u.email})


def review_alert_mail(*, review_id: int) -> bool:
    """E-mail the station's managers and owners about a 1-3 star review, once (claimed with a
    conditional UPDATE; a failed send gives the claim back and raises, for the task's retry)."""
    now = timezone.now()
    claimed = Review.objects.filter(
        pk=review_id, alerted_at__isnull=False, alert_mailed_at__isnull=True
    ).update(alert_mailed_at=now)
    if not claimed:
        return False
    review = Review.objects.select_related("station").get(pk=review_id)
    recipients = manager_emails(review.station_id)
    if not recipients:
        return False
    try:
        send_mail(
            subject=f"{review.rating}-star {review.get_platform_display()} review for "
            f"{review.station.name}: a person should answer",
            message=(
                f"{review.author or 'Someone'} left {review.rating} of 5 stars on "
                f"{review.get_platform_display()}:\n\n{review.text or '(no text)'}\n\n"
                "No reply was drafted (1-3 stars are answered by a person). Reply from "
                f"the back office: Reviews → review {review.pk}."
            ),
            from_email=review.station.email or settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    except Exception:
        Review.objects.filter(pk=review_id).update(alert_mailed_at=None)
        raise
    return True


# --- A manager's decision -------------------------------------------------------------------


def may_respond(user, review: Review) -> bool:
    """DESIGN.md §3: managers and owners handle reviews; agents read them."""
    return tenancy.has_role(user, review.station_id, tenancy.MANAGE_ROLES)


def _check_actor(actor, review: Review) -> None:
    if not may_respond(actor, review):
        raise ApiError(
            "Managers and owners answer reviews.", code="permission_denied", status_code=403
        )


def _already(review: Review) -> Conflict:
    return Conflict(
        f"This review's reply is {review.get_reply_status_display().lower()}.",
        code="review_replied",
    )


def review_respond(*, review: Review, actor, text: str | None = None) -> ReviewResponse:
    """Approve the review's draft (with `text` in its place: recorded as edited when it differs
    from the AI's), or, with no draft, approve `text` as the reply; then post it (after commit).
    409 `review_replied` when a reply was approved or posted before."""
    _check_actor(actor, review)
    text = (text or "").replace("\x00", "").strip() or None
    now = timezone.now()
    with transaction.atomic():
        locked = Review.objects.select_for_update().get(pk=review.pk)
        if locked.reply_status in DECIDED_STATUSES:
            raise _already(locked)
        draft = locked.responses.filter(status=ResponseStatus.DRAFT).first()
        if draft is None and text is None:
            raise ApiError(
                "Write the reply first: this review has no draft.",
                code="validation_error",
                fields={"text": ["Write the reply: this review has no draft."]},
            )
        if draft is None:
            response = ReviewResponse.objects.create(
                review=locked,
                text=text,
                level=Level.L3 if locked.rating <= 3 else Level.L2,
                status=ResponseStatus.APPROVED,
                approver=actor,
                approved_at=now,
                edited=True,
            )
        else:
            response = draft
            response.text = text if text is not None else draft.text
            response.edited = response.edited or response.text != draft.drafted_text
            response.status = ResponseStatus.APPROVED
            response.approver, response.approved_at = actor, now
            response.save(update_fields=["text", "edited", "status", "approver", "approved_at"])
        locked.reply_status = ReplyStatus.APPROVED
        locked.save(update_fields=["reply_status", "updated_at"])
        response_id = response.pk
        transaction.on_commit(lambda: enqueue_post(response_id))
    return response


def review_response_edit(*, response: ReviewResponse, actor, text: str) -> ReviewResponse:
    """Change a draft's text (it stays a draft, recorded as edited)."""
    _check_actor(actor, response.review)
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise ApiError("A reply needs text.", code="validation_error", fields={"text": ["Empty."]})
    edited = response.edited or text != response.drafted_text
    changed = ReviewResponse.objects.filter(pk=response.pk, status=ResponseStatus.DRAFT).update(
        text=text, edited=edited
    )
    if not changed:
        raise _already(response.review)
    response.refresh_from_db()
    return response


def review_response_reject(*, review: Review, actor) -> Review:
    """No reply for this review: its draft (if any) is rejected. 409 once a reply is decided."""
    _check_actor(actor, review)
    with transaction.atomic():
        locked = Review.objects.select_for_update().get(pk=review.pk)
        if locked.reply_status in DECIDED_STATUSES or locked.reply_status == ReplyStatus.REJECTED:
            raise _already(locked)
        locked.responses.filter(status=ResponseStatus.DRAFT).update(
            status=ResponseStatus.REJECTED, approver=actor, approved_at=timezone.now()
        )
        locked.reply_status = ReplyStatus.REJECTED
        locked.save(update_fields=["reply_status", "updated_at"])
    return locked


# --- Posting ----------------------------------------------------------------------------------


class PostLater(Exception):
    """Google did not take the reply now (a retryable error); the task retries."""


def _finish(response: ReviewResponse, status: str, **fields) -> None:
    now = timezone.now()
    with transaction.atomic():
        ReviewResponse.objects.filter(pk=response.pk, status=ResponseStatus.APPROVED).update(
            status=status, post_claimed_until=None, **fields
        )
        review_fields = {"reply_status": status, "updated_at": now}
        if status == ResponseStatus.POSTED:
            review_fields["platform_reply"] = response.text
        Review.objects.filter(pk=response.review_id).update(**review_fields)


def review_response_post(*, response_id: int, now: datetime | None = None) -> str:
    """Post an approved reply where its review lives (see the module's docstring). Returns the
    outcome ("posted", "post_manually", "busy", "failed: ...", "not approved"). Raises
    PostLater for a retryable Google error, after recording it."""
    now = now or timezone.now()
    response = ReviewResponse.objects.select_related("review__station").filter(pk=response_id)
    response = response.first()
    if response is None or response.status != ResponseStatus.APPROVED:
        return "not approved"
    platform = response.review.platform
    if platform in (Platform.YELP, Platform.FACEBOOK):
        _finish(response, ResponseStatus.POST_MANUALLY)
        return ResponseStatus.POST_MANUALLY
    if platform == Platform.INTERNAL:
        _finish(response, ResponseStatus.POSTED, posted_at=now)
        return ResponseStatus.POSTED
    claimed = (
        ReviewResponse.objects.filter(pk=response.pk, status=ResponseStatus.APPROVED)
        .filter(Q(post_claimed_until__isnull=True) | Q(post_claimed_until__lt=now))
        .update(
            post_claimed_until=now + timedelta(seconds=POST_LEASE_SECONDS),
            post_attempts=F("post_attempts") + 1,
        )
    )
    if not claimed:
        return "busy"
    location = GoogleLocation.objects.filter(station_id=response.review.station_id).first()
    review_name = _google_review_name(response.review, location)
    try:
        if location is None or not location.credentials_sealed:
            raise google.GoogleError("the station has no Google credentials", permanent=True)
        google.put_reply(
            review_name=review_name, token=google_token(location), comment=response.text
        )
    except google.GoogleError as exc:
        if exc.permanent:
            # Recorded, released: a person sees the error and posts by hand (or fixes the
            # credentials and posts again from the admin).
            ReviewResponse.objects.filter(pk=response.pk).update(
                post_error=str(exc)[:2000], post_failed=True, post_claimed_until=None
            )
            return f"failed: {exc}"
        # Held back for a while (the claim's end is the backoff), then the task's retry or
        # the sweeper posts it again.
        ReviewResponse.objects.filter(pk=response.pk).update(
            post_error=str(exc)[:2000],
            post_claimed_until=timezone.now() + timedelta(seconds=POST_RETRY_SECONDS),
        )
        raise PostLater(str(exc)) from None
    _finish(
        response, ResponseStatus.POSTED, posted_at=timezone.now(), post_error="", post_failed=False
    )
    return ResponseStatus.POSTED


def _google_review_name(review: Review, location: GoogleLocation | None) -> str:
    if "/" in review.external_id:
        return review.external_id
    base = location.location_name if location is not None else ""
    return f"{base}/reviews/{review.external_id}"


# --- Google notifications and sync ----------------------------------------------------------


def google_notification_record(
    *, message_id: str, notification_type: str, location_name: str, review_name: str
) -> GoogleNotification | None:
    """Store a verified push once under Pub/Sub's messageId and enqueue its fetch on commit.
    None for a repeat (nothing changes)."""
    with transaction.atomic():
        row, created = GoogleNotification.objects.get_or_create(
            message_id=message_id,
            defaults={
                "notification_type": notification_type[:40],
                "location_name": location_name[:200],
                "review_name": review_name[:300],
                "received_at": timezone.now(),
            },
        )
        if not created:
            return None
        transaction.on_commit(lambda: enqueue_google_fetch(row.pk))
    return row


def google_notification_process(*, notification_id: int) -> str:
    """Fetch the review a notification names and store it (safe to run twice: a processed row
    is skipped, the upsert is idempotent). Raises google.GoogleError when retryable."""
    row = GoogleNotification.objects.filter(pk=notification_id, processed_at__isnull=True).first()
    if row is None:
        return "done before"
    GoogleNotification.objects.filter(pk=row.pk).update(attempts=row.attempts + 1)
    location = (
        GoogleLocation.objects.select_related("station")
        .filter(location_name=row.location_name, active=True)
        .first()
    )
    if location is None or not row.review_name.startswith(f"{row.location_name}/reviews/"):
        return _processed(row, "no location of ours")
    try:
        fetched = google.get_review(review_name=row.review_name, token=google_token(location))
    except google.GoogleError as exc:
        if exc.permanent:
            return _processed(row, f"failed: {exc}")
        GoogleNotification.objects.filter(pk=row.pk).update(outcome=f"retrying: {exc}"[:300])
        raise
    google_review_store(location=location, fetched=fetched)
    return _processed(row, "stored")


def _processed(row: GoogleNotification, outcome: str) -> str:
    GoogleNotification.objects.filter(pk=row.pk).update(
        processed_at=timezone.now(), outcome=outcome[:300]
    )
    return outcome


def google_review_store(*, location: GoogleLocation, fetched: google.GoogleReview) -> Upserted:
    return review_upsert(
        station=location.station,
        platform=Platform.GOOGLE,
        external_id=fetched.review_id,
        rating=fetched.rating,
        author=fetched.author,
        text=fetched.text,
        created_on_platform=fetched.created,
        updated_on_platform=fetched.updated,
        platform_reply=fetched.reply,
    )


@dataclass
class SyncResult:
    station: str
    pages: int = 0
    seen: int = 0
    created: int = 0
    error: str = ""


def google_location_sync(*, location: GoogleLocation, max_pages: int = 20) -> SyncResult:
    """Pull the location's reviews, newest first, page by page (each page stored before the
    next is asked for; no transaction spans a request)."""
    result = SyncResult(station=location.station.slug)
    try:
        token = google_token(location)
        page_token = ""
        while result.pages < max_pages:
            found, page_token = google.list_reviews(
                location_name=location.location_name, token=token, page_token=page_token
            )
            result.pages += 1
            for fetched in found:
                result.seen += 1
                result.created += google_review_store(location=location, fetched=fetched).created
            if not page_token:
                break
    except google.GoogleError as exc:
        result.error = str(exc)
    GoogleLocation.objects.filter(pk=location.pk).update(
        last_synced_at=timezone.now(), last_error=result.error[:2000]
    )
    return result


# --- Review requests ----------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def review_link(*, token: str) -> str:
    """Our review form on the booking site; the token rides in the fragment (never sent to a
    server by the browser, so it stays out of access logs)."""
    return f"{settings.BOOKING_SITE_URL}/review#token={token}"


def public_review_links(station: Station) -> list[dict]:
    """Where the customer can review the station publicly (Google's "write a review" page when
    the station's location has a place id). The same for every customer."""
    location = GoogleLocation.objects.filter(station=station, active=True).first()
    if location is None or not location.place_id:
        return []
    return [
        {
            "platform": Platform.GOOGLE,
            "url": f"https://search.google.com/local/writereview?placeid={location.place_id}",
        }
    ]


def request_text(booking: Booking, token: str) -> str:
    first = booking.customer.name.split(" ")[0] if booking.customer.name else "there"
    text = (
        f"Hi {first}, thank you for celebrating with {booking.station.name}! How was your "
        f"hibachi party? Tell us in a minute: {review_link(token=token)}"
    )
    return text


def review_request_send(*, booking_id: int, now: datetime | None = None) -> str:
    """Ask the booking's customer for a review, once (the request row is unique per booking;
    a second run finds it and sends nothing). The message goes through the inbox as an
    automated system message: compliance refuses it (recorded, not sent) for an opted-out
    number or a customer marked do not contact; the sender holds it through quiet hours. A
    customer with no consented channel gets nothing (the row says why)."""
    now = now or timezone.now()
    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("station", "customer")
            .filter(pk=booking_id)
            .first()
        )
        if booking is None or booking.status != BookingStatus.COMPLETED:
            return "not completed"
        if ReviewRequest.objects.filter(booking=booking).exists():
            return "sent before"
        token = secrets.token_urlsafe(32)
        request = ReviewRequest.objects.create(
            booking=booking, token_hash=hash_token(token), created_at=now
        )
        customer = booking.customer
        by = channel_for(customer)  # "sms", "email" or None (no consent, do not contact)
        channel = outbound.notification_channel(booking.station_id, by) if by else None
        if channel is None:
            reason = _no_channel_reason(customer, by)
            ReviewRequest.objects.filter(pk=request.pk).update(skipped_reason=reason)
            return f"skipped: {reason}"
        conversation = conversation_for(customer)
        refused = compliance.send_refusal(
            customer=customer, channel=channel, conversation_id=conversation.pk, automated=True
        )
        message = outbound.message_queue(
            conversation=conversation,
            channel=channel,
            body=request_text(booking, token),
            subject=f"How was your party with {booking.station.name}?" if by == "email" else "",
            sender=Sender.SYSTEM,
            automated=True,
            key=f"review-request-{booking.pk}",
            refused=refused,
        )
        ReviewRequest.objects.filter(pk=request.pk).update(
            channel=channel.kind,
            message=message,
            sent_at=None if refused else now,
            skipped_reason=refused[:300],
        )
    return f"skipped: {refused}" if refused else "sent"


def _no_channel_reason(customer: Customer, by: str | None) -> str:
    if customer.erased_at:
        return "customer erased"
    if customer.do_not_contact:
        return "customer is marked do not contact"
    if by is None:
        return "no consent to SMS or e-mail"
    return f"the station has no {by} channel"


@dataclass(frozen=True)
class Submitted:
    review: Review
    invitation: dict


def invitation(station: Station) -> dict:
    """What every customer is shown after submitting, whatever they rated (no review gating:
    the same words and the same public links for 1 star as for 5)."""
    return {
        "text": f"Thank you for your review! You are welcome to share your experience with "
        f"{station.name} publicly too.",
        "links": public_review_links(station),
    }


def review_submit(*, token: str, rating: int, text: str, now: datetime | None = None) -> Submitted:
    """A customer's rating and text for their review request: once per token (the request is
    claimed with a conditional UPDATE; a second use is 409 `review_submitted`). 404 for a
    token that is no request's."""
    now = now or timezone.now()
    digest = hash_token(token)
    with transaction.atomic():
        request = (
            ReviewRequest.objects.select_for_update()
            .select_related("booking__station", "booking__customer")
            .filter(token_hash=digest)
            .first()
        )
        if request is None or not hmac.compare_digest(request.token_hash, digest):
            raise ApiError("No such review request.", code="not_found", status_code=404)
        if request.completed_at is not None:
            raise Conflict("This review was submitted already.", code="review_submitted")
        booking = request.booking
        upserted = review_upsert(
            station=booking.station,
            platform=Platform.INTERNAL,
            external_id=f"request-{request.pk}",
            rating=rating,
            author=booking.customer.name,
            text=text,
            created_on_platform=now,
            booking=booking,
            customer=booking.customer,
        )
        ReviewRequest.objects.filter(pk=request.pk).update(completed_at=now, review=upserted.review)
    return Submitted(review=upserted.review, invitation=invitation(booking.station))


# --- Enqueueing (after commit; a broker that is down loses nothing: the sweepers) ----------


def enqueue_reply_prepare(review_id: int) -> None:
    from reviews.tasks import prepare_review_reply

    broker.enqueue(prepare_review_reply, review_id)


def enqueue_post(response_id: int) -> None:
    from reviews.tasks import post_review_reply

    broker.enqueue(post_review_reply, response_id)


def enqueue_alert_mail(review_id: int) -> None:
    from reviews.tasks import alert_review_managers

    broker.enqueue(alert_review_managers, review_id)


def enqueue_google_fetch(notification_id: int) -> None:
    from reviews.tasks import fetch_google_review

    broker.enqueue(fetch_google_review, notification_id)
