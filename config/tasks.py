"""Project-wide periodic tasks."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "worker-heartbeat"


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Beat sends this every minute; /api/v1/health reports how long ago a worker ran it."""
    cache.set(HEARTBEAT_KEY, timezone.now().timestamp(), timeout=None)


@shared_task(ignore_result=True)
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Key answers older than a day (beat runs this hourly)."""
    from config.idempotency import purge_expired

    return purge_expired()
