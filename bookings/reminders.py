"""
Booking reminders: 72 hours and 24 hours before the event, in the station's local time, never
inside the station's quiet hours, through the customer's consented channel (SMS when opted in,
else e-mail). Sent through the inbox (bookings.notifications): a message in the customer's
thread on the station's SMS or e-mail channel, which the inbox holds in quiet hours and never
sends to a number that texted STOP.

At least once, never twice: a due reminder is queued as a Notification (the outbox in
bookings.notifications) under the key `reminder-<booking id>-<kind>-<start, ISO UTC>`, so a
second run queues nothing new, and the notifications queue sends it, recording `sent` only
after the provider accepted (a worker that dies mid-send leaves a lease that runs out, and the
sweeper has it sent again). The text is rendered when it is sent, from the booking as it is
then; a booking rescheduled meanwhile gets the old start's reminder dropped, and its new start
has keys of its own, so the new date's reminders are due again.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from bookings.models import Booking, BookingStatus, ReminderKind
from bookings.notifications import channel_for, notify_customer
from bookings.scheduling import station_tz
from stations.models import Station

logger = logging.getLogger(__name__)

LEAD_TIMES = {ReminderKind.DAYS_3: timedelta(hours=72), ReminderKind.DAY_1: timedelta(hours=24)}


def in_quiet_hours(station: Station, now: datetime) -> bool:
    local = now.astimezone(station_tz(station)).time()
    start, end = station.quiet_hours_start, station.quiet_hours_end
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # quiet hours across midnight, e.g. 21:00-09:00


def due_kind(booking: Booking, now: datetime) -> str | None:
    """The reminder due now: the 24-hour one inside a day, else the 72-hour one inside 3 days."""
    left = booking.starts_at - now
    if left <= timedelta(0):
        return None
    if left <= LEAD_TIMES[ReminderKind.DAY_1]:
        return ReminderKind.DAY_1
    if left <= LEAD_TIMES[ReminderKind.DAYS_3]:
        return ReminderKind.DAYS_3
    return None


def reminder_text(booking: Booking) -> str:
    local = booking.starts_at.astimezone(station_tz(booking.station))
    return (
        f"Reminder from {booking.station.name} hibachi: your party of {booking.guests} is on "
        f"{local:%A, %B %-d} at {local:%-I:%M %p}. Booking {booking.reference}. "
        f"Questions? Call {booking.station.phone or 'us'}."
    )


def reminder_subject(booking: Booking) -> str:
    return f"Your hibachi party is coming up ({booking.reference})"


def reminder_key(booking: Booking, kind: str) -> str:
    """One reminder of one kind about one start of the booking (a new start: a new key)."""
    return f"reminder-{booking.pk}-{kind}-{booking.starts_at.astimezone(UTC).isoformat()}"


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Queue every reminder due now for the notifications queue; returns how many were newly
    queued (a reminder queued before is not queued again)."""
    now = now or timezone.now()
    upcoming = Booking.objects.filter(
        status=BookingStatus.CONFIRMED,
        starts_at__gt=now,
        starts_at__lte=now + LEAD_TIMES[ReminderKind.DAYS_3],
    ).select_related("station", "customer")
    queued = 0
    for booking in upcoming:
        kind = due_kind(booking, now)
        if kind is None or in_quiet_hours(booking.station, now):
            continue
        if channel_for(booking.customer) is None:
            continue  # nobody to reach; nothing is queued
        notification_id = notify_customer(
            booking=booking,
            subject=reminder_subject(booking),
            text=reminder_text(booking),  # a preview: rendered again when it is sent
            key=reminder_key(booking, kind),
            reminder_kind=kind,
            event_starts_at=booking.starts_at,
        )
        queued += notification_id is not None
    return queued
