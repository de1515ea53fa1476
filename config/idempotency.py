"""
`Idempotency-Key` for public POSTs (DESIGN.md §3): a repeat of the same key with the same body
gets the first answer again (with `Idempotent-Replayed: true`); the same key with another body
is 422; a repeat while the first is still running is 409 (retry shortly).

The key is claimed in its own autocommitted row before the work starts, so concurrent repeats
see the claim. A claim whose request died (no answer after CLAIM_TTL) may be taken over.
Answers of 5xx are not kept, so the client's retry runs again.

Nothing in a row gives access on its own, although the answers it keeps do (a booking's
manage token, Stripe's client_secret): the row holds an HMAC of the key, never the key, and
the answer sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the Idempotency-Key
itself, which only the client holds, salted with SECRET_KEY and the scope. The table alone,
or with SECRET_KEY, opens no answer; the client's retry, with its key, does. The request
fingerprint is an HMAC under that derived key too. Keys from SECRET_KEY_FALLBACKS still find
and open the rows made before a rotation.
"""

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from config.exceptions import ApiError, Conflict
from config.models import IdempotencyKey

HEADER = "Idempotency-Key"
CLAIM_TTL = timedelta(seconds=60)
KEEP_FOR = timedelta(hours=24)
_NONCE_BYTES = 12  # AES-GCM's standard nonce; random per answer


@dataclass(frozen=True)
class _Keys:
    """What one Idempotency-Key (in one scope, under one SECRET_KEY) opens."""

    scope: str
    lookup: str  # the row's key_hash
    sealing: bytes  # AES-256-GCM key for the answer
    fingerprinting: bytes  # HMAC key for the request fingerprint

    @classmethod
    def derive(cls, scope: str, key: str, secret: str) -> "_Keys":
        lookup = salted_hmac(
            "config.idempotency.lookup", f"{scope}\x00{key}", secret=secret, algorithm="sha256"
        ).hexdigest()
        salt = salted_hmac(
            "config.idempotency.salt", scope, secret=secret, algorithm="sha256"
        ).digest()
        material = HKDF(
            algorithm=hashes.SHA256(),
            length=64,
            salt=salt,
            info=b"config.idempotency answer v1\x00" + scope.encode(),
        ).derive(key.encode())
        return cls(scope, lookup, material[:32], material[32:])

    def secret_for(self, purpose: str) -> str:
        """A secret only the holder of the Idempotency-Key can have again (e.g. a booking's
        manage token): a retry of a request that died recomputes the same one."""
        digest = hmac.new(self.sealing, f"secret\x00{purpose}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def fingerprint(self, request, kwargs) -> str:
        payload = json.dumps([request.path, kwargs, request.data], sort_keys=True, default=str)
        return hmac.new(self.fingerprinting, payload.encode(), hashlib.sha256).hexdigest()

    def _context(self, status: int) -> bytes:
        return f"{self.scope}\x00{self.lookup}\x00{status}".encode()

    def seal(self, status: int, body) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(body, cls=JSONEncoder).encode()
        return nonce + AESGCM(self.sealing).encrypt(nonce, plain, self._context(status))

    def open(self, status: int, sealed: bytes):
        sealed = bytes(sealed)
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return json.loads(AESGCM(self.sealing).decrypt(nonce, ciphertext, self._context(status)))

    def rows(self):
        return IdempotencyKey.objects.filter(scope=self.scope, key_hash=self.lookup)


def _key_sets(scope: str, key: str) -> list[_Keys]:
    """Under SECRET_KEY first, then under each of SECRET_KEY_FALLBACKS."""
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [_Keys.derive(scope, key, secret) for secret in secrets]


def _claim(key_sets: list[_Keys], request, kwargs) -> tuple[_Keys, IdempotencyKey | None]:
    """Claim the key. Returns the keys of its row and None when we own it now, or the row
    to answer from."""
    current, *older = key_sets
    for keys in older:  # first used before SECRET_KEY was rotated
        record = keys.rows().first()
        if record is not None:
            return keys, _existing(keys, record, keys.fingerprint(request, kwargs))
    digest = current.fingerprint(request, kwargs)
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                scope=current.scope, key_hash=current.lookup, request_hash=digest
            )
    except IntegrityError:
        return current, _existing(current, current.rows().get(), digest)
    return current, None


def _existing(keys: _Keys, record: IdempotencyKey, digest: str) -> IdempotencyKey | None:
    """The first request's row; None when its claim is stale and we took it over."""
    if not hmac.compare_digest(record.request_hash, digest):
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
            keys, record = _claim(_key_sets(scope, key), request, kwargs)
            if record is not None:
                body = keys.open(record.response_status, record.response_sealed)
                response = Response(body, status=record.response_status)
                response["Idempotent-Replayed"] = "true"
                return response
            # The claim, for the handler: what it creates can be tied to this request, so a
            # retry that takes over a dead claim finds it (see bookings.services.booking_create).
            request.idempotency = keys
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                try:
                    response = view.handle_exception(exc)  # the API error shape, as usual
                except Exception:
                    keys.rows().delete()
                    raise
            if response.status_code >= 500:
                keys.rows().delete()
            else:
                keys.rows().update(
                    response_status=response.status_code,
                    response_sealed=keys.seal(response.status_code, response.data),
                )
            return response

        wrapper.idempotency_scope = scope  # config.schema documents the header and its errors
        return wrapper

    return decorator


def purge_expired(now=None) -> int:
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
