"""Settings of a Celery worker process started by a test (bookings/tests/live.py): the
project's settings, with e-mail through the test's SMTP relay on loopback and the outbox's
lease as short as the test needs."""

import os

from config.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ["TEST_SMTP_PORT"])
EMAIL_HOST_USER = EMAIL_HOST_PASSWORD = ""
EMAIL_USE_TLS = EMAIL_USE_SSL = False
EMAIL_TIMEOUT = float(os.environ.get("TEST_EMAIL_TIMEOUT", "5"))
NOTIFICATION_LEASE_SECONDS = float(os.environ.get("TEST_NOTIFICATION_LEASE_SECONDS", "300"))
CELERY_TASK_ALWAYS_EAGER = False
