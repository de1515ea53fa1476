"""
Inbound messaging webhooks (DESIGN.md §5, §8.4): one module per provider, each a thin view that
1. verifies the request (signature or token, in constant time) before anything is stored; a
   bad or missing one answers 403 in the error shape and leaves no row and no task;
2. parses the whole body into plain values first, so a malformed body (after a valid
   signature) answers 400 and stores nothing, never 500;
3. routes each message to its channel by the receiving number, page, WhatsApp phone-number id
   or address; a verified request for an address we don't serve, or of an event type we don't
   handle, is acknowledged (200) and stores nothing;
4. stores messages through inbox.services.inbound_receive (once per provider message id: a
   repeat changes nothing) and statuses through status_apply (never backwards), all in one
   transaction; the background work is enqueued on commit by the service.
No provider is called during a request.
"""

import functools
import hmac
import re
from datetime import UTC, datetime

from django.http import JsonResponse
from django.utils import timezone

from config.exceptions import Conflict, error_body

E164 = re.compile(r"\+[1-9]\d{6,14}")
MAX_ID_LENGTH = 200  # Message.provider_message_id


class Malformed(ValueError):
    """A verified request whose body is not what the provider documents."""


def refused(detail: str = "The request's signature did not verify.") -> JsonResponse:
    return JsonResponse(error_body("invalid_signature", detail), status=403)


def malformed(exc: Malformed) -> JsonResponse:
    return JsonResponse(error_body("invalid_payload", f"Malformed webhook body: {exc}"), status=400)


def busy_is_503(view):
    """Storing lost the same race three times in a row (bookings' customer_upsert, under a
    burst of first messages from one new sender): answer 503 with Retry-After, which every
    provider delivers again; nothing was stored (the transaction rolled back), never a 500."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Conflict:
            body = error_body("try_again", "Busy storing this message; deliver it again.")
            return JsonResponse(body, status=503, headers={"Retry-After": "5"})

    return wrapper


def method_not_allowed(request, allowed: str) -> JsonResponse:
    body = error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
    return JsonResponse(body, status=405, headers={"Allow": allowed})


def secret_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time equality; an unset secret never matches (nothing is accepted unsigned)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def need(container, key, kind, what: str = ""):
    """container[key], which must be of `kind`, else Malformed."""
    if not isinstance(container, dict):
        raise Malformed(f"{what or 'body'} is not an object")
    value = container.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise Malformed(f"{what + '.' if what else ''}{key} missing or of the wrong type")
    return value


def optional(container, key, kind, default=None):
    """container[key] when it is of `kind`, else the default (lenient: unknown fields and
    missing optional ones are fine)."""
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else default


def clean(value) -> str:
    """Text a provider sent, storable: PostgreSQL text holds no NUL character."""
    return value.replace("\x00", "") if isinstance(value, str) else ""


def provider_id(value, what: str) -> str:
    """A provider's id as text (ids may come as numbers), bounded and printable."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Malformed(f"{what} missing")
    text = str(value).strip()
    if not text or len(text) > MAX_ID_LENGTH or not text.isprintable():
        raise Malformed(f"{what} empty, too long or unprintable")
    return text


def e164(value, what: str) -> str:
    if not isinstance(value, str) or not E164.fullmatch(value.strip()):
        raise Malformed(f"{what} is not an E.164 number")
    return value.strip()


def positive_int(value) -> int | None:
    """Our message id echoed by a provider (a query parameter, callback data), if it is one."""
    text = str(value or "").strip()
    if text.isdigit() and len(text) <= 18 and int(text) > 0:
        return int(text)
    return None


def moment(seconds: float | int | str | None, *, divisor: int = 1) -> datetime:
    """A provider's epoch timestamp, never later than now (a clock ahead of ours must not
    move a thread's order); now when absent or unreadable."""
    now = timezone.now()
    try:
        at = datetime.fromtimestamp(float(seconds) / divisor, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return min(at, now)


def iso_moment(value) -> datetime:
    from django.utils.dateparse import parse_datetime

    try:
        at = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    now = timezone.now()
    if at is None or timezone.is_naive(at):
        return now
    return min(at, now)
