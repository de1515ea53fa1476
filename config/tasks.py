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


@shared_task(ignore_result=True)
def purge_expired_api_tokens() -> int:
    """Delete the staff API tokens that can no longer work (beat runs this hourly): expired,
    or of a user who is inactive or, not being a superuser, in no station."""
    from config.authentication import tokens_of_users_who_may_not_hold_one
    from config.services import api_tokens_purge_expired, api_tokens_revoke

    orphans = api_tokens_revoke(queryset=tokens_of_users_who_may_not_hold_one())
    return api_tokens_purge_expired() + orphans
