"""
GET, POST /api/v1/webhooks/meta: WhatsApp Cloud API, Messenger and Instagram.

- GET (Meta's verification when the webhook is set up): hub.mode=subscribe and hub.verify_token
  equal (constant time) to META_VERIFY_TOKEN or a Meta channel's own verify token: hub.challenge
  echoed as text/plain; anything else 403.
- POST: X-Hub-Signature-256 = "sha256=" + HMAC-SHA256 of the raw body with the app secret
  (META_APP_SECRET, or a channel's own), compared in constant time; else 403, nothing stored.
  A message is stored only for a channel whose app secret signed the request.
- `object` whatsapp_business_account: each change's `messages` (text; other types stored with
  a readable placeholder such as "[image]") go to the channel of `metadata.phone_number_id`;
  the person is `from` (a phone-based wa_id, or the business-scoped user id when WhatsApp
  withholds the number), with contacts[].wa_id as the phone when present and
  contacts[].profile.name as the name. `statuses` (sent, delivered, read, failed) move our
  message forward, never back; biz_opaque_callback_data carries our message id.
- `object` page (Messenger) and instagram: entry[].messaging[] events with sender.id (the
  page- or Instagram-scoped id) and recipient.id (the channel's page or account id): messages
  are stored (echoes of our own sends skipped), delivery receipts mark ours delivered, other
  events are ignored.
Meta retries for days and batches many entries in one POST: each is handled, a repeat is a
no-op, and the whole body is parsed before anything is stored.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from inbox import credentials, services
from inbox.models import Channel, ChannelKind, MessageStatus
from inbox.services import SenderInfo
from inbox.webhooks import (
    Malformed,
    busy_is_503,
    clean,
    malformed,
    method_not_allowed,
    moment,
    need,
    optional,
    positive_int,
    provider_id,
    refused,
    secret_matches,
)

META_KINDS = (ChannelKind.WHATSAPP, ChannelKind.MESSENGER, ChannelKind.INSTAGRAM)
OBJECT_KINDS = {
    "whatsapp_business_account": ChannelKind.WHATSAPP,
    "page": ChannelKind.MESSENGER,
    "instagram": ChannelKind.INSTAGRAM,
}
WHATSAPP_STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}
SIGNATURE_PREFIX = "sha256="


@dataclass(frozen=True)
class Incoming:
    kind: str  # channel kind
    address: str  # phone-number id, page id or Instagram account id
    message_id: str
    sender: SenderInfo
    body: str
    at: datetime


@dataclass(frozen=True)
class StatusUpdate:
    kind: str
    address: str
    message_id: str
    status: str  # ours
    error: str
    at: datetime
    our_message_id: int | None = None


# --- Secrets ---------------------------------------------------------------------------------


def _own_credentials() -> list[tuple[Channel, dict]]:
    """Meta channels that carry their own credentials (most use the environment's)."""
    channels = Channel.objects.filter(kind__in=META_KINDS, credentials_sealed__isnull=False)
    return [(channel, credentials.for_channel(channel)) for channel in channels]


def _secrets(name: str, environment: str) -> set[str]:
    found = {value[name] for _, value in _own_credentials() if value.get(name)}
    if environment:
        found.add(environment)
    return found


def _signed_with(raw: bytes, header: str | None) -> set[str]:
    """The app secrets whose HMAC-SHA256 of the raw body is the header's (empty: refused)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return set()
    given = header[len(SIGNATURE_PREFIX) :].strip().lower()
    return {
        secret
        for secret in _secrets("app_secret", settings.META_APP_SECRET)
        if hmac.compare_digest(hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(), given)
    }


# --- Parsing ---------------------------------------------------------------------------------


def _placeholder(message: dict, kind: str) -> str:
    """Readable text for a message that is not plain text."""
    content = optional(message, kind, dict, {})
    caption = clean(optional(content, "caption", str, "") or optional(content, "filename", str, ""))
    if kind == "button":
        return clean(optional(content, "text", str, "")) or "[button]"
    if kind == "interactive":
        for reply in ("button_reply", "list_reply"):
            title = clean(optional(optional(content, reply, dict, {}), "title", str, ""))
            if title:
                return title
    if kind == "reaction":
        return f"[reaction {clean(optional(content, 'emoji', str, ''))}]".replace(" ]", "]")
    label = f"[{kind.replace('_', ' ')}]" if kind.isidentifier() else "[message]"
    return f"{label} {caption}".strip()


def _whatsapp_sender(message: dict, contacts: list) -> SenderInfo:
    wa_from = provider_id(message.get("from"), "messages[].from")
    contact = next(
        (
            c
            for c in contacts
            if isinstance(c, dict) and wa_from in (c.get("wa_id"), c.get("user_id"))
        ),
        contacts[0] if len(contacts) == 1 and isinstance(contacts[0], dict) else {},
    )
    wa_id = optional(contact, "wa_id", str, "")
    phone = f"+{wa_id}" if wa_id.isdigit() and 7 <= len(wa_id) <= 15 else ""
    name = optional(optional(contact, "profile", dict, {}), "name", str, "")
    return SenderInfo(external_id=wa_from, name=clean(name)[:120], phone=phone)


def _whatsapp(entry: dict) -> list[Incoming | StatusUpdate]:
    found = []
    for change in optional(entry, "changes", list, []):
        if not isinstance(change, dict) or change.get("field") != "messages":
            continue
        value = need(change, "value", dict, "changes[]")
        metadata = need(value, "metadata", dict)
        address = provider_id(metadata.get("phone_number_id"), "phone_number_id")
        contacts = optional(value, "contacts", list, [])
        for message in optional(value, "messages", list, []):
            kind = need(message, "type", str, "messages[]")
            text = need(message, "text", dict, "messages[]") if kind == "text" else None
            found.append(
                Incoming(
                    kind=ChannelKind.WHATSAPP,
                    address=address,
                    message_id=provider_id(message.get("id"), "messages[].id"),
                    sender=_whatsapp_sender(message, contacts),
                    body=clean(text.get("body")) if text else _placeholder(message, kind),
                    at=moment(message.get("timestamp")),
                )
            )
        for status in optional(value, "statuses", list, []):
            name = need(status, "status", str, "statuses[]")
            errors = optional(status, "errors", list, [])
            first = errors[0] if errors and isinstance(errors[0], dict) else {}
            code = first.get("code")
            found.append(
                StatusUpdate(
                    kind=ChannelKind.WHATSAPP,
                    address=address,
                    message_id=provider_id(status.get("id"), "statuses[].id"),
                    status=WHATSAPP_STATUSES.get(name, ""),
                    error=f"WhatsApp error {clean(str(code))[:20]}"
                    if isinstance(code, int | str) and clean(str(code))
                    else "",
                    at=moment(status.get("timestamp")),
                    our_message_id=positive_int(status.get("biz_opaque_callback_data")),
                )
            )
    return found


def _messaging(entry: dict, kind: str) -> list[Incoming | StatusUpdate]:
    found = []
    for event in optional(entry, "messaging", list, []):
        sender = provider_id(need(event, "sender", dict, "messaging[]").get("id"), "sender.id")
        recipient = provider_id(
            need(event, "recipient", dict, "messaging[]").get("id"), "recipient.id"
        )
        at = moment(event.get("timestamp"), divisor=1000)
        message = optional(event, "message", dict)
        delivery = optional(event, "delivery", dict)
        if message is not None:
            if message.get("is_echo"):
                continue  # our own send, reported back
            attachments = optional(message, "attachments", list, [])
            kinds = [a.get("type") for a in attachments if isinstance(a, dict)]
            body = clean(optional(message, "text", str, "")) or " ".join(
                f"[{k}]" for k in kinds if isinstance(k, str) and k.isidentifier()
            )
            found.append(
                Incoming(
                    kind=kind,
                    address=recipient,
                    message_id=provider_id(message.get("mid"), "message.mid"),
                    sender=SenderInfo(external_id=sender),
                    body=body or "[message]",
                    at=at,
                )
            )
        elif delivery is not None:
            # A delivery receipt (message_deliveries): as for a message, sender is the person
            # (PSID) and recipient our page; the mids are our messages they received.
            for mid in optional(delivery, "mids", list, []):
                found.append(
                    StatusUpdate(
                        kind=kind,
                        address=recipient,
                        message_id=provider_id(mid, "delivery.mids[]"),
                        status=MessageStatus.DELIVERED,
                        error="",
                        at=at,
                    )
                )
    return found


def parse(payload) -> list[Incoming | StatusUpdate]:
    """Every message and status of the body (empty for an object we don't handle)."""
    kind = OBJECT_KINDS.get(need(payload, "object", str))
    if kind is None:
        return []
    found = []
    for entry in need(payload, "entry", list):
        if not isinstance(entry, dict):
            raise Malformed("entry[] is not an object")
        found += _whatsapp(entry) if kind == ChannelKind.WHATSAPP else _messaging(entry, kind)
    return found


# --- The view --------------------------------------------------------------------------------


@csrf_exempt
@busy_is_503
def meta_webhook(request):
    if request.method == "GET":
        return _verify_subscription(request)
    if request.method != "POST":
        return method_not_allowed(request, "GET, POST")
    raw = request.body
    signed_with = _signed_with(raw, request.headers.get("X-Hub-Signature-256"))
    if not signed_with:
        return refused()
    try:
        items = parse(json.loads(raw))
    except (ValueError, RecursionError) as exc:  # Malformed, bad JSON, bad UTF-8
        return malformed(exc if isinstance(exc, Malformed) else Malformed("not JSON"))
    stored = _apply(items, signed_with)
    return JsonResponse({"received": True, "handled": stored})


def _verify_subscription(request) -> HttpResponse:
    params = request.GET
    token = params.get("hub.verify_token")
    if params.get("hub.mode") != "subscribe" or not any(
        secret_matches(token, secret)
        for secret in _secrets("verify_token", settings.META_VERIFY_TOKEN)
    ):
        return refused("hub.verify_token did not match.")
    return HttpResponse(params.get("hub.challenge", ""), content_type="text/plain")


@transaction.atomic
def _apply(items: list[Incoming | StatusUpdate], signed_with: set[str]) -> int:
    """Store each item for its channel (when that channel's app secret signed the request)."""
    channels: dict[tuple[str, str], Channel | None] = {}
    handled = 0
    for item in items:
        key = (item.kind, item.address)
        if key not in channels:
            channel = services.channel_find(kind=item.kind, address=item.address)
            if channel is not None and credentials.for_channel(channel)["app_secret"] not in (
                signed_with
            ):
                channel = None  # signed by another app than this channel's
            channels[key] = channel
        channel = channels[key]
        if channel is None:
            continue
        if isinstance(item, Incoming):
            services.inbound_receive(
                channel=channel,
                sender=item.sender,
                provider_message_id=item.message_id,
                body=item.body,
                received_at=item.at,
            )
        elif item.status:
            services.status_apply(
                channel=channel,
                provider_message_id=item.message_id,
                status=item.status,
                error=item.error,
                at=item.at,
                our_message_id=item.our_message_id,
            )
        handled += 1
    return handled
