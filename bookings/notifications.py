"""
Messages to a customer about their booking: a transactional outbox.

- `notify_customer` writes a `Notification` row in the caller's transaction, once per `key`
  (INSERT ... ON CONFLICT DO NOTHING: a retried caller queues nothing new), and enqueues
  `bookings.tasks.send_notification` on the `notifications` queue when that transaction
  commits. Nothing is sent inside the caller's transaction, and a stalled mail relay holds up
  only the notifications queue, never the work that decided to send.
- `notification_send` claims the row with a conditional UPDATE (pending or failed, or sending
  with an expired lease → sending with a new lease), decides the channel from the customer's
  consent as it is then (SMS when opted in with a number, else e-mail; nothing for "do not
  contact", erased or unconsenting customers: the row is dropped with the reason), sends, and
  records `sent` only after the provider accepted. A worker killed mid-send leaves a lease that
  runs out; the sweeper (`notifications_stuck`) then has it sent again. Delivery is therefore
  at least once: every e-mail carries a Message-ID derived from the key, so a resend after a
  lost acknowledgement can be recognised as the same message by the provider and the inbox.
- A reminder is rendered when it is sent, from the booking re-read after the claim; it is
  dropped when the booking is no longer confirmed, has started, or now starts at another time
  than the one the reminder announces (a reschedule: the new start's reminders have keys of
  their own and are due again).

Delivery goes through the inbox (DESIGN.md §4, issue 13 point 7): `bookings.tasks` passes
`inbox.outbound.notification_deliver` as `deliver` (bookings' domain code does not import the
inbox), which puts the message in the customer's thread on the station's SMS or e-mail channel,
where the inbox's sender applies opt-out, consent and quiet hours and sends it exactly once
(its key is derived from this row's). A station without such a channel keeps the built-in
path: e-mail through Django's e-mail backend, SMS to the log (without the number).
"""

import hashlib
import logging
import re
import smtplib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from bookings import sql
from bookings.models import (
    Booking,
    BookingStatus,
    Customer,
    Notification,
    NotificationStatus,
)
from config import broker

logger = logging.getLogger(__name__)

QUEUE = "notifications"  # its own queue: a stalled relay never holds up other work

# Overridable in settings (read with getattr so the defaults need no settings entry).
LEASE_SECONDS = 300  # NOTIFICATION_LEASE_SECONDS: longer than any one send may take
EMAIL_TIMEOUT_SECONDS = 30  # NOTIFICATION_EMAIL_TIMEOUT, when EMAIL_TIMEOUT is not set
MAX_ATTEMPTS = 8  # NOTIFICATION_MAX_ATTEMPTS
RETRY_BASE_SECONDS = 30  # backoff: 30 s, 1 min, 2 min, ... at most an hour
RETRY_MAX_SECONDS = 3600
PENDING_GRACE_SECONDS = 120  # NOTIFICATION_PENDING_GRACE_SECONDS: a pending row this old lost
# its task (the broker was down, or the worker died between the commit and the publish)


def _setting(name: str, default):
    return getattr(settings, name, default)


def lease_seconds() -> float:
    return float(_setting("NOTIFICATION_LEASE_SECONDS", LEASE_SECONDS))


def max_attempts() -> int:
    return int(_setting("NOTIFICATION_MAX_ATTEMPTS", MAX_ATTEMPTS))


def retry_delay(attempts: int) -> int:
    """Seconds before attempt `attempts + 1`, doubling from RETRY_BASE_SECONDS."""
    return min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


# Delivery by another app, given by the caller (bookings.tasks passes the inbox's): called with
# the claimed, rendered row and "sms" or "email"; returns "" when it took the message, the reason
# when it refuses it (the row is dropped with it), or None when it has no way to send it (the
# built-in path sends it).
Deliver = Callable[["Notification", str], str | None]


class DeliveryFailed(Exception):
    """The provider did not accept the message; recorded on the row, worth retrying."""


# --- Consent ---------------------------------------------------------------------------------


def channel_for(customer: Customer) -> str | None:
    if customer.do_not_contact or customer.erased_at:
        return None
    if customer.sms_opt_in and customer.phone:
        return "sms"
    if customer.email_opt_in and customer.email:
        return "email"
    return None


def _no_channel_reason(customer: Customer) -> str:
    if customer.erased_at:
        return "customer erased"
    if customer.do_not_contact:
        return "customer is marked do not contact"
    return "no consent to SMS or e-mail (or no number or address for it)"


