"""
GET /api/v1/health: is this instance able to serve? Checked for real on every call, each check
with a timeout of a second or two (load balancers poll it).

The database decides: unreachable means 503 "unhealthy" (take the instance out of rotation).
Cache or broker trouble is "degraded" with 200: bookings still work, background work waits.
So is background work that is stuck: a worker heartbeat older than
HEALTH_HEARTBEAT_STALE_SECONDS, a broker queue longer than HEALTH_QUEUE_BACKLOG, or a Stripe
event waiting to be applied for longer than HEALTH_STRIPE_EVENT_WAIT_SECONDS, and a RingCentral
channel whose webhook subscription RingCentral blacklisted or we could not renew (its inbound SMS
are not arriving; the problem names the channel and its station, never a credential).
`problems` names what made the answer "degraded".
"""

import time

import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.db import Error as DatabaseError
from django.db import connection, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.celery import app as celery_app
from config.tasks import HEARTBEAT_KEY
from config.version import VERSION
from inbox import ledger, subscriptions
from payments import stripe_client
from payments.models import EventOutcome, StripeEvent

CHECK_TIMEOUT_SECONDS = 2
# kombu's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>".
REDIS_PRIORITY_KEYS = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        connection.close_if_unusable_or_obsolete()
        return "unreachable"
    return "connected"


def check_cache() -> str:
    if "locmem" in caches["default"].__class__.__module__:
        return "local-memory"
    try:
        cache.set("health-probe", 1, timeout=10)
        return "connected" if cache.get("health-probe") == 1 else "unreachable"
    except Exception:  # any client error means the same thing to an operator
        return "unreachable"


def check_broker() -> str:
    if celery_app.conf.broker_url.startswith("memory://"):
        return "in-memory"
    options = {}
    if celery_app.conf.broker_url.startswith(("redis://", "rediss://")):
        # Without these a Redis that accepts and never answers holds the check for ever.
        options = {
            "socket_timeout": CHECK_TIMEOUT_SECONDS,
            "socket_connect_timeout": CHECK_TIMEOUT_SECONDS,
        }
    try:
        with celery_app.connection_for_write(
            connect_timeout=CHECK_TIMEOUT_SECONDS, transport_options=options
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT_SECONDS)
    except Exception:  # kombu raises transport-specific errors
        return "unreachable"
    return "connected"


_broker_clients: dict[str, redis.Redis] = {}


def queue_lengths() -> dict[str, int | None]:
    """Messages waiting in each queue the workers consume. Only a Redis broker is asked (one
    pipelined round trip); with another broker, or when Redis does not answer, None."""
    url = celery_app.conf.broker_url
    unknown = dict.fromkeys(settings.HEALTH_QUEUES)
    if not url.startswith(("redis://", "rediss://")):
        return unknown
    client = _broker_clients.get(url)
    if client is None:
        client = _broker_clients[url] = redis.Redis.from_url(
            url, socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=CHECK_TIMEOUT_SECONDS
        )
    prefix = celery_app.conf.broker_transport_options.get("global_keyprefix", "")
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in settings.HEALTH_QUEUES:
                for suffix in REDIS_PRIORITY_KEYS:
                    pipe.llen(f"{prefix}{queue}{suffix}")
            counts = pipe.execute()
    except redis.RedisError:
        return unknown
    per_queue = len(REDIS_PRIORITY_KEYS)
    return {
        queue: sum(counts[n * per_queue : (n + 1) * per_queue])
        for n, queue in enumerate(settings.HEALTH_QUEUES)
    }


