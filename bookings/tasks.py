"""Periodic bookings work. Thin: each task calls a service and is safe to run twice."""

from celery import shared_task

from bookings import reminders, services


@shared_task(ignore_result=True, acks_late=True)
def expire_holds() -> int:
    """Expire unpaid holds past their time, freeing their chefs (beat: every minute)."""
    return services.bookings_expire_holds()


@shared_task(ignore_result=True, acks_late=True)
def send_reminders() -> int:
    """Send the reminders that are due (beat: every 15 minutes)."""
    return reminders.reminders_send_due()
