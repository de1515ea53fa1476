"""`make test` is hermetic (issue 11): a shell or a `.env` full of provider keys and addresses
changes nothing. The suite reads no provider credential, base URL or service URL other than
DATABASE_URL and REDIS_URL from either, and connects to nothing a test did not start itself.

How: pytest-env (pyproject.toml) overrides every such variable with its safe default before
Django reads its settings, and sets READ_DOTENV=false so the settings skip `.env`. Processes a
test starts inherit that environment (or, config/tests/processes.py, get a clean one).

The proof runs a few real tests in a fresh `python -m pytest`, in a copy of the project whose
root holds a hostile `.env`, with a hostile environment besides: every address points at a
recorder on loopback, which must see no connection.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

# Put in the hostile `.env` only: if the settings read that file, it lands in os.environ.
CANARY = "HIBACHI_HERMETIC_DOTENV_CANARY"

# What the suite must see, whatever the shell or a `.env` says.
SAFE_SETTINGS = {
    "STRIPE_SECRET_KEY": "",
    "STRIPE_PUBLISHABLE_KEY": "",
    "STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
    "STRIPE_API_BASE": "",
    "OPENAI_API_KEY": "",
    "OPENAI_BASE_URL": "",
    "OPENAI_MODEL": "gpt-4o",
    "OPENAI_FALLBACK_MODEL": "gpt-4o-mini",
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "RINGCENTRAL_CLIENT_ID": "",
    "RINGCENTRAL_CLIENT_SECRET": "",
    "RINGCENTRAL_JWT": "",
    "RINGCENTRAL_VERIFICATION_TOKEN": "",
    "META_APP_SECRET": "",
    "META_VERIFY_TOKEN": "",
    "META_ACCESS_TOKEN": "",
    "GOOGLE_PUSH_TOKEN": "",
    "GOOGLE_API_BASE": "https://mybusiness.googleapis.com/v4",
    "GOOGLE_OAUTH_TOKEN_URL": "https://oauth2.googleapis.com/token",
    "TWILIO_API_BASE": "https://api.twilio.com",
    "RINGCENTRAL_SERVER_URL": "https://platform.ringcentral.com",
    "META_GRAPH_API_BASE": "https://graph.facebook.com/v21.0",
    "POSTMARK_SERVER_TOKEN": "",
    "POSTMARK_API_URL": "https://api.postmarkapp.com/",
    "ANYMAIL_WEBHOOK_SECRET": "",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    "BOOKING_SITE_URL": "http://127.0.0.1:8000",
    "DEFAULT_FROM_EMAIL": "bookings@example.com",
}

# Variables config/settings.py reads that the shell may set for a test run: the services the
# suite is given, and tunables that neither hold a credential nor name a place to connect to.
# Every other variable it reads must be overridden by pytest-env (pyproject.toml).
FROM_THE_SHELL = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "CORS_ALLOWED_ORIGINS",
    "TRUSTED_PROXY_COUNT",
    "BENCH_ENDPOINTS",
    "DB_CONN_MAX_AGE",
    "DB_CONNECT_TIMEOUT",
    "DB_PREPARED_STATEMENTS",
    "CACHE_KEY_PREFIX",
    "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_TASK_SOFT_TIME_LIMIT",
    "CELERY_TASK_TIME_LIMIT",
    "CELERY_VISIBILITY_TIMEOUT",
    "NOTIFICATION_LEASE_SECONDS",
    "INBOX_PROVIDER_TIMEOUT_SECONDS",
    "INBOX_SEND_LEASE_SECONDS",
    "RINGCENTRAL_RENEW_BEFORE_SECONDS",
    "HEALTH_HEARTBEAT_STALE_SECONDS",
    "HEALTH_QUEUE_BACKLOG",
    "HEALTH_STRIPE_EVENT_WAIT_SECONDS",
    "API_TOKEN_TTL_HOURS",
    "THROTTLE_PUBLIC_RATE",
    "THROTTLE_AUTH_RATE",
    "THROTTLE_STAFF_RATE",
    "THROTTLE_CONTACT_RATE",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
    "EMAIL_TIMEOUT",
    "STRIPE_TIMEOUT_SECONDS",
    "STRIPE_MAX_NETWORK_RETRIES",
    "OPENAI_TIMEOUT_SECONDS",
    "GOOGLE_TIMEOUT_SECONDS",
    "OPENAI_MAX_TRIES",
    "AI_PRICES",
    "LOG_LEVEL",
    "LOG_FORMAT",
}

# The real tests the hermetic run repeats: offline Stripe through the webhook (a booking with
# its deposit intent made locally), a booking made through the public API, the local Stripe API
# (fake_stripe), and this module's check of the settings the run sees.
CHILD_TESTS = [
    "payments/tests/test_webhook.py::test_a_valid_event_is_stored_once_processed_and_acknowledged",
    "bookings/tests/test_booking_api.py::test_create_returns_the_contract_and_holds_a_chef",
    "payments/tests/test_stripe_api.py"
    "::test_booking_create_makes_one_payment_intent_with_a_key_from_our_ids",
    "config/tests/test_hermetic.py::test_the_suite_sees_only_safe_provider_settings",
]


def pinned_by_pytest_env() -> dict[str, str]:
    """The pytest-env entries that override the shell (no D: flag): name -> value."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    pinned = {}
    for line in options["ini_options"]["env"]:
        key, _, value = line.partition("=")
        *flags, name = key.split(":")
        if "D" not in {flag.strip().upper() for flag in flags}:
            pinned[name.strip()] = value.strip()
    return pinned


