"""
POST /api/v1/webhooks/ringcentral.

- Subscription handshake: a request carrying `Validation-Token` (RingCentral sends one when a
  subscription is made) gets the header echoed, 200 and an empty body, at once; nothing stored.
- Notifications carry the subscription's `Verification-Token`, compared in constant time with
  the token of the channel the notification is about (the one whose subscription it is, else
  the one its number belongs to), or, for a notification about no channel of ours, with the
  environment's or any RingCentral channel's own token. Missing or wrong: 403, nothing stored.
- The instant message-store event of an SMS (shared/samples/ringcentral_instant_sms.json): an
  Inbound one is stored as a message of the channel its `to[].phoneNumber` belongs to (not of
  the channel whose subscription delivered it: stations sharing one RingCentral app get every
  SMS once per subscription), when the token is that channel's too; to a number of no channel
  (a forwarded one), of the subscription's channel. Under RingCentral's message id, so the
  copies are one message. An Outbound one that carries a delivery status (messageStatus Sent,
  Delivered, DeliveryFailed, SendingFailed) moves our message forward, never back.
  Other events (renewal reminders, other message types) are acknowledged and ignored.
"""

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
    E164,
    Malformed,
    busy_is_503,
    clean,
    e164,
    iso_moment,
    malformed,
    method_not_allowed,
    need,
    optional,
    provider_id,
    refused,
    secret_matches,
)

INSTANT_SMS_EVENT = "/message-store/instant"
STATUSES = {
    "Sent": MessageStatus.SENT,
    "Delivered": MessageStatus.DELIVERED,
    "DeliveryFailed": MessageStatus.FAILED,
    "SendingFailed": MessageStatus.FAILED,
}


@dataclass(frozen=True)
class Sms:
    message_id: str
    direction: str  # Inbound, Outbound
    our_numbers: tuple[str, ...]  # inbound: to[]; outbound: from
    sender: str  # inbound: the customer's number
    text: str
    status: str  # RingCentral's messageStatus
    at: datetime


def parse(payload) -> Sms | None:
    """The SMS of an instant message-store notification, or None for any other event."""
    event = need(payload, "event", str)
    body = need(payload, "body", dict)
    if INSTANT_SMS_EVENT not in event or body.get("type") != "SMS":
        return None
    direction = need(body, "direction", str, "body")
    message_id = provider_id(body.get("id"), "body.id")
    if direction == "Inbound":
        to = need(body, "to", list, "body")
        numbers = tuple(
            entry["phoneNumber"].strip()
            for entry in to
            if isinstance(entry, dict) and isinstance(entry.get("phoneNumber"), str)
        )
        sender = e164(need(body, "from", dict, "body").get("phoneNumber"), "body.from")
    else:
        sender = ""
        numbers = (optional(optional(body, "from", dict, {}), "phoneNumber", str, ""),)
    return Sms(
        message_id=message_id,
        direction=direction,
        our_numbers=tuple(n for n in numbers if E164.fullmatch(n or "")),
        sender=sender,
        text=clean(optional(body, "subject", str, "")),
        status=optional(body, "messageStatus", str, ""),
        at=iso_moment(body.get("creationTime")),
    )


def _subscription_channel(payload) -> Channel | None:
    """The channel whose subscription delivered the notification (its token must sign it)."""
    subscription_id = optional(payload, "subscriptionId", str, "")
    if subscription_id and subscription_id.isprintable() and len(subscription_id) <= 80:
        return (
            Channel.objects.select_related("station")
            .filter(kind=ChannelKind.SMS_RINGCENTRAL, active=True, subscription_id=subscription_id)
            .first()
        )
    return None


def _number_channel(sms: Sms | None) -> Channel | None:
    """The channel of the number the SMS was sent to (inbound) or from (our outbound)."""
    for number in sms.our_numbers if sms else ():
        channel = services.channel_find(kind=ChannelKind.SMS_RINGCENTRAL, address=number)
        if channel is not None:
            return channel
    return None


def _token_of(channel: Channel) -> str:
    return credentials.for_channel(channel)["verification_token"]


def _any_known_token(given: str) -> bool:
    if secret_matches(given, settings.RINGCENTRAL_VERIFICATION_TOKEN):
        return True
    own = Channel.objects.filter(kind=ChannelKind.SMS_RINGCENTRAL, credentials_sealed__isnull=False)
    return any(
        secret_matches(given, credentials.for_channel(channel)["verification_token"])
        for channel in own
    )


@csrf_exempt
@busy_is_503
def ringcentral_webhook(request):
    if request.method != "POST":
        return method_not_allowed(request, "POST")
    validation = request.headers.get("Validation-Token")
    if validation is not None:
        echo = validation.strip()[:512]
        return HttpResponse(b"", status=200, headers={"Validation-Token": echo})
    given = request.headers.get("Verification-Token") or ""
    if not given:
        return refused("The Verification-Token header is missing.")
    try:
        payload = json.loads(request.body)
        sms = parse(payload)
        error = None
    except (ValueError, RecursionError) as exc:  # Malformed, bad JSON, bad UTF-8
        payload, sms, error = None, None, exc
    subscription = _subscription_channel(payload) if error is None else None
    owner = _number_channel(sms) if error is None else None
    # Verified with the token of the subscription that delivered it, else of the number's
    # channel, else (about no channel of ours) with any token we know.
    verifier = subscription or owner
    if verifier is not None:
        verified = secret_matches(given, _token_of(verifier))
    else:
        verified = _any_known_token(given)
    if not verified:
        return refused("The Verification-Token did not match.")
    if error is not None:
        return malformed(error if isinstance(error, Malformed) else Malformed("not JSON"))
    # It belongs to the station of its number, whichever subscription delivered it (stations
    # sharing one RingCentral app subscribe to the same extension and each get every SMS); a
    # number of no channel of ours (forwarded) stays with the subscription's channel. Stored
    # for the number's channel only when the token is that channel's too.
    channel = owner or subscription
    if channel is not verifier and not secret_matches(given, _token_of(channel)):
        channel = None
    if sms is None or channel is None:
        return JsonResponse({"received": True, "ignored": True})
    _apply(channel, sms)
    return JsonResponse({"received": True})


@transaction.atomic
def _apply(channel: Channel, sms: Sms) -> None:
    if sms.direction == "Inbound":
        services.inbound_receive(
            channel=channel,
            sender=SenderInfo(external_id=sms.sender, phone=sms.sender),
            provider_message_id=sms.message_id,
            body=sms.text,
            received_at=sms.at,
        )
    elif sms.status in STATUSES:
        status = STATUSES[sms.status]
        services.status_apply(
            channel=channel,
            provider_message_id=sms.message_id,
            status=status,
            error=f"RingCentral {sms.status}" if status == MessageStatus.FAILED else "",
            at=sms.at,
        )
