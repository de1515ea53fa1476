"""
GET /api/v1/health: is this instance able to serve? Checked for real on every call.

The database decides: unreachable means 503 "unhealthy" (take the instance out of rotation).
Cache or broker trouble is "degraded" with 200: bookings still work, background work waits.
"""

import time

from django.core.cache import cache, caches
from django.db import Error as DatabaseError
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.celery import app as celery_app
from config.tasks import HEARTBEAT_KEY
from config.version import VERSION
from payments import stripe_client

HEARTBEAT_STALE_SECONDS = 180


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
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception:  # kombu raises transport-specific errors
        return "unreachable"
    return "connected"


def worker_heartbeat_age() -> int | None:
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception:
        return None
    return None if beat is None else max(0, int(time.time() - float(beat)))


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(["healthy", "degraded", "unhealthy"]),
                    "database": serializers.CharField(),
                    "cache": serializers.CharField(),
                    "broker": serializers.CharField(),
                    "worker_heartbeat_age_seconds": serializers.IntegerField(allow_null=True),
                    "payments": serializers.ChoiceField(["offline", "test", "live"]),
                    "version": serializers.CharField(),
                },
            )
        },
        auth=[],
    )
    def get(self, request):
        database, cache_state, broker = check_database(), check_cache(), check_broker()
        if database != "connected":
            status = "unhealthy"
        elif "unreachable" in (cache_state, broker):
            status = "degraded"
        else:
            status = "healthy"
        body = {
            "status": status,
            "database": database,
            "cache": cache_state,
            "broker": broker,
            "worker_heartbeat_age_seconds": worker_heartbeat_age(),
            "payments": stripe_client.mode(),
            "version": VERSION,
        }
        return Response(body, status=503 if status == "unhealthy" else 200)
