"""
POST /api/v1/webhooks/google?token=<GOOGLE_PUSH_TOKEN>: Google Business Profile notifications
by Pub/Sub push (DESIGN.md §5).

1. The `token` query parameter is compared in constant time with GOOGLE_PUSH_TOKEN; missing,
   wrong, or no token configured: 403 in the error shape, nothing stored, nothing queued.
2. The push envelope (shared/samples/google_pubsub_push.json): `message.messageId` and
   `message.data`, base64 of the notification's JSON, whose type (under `type` or
   `notificationType`) NEW_REVIEW or UPDATED_REVIEW names `locationName` and `reviewName`.
   A verified body that is not that shape is 400 (Pub/Sub would redeliver a 5xx forever);
   another notification type is acknowledged (200) and not stored.
3. Stored once under Pub/Sub's messageId (a redelivery is acknowledged and changes nothing);
   the task that fetches the review through reviews.google is queued when the row commits.
No provider is called during the request.
"""

import base64
import binascii
import hmac
import json

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from config.exceptions import error_body
from reviews import services

HANDLED_TYPES = frozenset({"NEW_REVIEW", "UPDATED_REVIEW"})
MAX_NAME = 300


class Malformed(ValueError):
    pass


def _refused() -> JsonResponse:
    return JsonResponse(
        error_body("invalid_signature", "The push token did not match."), status=403
    )


def token_matches(given: str | None) -> bool:
    expected = settings.GOOGLE_PUSH_TOKEN
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _name(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"{what} missing")
    value = value.strip()
    if len(value) > MAX_NAME or not value.isprintable():
        raise Malformed(f"{what} too long or unprintable")
    return value


def parse(body: bytes) -> tuple[str, dict]:
    """(Pub/Sub's messageId, the decoded notification)."""
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Malformed("not JSON") from exc
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise Malformed("message missing")
    message_id = message.get("messageId") or message.get("message_id")
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        message_id = str(message_id)
    message_id = _name(message_id, "message.messageId")
    data = message.get("data")
    if not isinstance(data, str):
        raise Malformed("message.data missing")
    try:
        notification = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise Malformed("message.data is not base64 of JSON") from exc
    if not isinstance(notification, dict):
        raise Malformed("the notification is not an object")
    return message_id, notification


@csrf_exempt
def google_webhook(request):
    if request.method != "POST":
        body = error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
        return JsonResponse(body, status=405, headers={"Allow": "POST"})
    if not token_matches(request.GET.get("token")):
        return _refused()
    try:
        message_id, notification = parse(request.body)
        kind = notification.get("type") or notification.get("notificationType")
        if kind not in HANDLED_TYPES:
            return JsonResponse({"received": True, "ignored": True})
        location_name = _name(notification.get("locationName"), "locationName")
        review_name = _name(notification.get("reviewName"), "reviewName")
    except Malformed as exc:
        body = error_body("invalid_payload", f"Malformed push: {exc}.")
        return JsonResponse(body, status=400)
    row = services.google_notification_record(
        message_id=message_id,
        notification_type=kind,
        location_name=location_name,
        review_name=review_name,
    )
    return JsonResponse({"received": True, "duplicate": row is None})
