"""Reviews' background work. Thin: each task takes ids, calls a service, is safe to run twice,
and has soft and hard time limits (a stalled Google never holds a worker)."""

from celery import shared_task

from reviews import google, selectors, services

LIMITS = {"soft_time_limit": 60, "time_limit": 90}
RETRIES = {
    "acks_late": True,
    "ignore_result": True,
    "retry_backoff": 10,
    "retry_backoff_max": 900,
    "max_retries": 8,
}


@shared_task(autoretry_for=(google.GoogleError,), **RETRIES, **LIMITS)
def fetch_google_review(notification_id: int) -> str:
    """Fetch and store the review a Google notification names (retried while Google's error
    is retryable; a permanent one is recorded on the row)."""
    return services.google_notification_process(notification_id=notification_id)


@shared_task(**RETRIES, **LIMITS)
def prepare_review_reply(review_id: int) -> str:
    """Draft (L2), auto-reply (L1) or alert (L3) for a review waiting for its reply."""
    return services.review_reply_prepare(review_id=review_id)


@shared_task(bind=True, **RETRIES, **LIMITS)
def post_review_reply(self, response_id: int) -> str:
    """Post an approved reply (Google), or mark it to post by hand (Yelp, Facebook)."""
    try:
        return services.review_response_post(response_id=response_id)
    except services.PostLater as exc:
        if self.request.is_eager:
            return "retry later"  # the sweeper posts it again
        raise self.retry(exc=exc, countdown=60 * 2 ** min(self.request.retries, 4)) from None


@shared_task(autoretry_for=(Exception,), **RETRIES, **LIMITS)
def alert_review_managers(review_id: int) -> bool:
    """E-mail the station's managers about a 1-3 star review (once)."""
    return services.review_alert_mail(review_id=review_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=240, time_limit=300)
def send_review_requests() -> int:
    """Ask for a review after each completed event whose delay has passed (beat: every 15
    minutes); once per booking, whoever runs it."""
    sent = 0
    for booking_id in selectors.bookings_due_for_request():
        services.review_request_send(booking_id=booking_id)
        sent += 1
    return sent


@shared_task(ignore_result=True, **LIMITS)
def sweep_google_notifications() -> int:
    """Enqueue again the Google notifications whose fetch was lost (beat: every minute)."""
    waiting = selectors.google_notifications_waiting()
    for notification_id in waiting:
        services.enqueue_google_fetch(notification_id)
    return len(waiting)


@shared_task(ignore_result=True, **LIMITS)
def sweep_review_replies() -> int:
    """Enqueue again the reviews whose reply was never prepared and the approved replies not
    posted (beat: every 5 minutes)."""
    waiting = selectors.reviews_waiting()
    for review_id in waiting:
        services.enqueue_reply_prepare(review_id)
    to_post = selectors.responses_to_post()
    for response_id in to_post:
        services.enqueue_post(response_id)
    return len(waiting) + len(to_post)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=600, time_limit=660)
def sync_google_reviews() -> int:
    """Pull every active Google location's recent reviews (beat: every 6 hours; the push
    notifications bring them sooner)."""
    from reviews.models import GoogleLocation

    locations = GoogleLocation.objects.filter(active=True, credentials_sealed__isnull=False)
    return sum(
        services.google_location_sync(location=location, max_pages=2).seen
        for location in locations.select_related("station")
    )
