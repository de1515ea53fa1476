"""Every network call has a timeout: a mail relay or Stripe that accepts the connection and
then never answers makes the call fail within the configured seconds, instead of holding the
caller (a web request, a Celery worker) for ever."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import stripe
from django.core.mail import get_connection

from config.tests.stall import StallingServer
from payments import stripe_client

ROOT = Path(__file__).resolve().parents[2]

SEND_MAIL_TIMED = (
    "import time, django; django.setup()\n"
    "from django.core.mail import send_mail\n"
    "start = time.monotonic()\n"
    "try:\n"
    "    send_mail('Hi', 'Body', 'from@example.com', ['to@example.com'])\n"
    "except OSError as exc:\n"
    "    print('raised', type(exc).__name__, round(time.monotonic() - start, 2))\n"
    "else:\n"
    "    print('sent')\n"
)


def test_the_smtp_backend_gets_email_timeout_by_default(settings):
    assert settings.EMAIL_TIMEOUT == 10
    assert get_connection("django.core.mail.backends.smtp.EmailBackend").timeout == 10


def test_send_mail_to_a_relay_that_never_greets_fails_within_email_timeout():
    """As deployed: EMAIL_URL and EMAIL_TIMEOUT from the environment, a fresh interpreter."""
    with StallingServer() as relay:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "EMAIL_URL": f"smtp://127.0.0.1:{relay.port}",
            "EMAIL_TIMEOUT": "1",
        }
        result = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", SEND_MAIL_TIMED],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert relay.accepted == 1
    assert result.returncode == 0, result.stderr
    outcome, error, seconds = result.stdout.split()
    # smtplib reports the read timeout as "Connection unexpectedly closed: timed out"
    assert (outcome, error) == ("raised", "SMTPServerDisconnected")
    assert 0.9 <= float(seconds) < 3


def _within(seconds: float, fn):
    """Run fn in a thread; (finished in time, what it raised)."""
    raised = []

    def run():
        try:
            fn()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), raised


def test_a_stalled_stripe_times_out_and_retries_a_bounded_number_of_times(settings, monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, n: 0)
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    with StallingServer() as api:
        settings.STRIPE_API_BASE = api.url
        start = time.monotonic()
        finished, raised = _within(
            10,
            lambda: stripe_client.create_refund(
                payment_intent_id="pi_1", amount_cents=100, idempotency_key="refund-1"
            ),
        )
        elapsed = time.monotonic() - start
        assert finished, "the Stripe call did not give up"
        assert api.accepted == 3  # the first try and two retries, then no more
    assert len(raised) == 1
    assert isinstance(raised[0], stripe_client.StripeUnavailable)
    assert elapsed < 4


def test_the_stripe_client_has_the_configured_bounds(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    client = stripe_client._client()
    http = client._requestor._client
    assert http._timeout == settings.STRIPE_TIMEOUT_SECONDS == 20
    assert client._requestor._options.max_network_retries == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [("CELERY_TASK_SOFT_TIME_LIMIT", 120), ("CELERY_TASK_TIME_LIMIT", 150)],
)
def test_tasks_have_time_limits_by_default(settings, name, value):
    from config.celery import app as celery_app

    assert getattr(settings, name) == value
    assert celery_app.conf[name.removeprefix("CELERY_").lower()] == value
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > value
