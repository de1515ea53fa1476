"""
Booking reminders: 72 hours and 24 hours before the event, in the station's local time, never
inside the station's quiet hours, through the customer's consented channel (SMS when opted in,
else e-mail). Until the inbox lands, SMS goes to the log (without the number) and e-mail through
Django's e-mail backend.

Once only: a reminder is claimed by inserting its (booking, kind) row, unique in the database,
before it is sent; a second run finds the claim and skips. If delivery fails the claim is
released so the next run tries again.
"""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.models import Booking, BookingStatus, Reminder, ReminderKind
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


def _deliver(booking: Booking, channel: str) -> None:
    notify_customer(
        booking=booking,
        subject=f"Your hibachi party is coming up ({booking.reference})",
        text=reminder_text(booking),
        channel=channel,
    )


def _claim(booking: Booking, kind: str, channel: str) -> Reminder | None:
    try:
        with transaction.atomic():
            return Reminder.objects.create(booking=booking, kind=kind, channel=channel)
    except IntegrityError:
        return None


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Send every reminder due now; returns how many went out."""
    now = now or timezone.now()
    upcoming = Booking.objects.filter(
        status=BookingStatus.CONFIRMED,
        starts_at__gt=now,
        starts_at__lte=now + LEAD_TIMES[ReminderKind.DAYS_3],
    ).select_related("station", "customer")
    sent = 0
    for booking in upcoming:
        kind = due_kind(booking, now)
        channel = channel_for(booking.customer)
        if kind is None or channel is None or in_quiet_hours(booking.station, now):
            continue
        claim = _claim(booking, kind, channel)
        if claim is None:
            continue
        try:
            _deliver(booking, channel)
        except Exception:
            logger.exception("reminder for booking %s failed; will retry", booking.reference)
            claim.delete()
            continue
        sent += 1
    return sent
