"""
`Idempotency-Key` for public POSTs (DESIGN.md §3): a repeat of the same key with the same body
gets the first answer again (with `Idempotent-Replayed: true`); the same key with another body
is 422; a repeat while the first is still running is 409 (retry shortly).

The key is claimed in its own autocommitted row before the work starts, so concurrent repeats
see the claim. A claim whose request died (no answer after CLAIM_TTL) may be taken over.
Answers of 5xx are not kept, so the client's retry runs again.
"""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from config.exceptions import ApiError, Conflict
from config.models import IdempotencyKey

HEADER = "Idempotency-Key"
CLAIM_TTL = timedelta(seconds=60)
KEEP_FOR = timedelta(hours=24)


def _digest(request, kwargs) -> str:
    payload = json.dumps([request.path, kwargs, request.data], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _claim(scope: str, key: str, digest: str) -> IdempotencyKey | None:
    """Claim the key; return None when we own it now, or the existing row to answer from."""
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(scope=scope, key=key, request_hash=digest)
    except IntegrityError:
        return _existing(scope, key, digest)
    return None


def _existing(scope: str, key: str, digest: str) -> IdempotencyKey | None:
    """The first request's row; None when its claim is stale and we took it over."""
    record = IdempotencyKey.objects.get(scope=scope, key=key)
    if record.request_hash != digest:
        raise ApiError(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
            status_code=422,
        )
    if record.response_status is None:
        stale_before = timezone.now() - CLAIM_TTL
        taken = IdempotencyKey.objects.filter(
            pk=record.pk, response_status__isnull=True, created_at__lt=stale_before
        ).update(created_at=timezone.now())
        if taken:
            return None
        raise Conflict(
            "The first request with this Idempotency-Key is still running; retry shortly.",
            code="idempotency_in_progress",
        )
    return record


def idempotent(scope: str):
    """Decorate a DRF view handler (post/create) to honour the Idempotency-Key header."""

    def decorator(handler):
        @wraps(handler)
        def wrapper(view, request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if not key:
                return handler(view, request, *args, **kwargs)
            if len(key) > 255:
                raise ApiError("Idempotency-Key is too long (255 characters at most).")
            if not key.isascii() or not key.isprintable():
                raise ApiError("Idempotency-Key may hold only printable ASCII characters.")
            record = _claim(scope, key, _digest(request, kwargs))
            if record is not None:
                response = Response(record.response_body, status=record.response_status)
                response["Idempotent-Replayed"] = "true"
                return response
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                try:
                    response = view.handle_exception(exc)  # the API error shape, as usual
                except Exception:
                    IdempotencyKey.objects.filter(scope=scope, key=key).delete()
                    raise
            if response.status_code >= 500:
                IdempotencyKey.objects.filter(scope=scope, key=key).delete()
            else:
                IdempotencyKey.objects.filter(scope=scope, key=key).update(
                    response_status=response.status_code, response_body=response.data
                )
            return response

        return wrapper

    return decorator


def purge_expired(now=None) -> int:
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