# --- Queueing --------------------------------------------------------------------------------


def notify_customer(
    *,
    booking: Booking,
    subject: str,
    text: str,
    channel: str | None = None,
    key: str | None = None,
    reminder_kind: str = "",
    event_starts_at: datetime | None = None,
) -> int | None:
    """Queue one message to the booking's customer, sent after the caller's transaction
    commits. `key` makes it idempotent (derive it from our ids: "deposit-paid-<booking id>");
    without one, every call is a new message. `channel` asks for "sms" or "email" (used when
    the customer still consents to it); by default the customer's consented channel at
    sending. Returns the new row's id, or None when that key was queued before."""
    key = key or f"message-{booking.pk}-{uuid.uuid4().hex}"
    params = {
        "booking": booking.pk,
        "key": key,
        "channel": channel or "",
        "subject": subject[:300],
        "text": text,
        "status": NotificationStatus.PENDING,
        "reminder_kind": reminder_kind,
        "event_starts_at": event_starts_at,
        "created_at": timezone.now(),
        **sql.NEW_NOTIFICATION.defaults(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.NOTIFICATION_INSERT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    notification_id = row[0]
    transaction.on_commit(lambda: enqueue(notification_id))
    return notification_id


def enqueue(notification_id: int) -> None:
    """Hand one row to the notifications queue. A broker that is down loses nothing: the row
    stays pending and the sweeper enqueues it again."""
    from bookings.tasks import send_notification

    try:
        sent = broker.enqueue(send_notification, notification_id, queue=QUEUE)
    except Exception:  # run in place (eager): the row records the failure, the sweeper retries
        logger.warning(
            "notification %s not enqueued; the sweeper will", notification_id, exc_info=True
        )
    else:
        if not sent:
            logger.warning("notification %s not enqueued; the sweeper will", notification_id)


# --- Sending ---------------------------------------------------------------------------------


def _claim(notification_id: int, now: datetime) -> int | None:
    """Take the row for sending with one conditional UPDATE: pending or failed, or sending
    under a lease that ran out. Returns the attempt number now held, or None when another
    worker holds it or it is finished."""
    claimable = Q(status__in=[NotificationStatus.PENDING, NotificationStatus.FAILED]) | Q(
        status=NotificationStatus.SENDING, claimed_until__lt=now
    )
    claimed = Notification.objects.filter(claimable, pk=notification_id).update(
        status=NotificationStatus.SENDING,
        claimed_until=now + timedelta(seconds=lease_seconds()),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    # Ours until the lease runs out: nobody else changes the count before then.
    return Notification.objects.filter(pk=notification_id).values_list("attempts", flat=True)[0]


def notification_send(
    *, notification_id: int, now: datetime | None = None, deliver: Deliver | None = None
) -> str:
    """Send one queued message, at most by one worker at a time (the claim's lease), by
    `deliver` when given (the inbox) else by the built-in path. Returns the row's status
    afterwards ("busy" when it is not ours to send now). Raises DeliveryFailed, after recording
    it, when the provider (or the inbox) did not take the message."""
    now = now or timezone.now()
    attempt = _claim(notification_id, now)
    if attempt is None:
        status = Notification.objects.filter(pk=notification_id).values_list("status", flat=True)
        status = status.first()
        return "busy" if status == NotificationStatus.SENDING else status or "gone"
    row = Notification.objects.select_related("booking__station", "booking__customer").get(
        pk=notification_id
    )
    reason, channel = _decide(row, now)
    if reason:
        _finish(row, status=NotificationStatus.DROPPED, last_error=reason, channel=channel or "")
        logger.info("notification %s dropped: %s", row.key, reason)
        return NotificationStatus.DROPPED
    if row.reminder_kind:
        from bookings.reminders import reminder_subject, reminder_text

        row.subject, row.text = reminder_subject(row.booking), reminder_text(row.booking)
        Notification.objects.filter(pk=row.pk).update(subject=row.subject, text=row.text)
    try:
        refusal = deliver(row, channel) if deliver is not None else None
        if refusal is None:
            _deliver(row, channel)
    except smtplib.SMTPRecipientsRefused:
        reason = "the mail server refused the customer's address"
        _finish(row, status=NotificationStatus.DROPPED, last_error=reason, channel=channel)
        return NotificationStatus.DROPPED
    except Exception as exc:
        _record_failure(row, attempt, exc)
        # Not chained: the provider's error may name the recipient; the row has it, redacted.
        raise DeliveryFailed(f"notification {row.key}: {type(exc).__name__}") from None
    if refusal:
        _finish(row, status=NotificationStatus.DROPPED, last_error=refusal, channel=channel)
        logger.info("notification %s dropped: %s", row.key, refusal)
        return NotificationStatus.DROPPED
    _finish(row, status=NotificationStatus.SENT, channel=channel, sent_at=timezone.now())
    return NotificationStatus.SENT


def _decide(row: Notification, now: datetime) -> tuple[str, str | None]:
    """(why it must not be sent, or ""; the channel to send it by)."""
    booking = row.booking
    if row.reminder_kind:
        if booking.status != BookingStatus.CONFIRMED:
            return f"booking is {booking.status}", None
        if booking.starts_at != row.event_starts_at:
            return "rescheduled: the booking starts at another time now", None
        if now >= booking.starts_at:
            return "the event has started", None
    customer = booking.customer
    channel = channel_for(customer)
    if channel is None:
        return _no_channel_reason(customer), None
    if row.channel == "email" and customer.email_opt_in and customer.email:
        channel = "email"
    return "", channel


def _finish(row: Notification, *, status: str, **fields) -> None:
    Notification.objects.filter(pk=row.pk).exclude(status=NotificationStatus.SENT).update(
        status=status, claimed_until=None, **fields
    )


def _record_failure(row: Notification, attempt: int, exc: Exception) -> None:
    """Back to failed with the error, not retried before the backoff has passed; only while
    the claim is still this attempt's (a later attempt may have taken over)."""
    error = f"{type(exc).__name__}: {exc}"
    customer = row.booking.customer
    for contact in (customer.email, customer.phone):
        if contact:
            error = error.replace(contact, "<customer>")  # no contact data in logs or rows
    logger.warning("notification %s failed (attempt %s): %s", row.key, attempt, error)
    Notification.objects.filter(
        pk=row.pk, status=NotificationStatus.SENDING, attempts=attempt
    ).update(
        status=NotificationStatus.FAILED,
        claimed_until=timezone.now() + timedelta(seconds=retry_delay(attempt)),
        last_error=error[:2000],
    )


def message_id(key: str) -> str:
    """A Message-ID that is the same for every send of one notification (RFC 5322 dot-atom:
    the key's readable part plus a digest, so keys differing only in punctuation differ)."""
    readable = re.sub(r"[^A-Za-z0-9-]+", ".", key).strip(".")[:120]
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    domain = _setting("NOTIFICATION_MESSAGE_ID_DOMAIN", "") or "notifications.hibachi.invalid"
    return f"<{readable}.{digest}@{domain}>"


def _deliver(row: Notification, channel: str) -> None:
    booking = row.booking
    if channel == "email":
        timeout = _setting("EMAIL_TIMEOUT", None) or _setting(
            "NOTIFICATION_EMAIL_TIMEOUT", EMAIL_TIMEOUT_SECONDS
        )
        message = EmailMessage(
            subject=row.subject,
            body=row.text,
            from_email=booking.station.email or settings.DEFAULT_FROM_EMAIL,
            to=[booking.customer.email],
            headers={"Message-ID": message_id(row.key)},
            connection=get_connection(timeout=timeout),
        )
        message.send()
    elif channel == "sms":
        logger.info(
            "SMS for booking %s (customer %s): %s", booking.reference, booking.customer_id, row.text
        )


# --- Sweeping --------------------------------------------------------------------------------


def notifications_stuck(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Rows to enqueue again: pending for a while (their task was lost), sending under a lease
    that ran out (the worker died), failed whose backoff has passed; not those out of
    attempts."""
    now = now or timezone.now()
    grace = now - timedelta(
        seconds=float(_setting("NOTIFICATION_PENDING_GRACE_SECONDS", PENDING_GRACE_SECONDS))
    )
    stuck = Q(status=NotificationStatus.PENDING, created_at__lt=grace) | Q(
        status__in=[NotificationStatus.SENDING, NotificationStatus.FAILED],
        claimed_until__lt=now,
        attempts__lt=max_attempts(),
    )
    return list(
        Notification.objects.filter(stuck)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
