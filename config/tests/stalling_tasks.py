"""Tasks that only the worker tests load (`celery worker -I config.tests.stalling_tasks`):
calls that block on a socket that never answers, as a stalled mail relay does."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.core.mail import send_mail


def _send() -> None:
    send_mail("Your booking", "See you soon", "from@example.com", ["to@example.com"])


@shared_task(ignore_result=True)
def send_mail_to_the_relay() -> None:
    """Blocks until the soft time limit interrupts it."""
    _send()


@shared_task(ignore_result=True)
def send_mail_ignoring_interruptions() -> None:
    """Like code with an `except Exception: retry` loop: only the hard limit ends it."""
    while True:
        try:
            _send()
        except SoftTimeLimitExceeded:
            continue
