"""Start-up settings from the environment: refuse to start without secrets, secure by default.

Each case starts a fresh interpreter, as a deployment would, because settings are read once.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_SECURITY = (
    "import django; from django.conf import settings; django.setup(); "
    "print(settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
    "settings.SECURE_HSTS_SECONDS)"
)
SETUP_ONLY = "import django; from django.conf import settings; django.setup()"


def start(code: str = SETUP_ONLY, **changes: str | None) -> subprocess.CompletedProcess:
    """Run `code` in a new interpreter with this process's environment plus `changes`
    (None removes a variable)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refuses(result: subprocess.CompletedProcess, variable: str) -> None:
    assert result.returncode != 0
    assert f"Configuration error: {variable}" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_secret_key_with_debug_off_refuses_to_start():
    assert_refuses(start(DEBUG=None, SECRET_KEY=""), "SECRET_KEY")


@pytest.mark.parametrize("value", [None, ""])
def test_missing_database_url_refuses_to_start(value):
    assert_refuses(start(DATABASE_URL=value), "DATABASE_URL")


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "sqlite:///db.sqlite3",
    ],
)
def test_bad_database_url_refuses_to_start(url):
    assert_refuses(start(DATABASE_URL=url), "DATABASE_URL")


def test_missing_redis_with_debug_off_refuses_to_start():
    assert_refuses(start(DEBUG=None, REDIS_URL="", CELERY_BROKER_URL=""), "REDIS_URL")


def test_debug_off_is_secure():
    result = start(PRINT_SECURITY, DEBUG="false", SECRET_KEY="s3cret-for-this-test")
    assert result.returncode == 0, result.stderr
    debug, session_secure, csrf_secure, hsts = result.stdout.split()
    assert (debug, session_secure, csrf_secure) == ("False", "True", "True")
    assert int(hsts) > 0


def test_debug_is_off_unless_set():
    result = start(PRINT_SECURITY, DEBUG=None, SECRET_KEY="s3cret-for-this-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["False", "True", "True"]


def test_debug_on_relaxes_cookies_and_hsts_and_allows_no_secret():
    result = start(PRINT_SECURITY, DEBUG="true", SECRET_KEY="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False", "0"]


@pytest.mark.parametrize("value", ["0", "-1", "ten", "nan", "100000"])
def test_a_bad_api_token_ttl_refuses_to_start(value):
    assert_refuses(start(API_TOKEN_TTL_HOURS=value), "API_TOKEN_TTL_HOURS")


def test_the_api_token_ttl_comes_from_the_environment():
    code = SETUP_ONLY + "; print(settings.REST_KNOX['TOKEN_TTL'].total_seconds())"
    result = start(code, API_TOKEN_TTL_HOURS="1.5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "5400.0"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EMAIL_TIMEOUT", "0"),
        ("EMAIL_TIMEOUT", "ten"),
        ("STRIPE_TIMEOUT_SECONDS", "-1"),
        ("STRIPE_MAX_NETWORK_RETRIES", "many"),
        ("STRIPE_MAX_NETWORK_RETRIES", "50"),
        ("OPENAI_TIMEOUT_SECONDS", "nan"),
        ("CELERY_TASK_SOFT_TIME_LIMIT", "0"),
        ("CELERY_TASK_TIME_LIMIT", "2m"),
        ("CELERY_VISIBILITY_TIMEOUT", "60"),
        ("HEALTH_HEARTBEAT_STALE_SECONDS", ""),
        ("HEALTH_QUEUE_BACKLOG", "-5"),
        ("HEALTH_STRIPE_EVENT_WAIT_SECONDS", "soon"),
    ],
)
def test_a_bad_timeout_or_threshold_refuses_to_start(variable, value):
    assert_refuses(start(**{variable: value}), variable)


def test_a_soft_time_limit_not_below_the_hard_one_refuses_to_start():
    result = start(CELERY_TASK_SOFT_TIME_LIMIT="200", CELERY_TASK_TIME_LIMIT="150")
    assert_refuses(result, "CELERY_TASK_SOFT_TIME_LIMIT")