def read_by_settings() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r'(?:\benv\.\w+|\b_seconds|\b_count)\(\s*"([A-Z0-9_]+)"', source))


def test_the_suite_sees_only_safe_provider_settings():
    for name, value in SAFE_SETTINGS.items():
        assert getattr(settings, name) == value, name
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"  # pytest
    assert settings.EMAIL_CONFIG["EMAIL_BACKEND"].endswith(".console.EmailBackend")
    broker = settings.CELERY_BROKER_URL
    assert broker == (settings.REDIS_URL or "memory://")
    assert os.environ["READ_DOTENV"] == "false"
    assert CANARY not in os.environ, "the settings read a .env"
    assert not {"http", "https", "all"} & set(urllib.request.getproxies())


def test_every_variable_the_settings_read_is_pinned_or_harmless():
    """A new provider variable in config/settings.py must get a pytest-env entry (or, if it
    names no credential and no place to connect to, a place in FROM_THE_SHELL)."""
    read = read_by_settings()
    pinned = pinned_by_pytest_env()
    assert {"STRIPE_SECRET_KEY", "EMAIL_URL", "PUBLIC_BASE_URL", "READ_DOTENV"} <= read
    assert sorted(read - pinned.keys() - FROM_THE_SHELL) == []
    assert sorted(pinned.keys() & FROM_THE_SHELL) == []
    assert pinned["READ_DOTENV"] == "false"
    for name, value in SAFE_SETTINGS.items():
        assert pinned[name] == value, name


class Recorder:
    """A TCP listener on loopback that every hostile address points at. It notes each
    connection and closes it at once (the caller fails fast, the test fails on the note)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.connections: list = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, peer = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(peer)
            conn.close()

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.server.close()


def hostile(port: int, origin: str) -> dict[str, str]:
    """Provider settings from a developer's shell or `.env`: live keys, and every address at
    the recorder (as a proxy too)."""
    here = f"http://127.0.0.1:{port}"
    return {
        "READ_DOTENV": "true",
        "STRIPE_SECRET_KEY": f"sk_live_hostile_{origin}",
        "STRIPE_PUBLISHABLE_KEY": f"pk_live_hostile_{origin}",
        "STRIPE_WEBHOOK_SECRET": f"whsec_hostile_{origin}",
        "STRIPE_API_BASE": here,
        "OPENAI_API_KEY": f"sk-hostile-{origin}",
        "OPENAI_BASE_URL": f"{here}/v1",
        "OPENAI_MODEL": "hostile-model",
        "OPENAI_FALLBACK_MODEL": "hostile-model",
        "TWILIO_ACCOUNT_SID": f"AChostile{origin}",
        "TWILIO_AUTH_TOKEN": "hostile",
        "RINGCENTRAL_CLIENT_ID": "hostile",
        "RINGCENTRAL_CLIENT_SECRET": "hostile",
        "RINGCENTRAL_JWT": "hostile",
        "RINGCENTRAL_VERIFICATION_TOKEN": "hostile",
        "META_APP_SECRET": "hostile",
        "META_VERIFY_TOKEN": "hostile",
        "META_ACCESS_TOKEN": "hostile",
        "GOOGLE_PUSH_TOKEN": "hostile",
        "GOOGLE_API_BASE": f"{here}/v4",
        "GOOGLE_OAUTH_TOKEN_URL": f"{here}/token",
        "TWILIO_API_BASE": here,
        "RINGCENTRAL_SERVER_URL": here,
        "META_GRAPH_API_BASE": f"{here}/v21.0",
        "POSTMARK_SERVER_TOKEN": "hostile",
        "POSTMARK_API_URL": f"{here}/",
        "ANYMAIL_WEBHOOK_SECRET": "hostile:hostile",
        "EMAIL_URL": f"smtp://hostile:pw@127.0.0.1:{port}",
        "DEFAULT_FROM_EMAIL": f"hostile-{origin}@example.com",
        "PUBLIC_BASE_URL": here,
        "BOOKING_SITE_URL": here,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "HTTP_PROXY": here,
        "HTTPS_PROXY": here,
        "ALL_PROXY": here,
        "http_proxy": here,
        "https_proxy": here,
        "all_proxy": here,
        "NO_PROXY": "",
        "no_proxy": "",
    }


def with_database_suffix(url: str, suffix: str) -> str:
    """The same server, a database of the hermetic run's own (pytest-django adds test_)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))


def test_make_test_ignores_provider_variables_in_the_shell_and_in_dot_env(tmp_path):
    recorder = Recorder()
    try:
        clone = tmp_path / "clone"
        shutil.copytree(
            ROOT,
            clone,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", ".data", ".env", ".hypothesis", "__pycache__", "staticfiles"
            ),
        )
        dotenv = {**hostile(recorder.port, "dotenv"), CANARY: "read"}
        (clone / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(hostile(recorder.port, "shell"))
        env["DATABASE_URL"] = with_database_suffix(os.environ["DATABASE_URL"], "_hermetic")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        result = subprocess.run(  # noqa: S603 - our own interpreter and tests
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHILD_TESTS],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        recorder.close()
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert recorder.connections == [], f"{len(recorder.connections)} connections\n{output}"
    assert result.returncode == 0, output
    assert f"{len(CHILD_TESTS)} passed" in result.stdout, output
