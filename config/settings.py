"""
Settings for the hibachi operations platform: one module, every value from the environment
(django-environ). The README lists each variable with its default and meaning.

A missing or invalid value fails at start-up with one readable line, not a traceback.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ

from config.version import VERSION

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` in the project root fills in what the environment lacks. READ_DOTENV=false skips it:
# the test suite sets that (pyproject.toml, pytest-env), so a developer's `.env` full of
# provider keys and URLs never reaches a test.
if env.bool("READ_DOTENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _fail(message: str) -> None:
    """Stop start-up with a clear message (exit code 1, no traceback)."""
    sys.exit(f"Configuration error: {message}")


def _seconds(name: str, default: float, *, most: float = 24 * 3600) -> float:
    """A positive number of seconds from the environment, or a clear start-up failure."""
    try:  # float() itself: django-environ's parser would read "2m" as 2
        value = float(env.str(name, default=str(default)))
    except ValueError:
        value = float("nan")
    if not 0 < value <= most:
        _fail(f"{name} must be a number of seconds above 0 (and at most {most:g}).")
    return value


def _count(name: str, default: int, *, least: int = 0, most: int = 10**9) -> int:
    """A whole number from the environment, or a clear start-up failure."""
    try:
        value = env.int(name, default=default)
    except ValueError:
        value = least - 1
    if not least <= value <= most:
        _fail(f"{name} must be a whole number from {least} to {most}.")
    return value


# --- Core -----------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        _fail(
            "SECRET_KEY must be set when DEBUG is off "
            "(e.g. `export SECRET_KEY=$(openssl rand -hex 32)`)."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The public booking site, where a customer's booking link (sent by staff) opens; by default
# this site (the booking site's pages are served elsewhere in production).
BOOKING_SITE_URL = env.str("BOOKING_SITE_URL", default="").rstrip("/") or PUBLIC_BASE_URL

# Serve the baseline views of `make bench` (bench/views.py). Never on in production.
BENCH_ENDPOINTS = env.bool("BENCH_ENDPOINTS", default=False)

# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the default) means
# the client address is REMOTE_ADDR and X-Forwarded-For is ignored, so a forged header cannot
# dodge a rate limit. Behind one load balancer, set 1.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "anymail",
    "config",
    "stations",
    "bookings",
    "payments",
    "leads",
    "inbox",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "stations.admin_time.StationTimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.payments_mode",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
if not env.str("DATABASE_URL", default=""):
    _fail(
        "DATABASE_URL is not set. Use `make run` / `make test` (they start an embedded PostgreSQL) "
        "or export DATABASE_URL=postgres://user@host:5432/dbname."
    )
try:
    DATABASES = {"default": env.db("DATABASE_URL")}
except Exception as exc:  # django-environ raises several types for a malformed URL
    _fail(f"DATABASE_URL is not a valid database URL ({exc.__class__.__name__}).")
if DATABASES["default"].get("ENGINE") != "django.db.backends.postgresql":
    _fail("DATABASE_URL must point at PostgreSQL (postgres://...).")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
)
if env.bool("DB_PREPARED_STATEMENTS", default=True):
    # Parameters bound by the server and statements prepared after 5 runs on a connection
    # (psycopg's default): PostgreSQL stops re-planning the hot queries, a fifth of its CPU
    # per booking. Django leaves it off for connection poolers in transaction mode (PgBouncer
    # before 1.21): set DB_PREPARED_STATEMENTS=false behind one.
    DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
if not DEBUG and not (REDIS_URL and CELERY_BROKER_URL):
    _fail("REDIS_URL (or CELERY_BROKER_URL and REDIS_URL) must be set when DEBUG is off.")
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis: one client per connection pool, `incr` in one round trip.
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="hibachi"),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:  # development without Redis: a per-process cache, reported as such by /api/v1/health
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://"
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every task has time limits: at the soft limit the task gets SoftTimeLimitExceeded (and can
# stop cleanly), at the hard limit its pool process is killed and replaced, so one call stuck
# on a socket cannot hold a worker for ever. Only the prefork pool (the default) enforces them.
CELERY_TASK_SOFT_TIME_LIMIT = _seconds("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = _seconds("CELERY_TASK_TIME_LIMIT", 150)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    _fail("CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT.")
# The Stripe drain applies waiting events in a loop, longer than other tasks may run; at its
# soft limit it stops between events and hands over to a new drain (payments.tasks).
STRIPE_DRAIN_SOFT_TIME_LIMIT = max(300, CELERY_TASK_SOFT_TIME_LIMIT)
STRIPE_DRAIN_TIME_LIMIT = max(330, CELERY_TASK_TIME_LIMIT)
# With acks_late, Redis hands a task whose worker died to another worker after the visibility
# timeout; it must exceed the longest hard limit, or a slow task still running is run twice.
CELERY_VISIBILITY_TIMEOUT = _seconds("CELERY_VISIBILITY_TIMEOUT", 3600)
if max(CELERY_TASK_TIME_LIMIT, STRIPE_DRAIN_TIME_LIMIT) >= CELERY_VISIBILITY_TIMEOUT:
    _fail(
        "CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT "
        f"and the Stripe drain's {STRIPE_DRAIN_TIME_LIMIT:g} s limit."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Look for such tasks every second (a cheap sorted-set read), not every 100 s.
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    # A broker that is down or hangs fails a publish (and a connect) in seconds: a web request
    # that enqueues after commit logs it and goes on; the sweepers enqueue the work later
    # (config.broker). Above the worker's 1 s BRPOP, so an idle worker never times out.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# One quick retry of a failed publish (a pooled connection the broker dropped), not Celery's
# three with backoff: a web request that publishes must not wait long for a broker that is down.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "config.tasks.heartbeat", "schedule": 60.0},
    "purge-idempotency-keys": {"task": "config.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "purge-expired-api-tokens": {
        "task": "config.tasks.purge_expired_api_tokens",
        "schedule": 3600.0,
    },
    "expire-unpaid-holds": {"task": "bookings.tasks.expire_holds", "schedule": 60.0},
    "send-booking-reminders": {"task": "bookings.tasks.send_reminders", "schedule": 900.0},
    "sweep-stripe-events": {"task": "payments.tasks.sweep_stripe_events", "schedule": 60.0},
    "sweep-notifications": {"task": "bookings.tasks.sweep_notifications", "schedule": 60.0},
    "charge-due-balances": {"task": "payments.tasks.charge_due_balances", "schedule": 3600.0},
    "sweep-inbound-messages": {"task": "inbox.tasks.sweep_inbound", "schedule": 60.0},
    "sweep-inbound-events": {"task": "inbox.tasks.sweep_inbound_events", "schedule": 60.0},
    "sweep-outbound-messages": {"task": "inbox.tasks.sweep_outbound", "schedule": 60.0},
    "wake-snoozed-conversations": {"task": "inbox.tasks.wake_snoozed", "schedule": 60.0},
    "escalate-stale-leads": {"task": "leads.tasks.escalate_stale_leads", "schedule": 60.0},
    "sweep-lead-first-replies": {"task": "leads.tasks.sweep_first_replies", "schedule": 60.0},
    "renew-ringcentral-subscriptions": {
        "task": "inbox.tasks.renew_ringcentral_subscriptions",
        "schedule": 3600.0,
    },
    "send-review-requests": {"task": "reviews.tasks.send_review_requests", "schedule": 900.0},
    "sweep-google-notifications": {
        "task": "reviews.tasks.sweep_google_notifications",
        "schedule": 60.0,
    },
    "sweep-review-replies": {"task": "reviews.tasks.sweep_review_replies", "schedule": 300.0},
    "sync-google-reviews": {"task": "reviews.tasks.sync_google_reviews", "schedule": 6 * 3600.0},
}
# Customer messages (bookings.notifications, the outbox): a sender holds a message this long
# before another may take it over (its worker died); keep it above the SMTP timeout.
NOTIFICATION_LEASE_SECONDS = env.int("NOTIFICATION_LEASE_SECONDS", default=300)
# The Stripe sweeper takes over ledger rows and refunds left this long without progress (their
# task was lost); shorter than a minute only for tests that kill workers.
SWEEPER_GRACE_SECONDS = 60

# /api/v1/health says "degraded" when background work is stuck: the worker heartbeat (beat
# sends one a minute) older than this, a broker queue longer than HEALTH_QUEUE_BACKLOG, or a
# Stripe event waiting to be applied for longer than HEALTH_STRIPE_EVENT_WAIT_SECONDS.
HEALTH_HEARTBEAT_STALE_SECONDS = _seconds("HEALTH_HEARTBEAT_STALE_SECONDS", 180)
HEALTH_QUEUE_BACKLOG = _count("HEALTH_QUEUE_BACKLOG", 500)
HEALTH_STRIPE_EVENT_WAIT_SECONDS = _seconds("HEALTH_STRIPE_EVENT_WAIT_SECONDS", 300)
# The broker queues the workers consume (`celery -A config worker -Q celery,notifications`).
HEALTH_QUEUES = ("celery", "notifications")

# --- Auth, API ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Staff API tokens (django-rest-knox): `Authorization: Token <secret>`; only a digest is stored.
# A token expires API_TOKEN_TTL_HOURS after it is issued, and stops working at once when it is
# signed out (DELETE /api/v1/auth/token), when the user's password changes, when the user is
# deactivated, and when a user who is not a superuser has no station membership left.
try:
    API_TOKEN_TTL_HOURS = env.float("API_TOKEN_TTL_HOURS", default=10)
except ValueError:
    API_TOKEN_TTL_HOURS = float("nan")
if not 0 < API_TOKEN_TTL_HOURS <= 24 * 366:
    _fail("API_TOKEN_TTL_HOURS must be a number of hours above 0 (and at most a year).")
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",  # the prefix DRF's tokens had: clients keep working
    "AUTO_REFRESH": False,
}

THROTTLE_RATES = {
    "public": env.str("THROTTLE_PUBLIC_RATE", default="120/min"),
    "auth": env.str("THROTTLE_AUTH_RATE", default="10/min"),
    "staff": env.str("THROTTLE_STAFF_RATE", default="1200/min"),
    "contact": env.str("THROTTLE_CONTACT_RATE", default="10/min"),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Hibachi operations API",
    "DESCRIPTION": "Public booking API and station-scoped staff API. Errors: "
    '`{"error": code, "detail": text, "fields": {...}}`.',
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # config.schema: errors on every operation; our serializer bases' docstrings left out.
    "GET_LIB_DOC_EXCLUDES": "config.schema.lib_doc_excludes",
    # Swagger UI assets are served from this site (drf-spectacular-sidecar), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets whose field names ("status", "source") other components use too.
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "leads.models.LeadStatus",
        "LeadSourceEnum": "leads.models.LeadSource",
        "LeadFormSourceEnum": "leads.serializers.PUBLIC_SOURCES",
    },
}

# --- CORS (the public booking site calls the API from the browser) ---------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-booking-token",
    "x-csrftoken",
)

# --- Security (on whenever DEBUG is off) -----------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = False
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- I18N, time -----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Display formats that name the time zone (the admin shows station time): config/formats.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # admin assets work without collectstatic too

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# Seconds the SMTP backend waits on the relay (connect and every read): a relay that accepts
# and never answers must not hold a worker.
EMAIL_TIMEOUT = _seconds("EMAIL_TIMEOUT", 10, most=600)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="bookings@example.com")

# --- Providers (each optional; see the README) ----------------------------------------------
# Stripe: no secret key means offline mode (PaymentIntents made locally, clearly labelled).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Each HTTP request to Stripe gives up after STRIPE_TIMEOUT_SECONDS (connect and read) and is
# retried at most STRIPE_MAX_NETWORK_RETRIES times (the SDK's backoff, same idempotency key).
STRIPE_TIMEOUT_SECONDS = _seconds("STRIPE_TIMEOUT_SECONDS", 20, most=300)
STRIPE_MAX_NETWORK_RETRIES = _count("STRIPE_MAX_NETWORK_RETRIES", 2, most=5)
if DEBUG and not STRIPE_WEBHOOK_SECRET:
    # Development only: lets `manage.py simulate_stripe_event` sign events out of the box.
    STRIPE_WEBHOOK_SECRET = "whsec_development_only"  # noqa: S105
if not DEBUG and not STRIPE_WEBHOOK_SECRET:
    _fail("STRIPE_WEBHOOK_SECRET must be set when DEBUG is off (Stripe dashboard → Webhooks).")
if STRIPE_SECRET_KEY and not STRIPE_PUBLISHABLE_KEY:
    _fail("STRIPE_PUBLISHABLE_KEY must be set with STRIPE_SECRET_KEY (the booking site needs it).")
# OpenAI or any OpenAI-compatible server; no key means the local drafter.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o")
OPENAI_FALLBACK_MODEL = env.str("OPENAI_FALLBACK_MODEL", default="gpt-4o-mini")
# Seconds a model request may take before the client gives up (for the client, when it lands).
OPENAI_TIMEOUT_SECONDS = _seconds("OPENAI_TIMEOUT_SECONDS", 30, most=600)
# Tries of one model call before the fallback model (then a person) takes over; the SDK's
# own retries are off, so every try is audited and counted against the limits.
OPENAI_MAX_TRIES = _count("OPENAI_MAX_TRIES", 2, most=5)
# What a million tokens cost, in cents, per model: [input, output]. The monthly budget adds
# these up; a model not listed here (a self-hosted one) costs AI_PRICES["*"].
AI_PRICES = env.json(
    "AI_PRICES",
    default={"gpt-4o": [250, 1000], "gpt-4o-mini": [15, 60], "*": [0, 0]},
)
if not isinstance(AI_PRICES, dict) or "*" not in AI_PRICES:
    _fail('AI_PRICES must be a JSON object of model: [input, output] cents with a "*" entry.')
# SMS and messaging.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
RINGCENTRAL_CLIENT_ID = env.str("RINGCENTRAL_CLIENT_ID", default="")
RINGCENTRAL_CLIENT_SECRET = env.str("RINGCENTRAL_CLIENT_SECRET", default="")
RINGCENTRAL_JWT = env.str("RINGCENTRAL_JWT", default="")
RINGCENTRAL_VERIFICATION_TOKEN = env.str("RINGCENTRAL_VERIFICATION_TOKEN", default="")
META_APP_SECRET = env.str("META_APP_SECRET", default="")
META_VERIFY_TOKEN = env.str("META_VERIFY_TOKEN", default="")
META_ACCESS_TOKEN = env.str("META_ACCESS_TOKEN", default="")
# Where each provider's API lives (tests point these at local fake servers on loopback).
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com").rstrip("/")
RINGCENTRAL_SERVER_URL = env.str(
    "RINGCENTRAL_SERVER_URL", default="https://platform.ringcentral.com"
).rstrip("/")
META_GRAPH_API_BASE = env.str(
    "META_GRAPH_API_BASE", default="https://graph.facebook.com/v21.0"
).rstrip("/")
# Seconds one request to a messaging provider may take (connect and read) before it is given
# up and retried by the task; a stalled provider never holds a worker longer.
INBOX_PROVIDER_TIMEOUT_SECONDS = _seconds("INBOX_PROVIDER_TIMEOUT_SECONDS", 10, most=120)
# A sender holds an outbound message this long before another may look at it (its worker
# died): above the provider timeout, so a slow send is never taken over while it runs.
INBOX_SEND_LEASE_SECONDS = _seconds("INBOX_SEND_LEASE_SECONDS", 60, most=3600)
if INBOX_SEND_LEASE_SECONDS <= INBOX_PROVIDER_TIMEOUT_SECONDS:
    _fail("INBOX_SEND_LEASE_SECONDS must exceed INBOX_PROVIDER_TIMEOUT_SECONDS.")
# RingCentral webhook subscriptions are renewed this long before they expire.
RINGCENTRAL_RENEW_BEFORE_SECONDS = _seconds("RINGCENTRAL_RENEW_BEFORE_SECONDS", 86_400)
# E-mail in and out through django-anymail; Postmark is the documented provider (any anymail
# ESP works by setting EMAIL_BACKEND and its ANYMAIL keys). With no server token, mail goes
# through EMAIL_URL's backend (the console by default). ANYMAIL_WEBHOOK_SECRET is the
# "user:password" Postmark's inbound webhook URL carries (basic auth, checked by anymail).
POSTMARK_SERVER_TOKEN = env.str("POSTMARK_SERVER_TOKEN", default="")
POSTMARK_API_URL = env.str("POSTMARK_API_URL", default="https://api.postmarkapp.com/")
ANYMAIL_WEBHOOK_SECRET = env.str("ANYMAIL_WEBHOOK_SECRET", default="")
ANYMAIL = {
    "POSTMARK_SERVER_TOKEN": POSTMARK_SERVER_TOKEN,
    "POSTMARK_API_URL": POSTMARK_API_URL,
    "REQUESTS_TIMEOUT": INBOX_PROVIDER_TIMEOUT_SECONDS,
}
if ANYMAIL_WEBHOOK_SECRET:
    ANYMAIL["WEBHOOK_SECRET"] = ANYMAIL_WEBHOOK_SECRET
if POSTMARK_SERVER_TOKEN:
    EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
# Google Business Profile (reviews): the token in the Pub/Sub push subscription's URL
# (`.../webhooks/google?token=...`; empty refuses every push), where its API and OAuth token
# endpoint live (tests point them at testing/fake_google.py), and how long one request may take.
GOOGLE_PUSH_TOKEN = env.str("GOOGLE_PUSH_TOKEN", default="")
GOOGLE_API_BASE = env.str("GOOGLE_API_BASE", default="https://mybusiness.googleapis.com/v4").rstrip(
    "/"
)
GOOGLE_OAUTH_TOKEN_URL = env.str(
    "GOOGLE_OAUTH_TOKEN_URL", default="https://oauth2.googleapis.com/token"
)
GOOGLE_TIMEOUT_SECONDS = _seconds("GOOGLE_TIMEOUT_SECONDS", 10, most=120)

# --- Logging: JSON in production, readable in development; PII is redacted in both ----------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json")
if LOG_FORMAT not in ("console", "json"):
    _fail("LOG_FORMAT must be 'console' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_pii": {"()": "config.logging.RedactPIIFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "console": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact_pii"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "WARNING"},
    },
}