def stripe_events_waiting_oldest_seconds() -> int | None:
    """How long the oldest Stripe event still waiting to be applied has waited (None: none
    waits, or the database did not answer in time). One index lookup
    (stripe_event_outcome_idx)."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {CHECK_TIMEOUT_SECONDS * 1000}")
            oldest = (
                StripeEvent.objects.filter(outcome=EventOutcome.PENDING)
                .order_by("received_at")
                .values_list("received_at", flat=True)
                .first()
            )
    except DatabaseError:
        return None
    if oldest is None:
        return None
    return max(0, int((timezone.now() - oldest).total_seconds()))


def messaging_subscription_problems() -> list[str]:
    """RingCentral channels whose subscription is blacklisted or failed to renew, and inbound
    messages stored by a webhook but not threaded for longer than
    HEALTH_STRIPE_EVENT_WAIT_SECONDS (their drain is lost or failing), in words (a database
    that does not answer in time: none)."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {CHECK_TIMEOUT_SECONDS * 1000}")
            failing = list(subscriptions.blacklisted_channels()[:20])
            waiting = ledger.inbound_events_waiting(
                grace_seconds=settings.HEALTH_STRIPE_EVENT_WAIT_SECONDS
            )
    except DatabaseError:
        return []
    found = [
        f"RingCentral subscription {channel.get_subscription_state_display()}: "
        f"{channel} ({channel.station.slug})"
        for channel in failing
    ]
    if waiting:
        found.append(f"inbound messages waiting to be threaded: {waiting}")
    return found


def worker_heartbeat_age() -> int | None:
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception:
        return None
    return None if beat is None else max(0, int(time.time() - float(beat)))


HEALTH = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(["healthy", "degraded", "unhealthy"]),
        "database": serializers.CharField(),
        "cache": serializers.CharField(),
        "broker": serializers.CharField(),
        "worker_heartbeat_age_seconds": serializers.IntegerField(allow_null=True),
        "queues": serializers.DictField(child=serializers.IntegerField(allow_null=True)),
        "stripe_events_waiting_oldest_seconds": serializers.IntegerField(allow_null=True),
        "problems": serializers.ListField(child=serializers.CharField()),
        "payments": serializers.ChoiceField(["offline", "test", "live"]),
        "version": serializers.CharField(),
    },
)


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        responses={
            (200, "application/json"): HEALTH,
            (503, "application/json"): OpenApiResponse(
                HEALTH, description='"unhealthy": the database is out of reach.'
            ),
        },
        auth=[],
    )
    def get(self, request):
        database, cache_state, broker = check_database(), check_cache(), check_broker()
        body = {
            "status": "healthy",
            "database": database,
            "cache": cache_state,
            "broker": broker,
            # Not asked again of a cache that just failed (a hung one would cost another 2 s).
            "worker_heartbeat_age_seconds": (
                worker_heartbeat_age() if cache_state != "unreachable" else None
            ),
            "queues": (
                queue_lengths() if broker == "connected" else dict.fromkeys(settings.HEALTH_QUEUES)
            ),
            "stripe_events_waiting_oldest_seconds": (
                stripe_events_waiting_oldest_seconds() if database == "connected" else None
            ),
            "problems": [],
            "payments": stripe_client.mode(),
            "version": VERSION,
        }
        body["problems"] = problems(body)
        if database == "connected":
            body["problems"] += messaging_subscription_problems()
        if database != "connected":
            body["status"] = "unhealthy"
        elif body["problems"]:
            body["status"] = "degraded"
        return Response(body, status=503 if body["status"] == "unhealthy" else 200)


def problems(body: dict) -> list[str]:
    """What is wrong, in words an operator can act on: services out of reach, background work
    stuck (stale heartbeat, a queue backing up, Stripe events not applied)."""
    found = [
        f"{service} unreachable"
        for service in ("database", "cache", "broker")
        if body[service] == "unreachable"
    ]
    age = body["worker_heartbeat_age_seconds"]
    if age is not None and age > settings.HEALTH_HEARTBEAT_STALE_SECONDS:
        found.append("worker heartbeat stale")
    found += [
        f"queue {queue} backing up"
        for queue, length in body["queues"].items()
        if length is not None and length > settings.HEALTH_QUEUE_BACKLOG
    ]
    waiting = body["stripe_events_waiting_oldest_seconds"]
    if waiting is not None and waiting > settings.HEALTH_STRIPE_EVENT_WAIT_SECONDS:
        found.append("stripe events waiting")
    return found
