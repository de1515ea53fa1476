"""Bookings background work. Thin: each task calls a service and is safe to run twice."""

from celery import shared_task

from bookings import notifications, reminders, services


@shared_task(ignore_result=True, acks_late=True)
def expire_holds() -> int:
    """Expire unpaid holds past their time, freeing their chefs (beat: every minute)."""
    return services.bookings_expire_holds()


@shared_task(ignore_result=True, acks_late=True)
def send_reminders() -> int:
    """Queue the reminders that are due (beat: every 15 minutes); the notifications queue
    sends them."""
    return reminders.reminders_send_due()


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=notifications.MAX_ATTEMPTS,
)
def send_notification(self, notification_id: int) -> str:
    """Send one outbox row (bookings.notifications.notification_send: claimed with a lease,
    `sent` recorded after the provider accepted; a row already sent, dropped or held by
    another worker is left alone). Published to the `notifications` queue (always through
    bookings.notifications.enqueue), so a stalled mail relay holds up only messages.
    Delivery is the inbox's (inbox.outbound.notification_deliver: a message in the customer's
    thread, sent by the inbox under its rules), or the built-in path for a station without an
    SMS or e-mail channel.
    A failure is retried with backoff; when eager (tests, development without a broker) the
    sweeper retries it instead of a loop in place."""
    from inbox.outbound import notification_deliver  # edge code: the inbox delivers

    try:
        return notifications.notification_send(
            notification_id=notification_id, deliver=notification_deliver
        )
    except notifications.DeliveryFailed as exc:
        if self.request.is_eager:
            return "failed"
        countdown = notifications.retry_delay(self.request.retries + 1)
        raise self.retry(exc=exc, countdown=countdown, queue=notifications.QUEUE) from exc


@shared_task(ignore_result=True)
def sweep_notifications() -> int:
    """Enqueue again the messages whose task was lost, whose worker died mid-send (lease run
    out) or whose retry is due (beat: every minute)."""
    stuck = notifications.notifications_stuck()
    for notification_id in stuck:
        notifications.enqueue(notification_id)
    return len(stuck)
