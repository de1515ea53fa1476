"""
POST /api/v1/webhooks/twilio (inbound SMS) and /api/v1/webhooks/twilio/status (delivery
status callbacks; the sender puts `?m=<our message id>` on the StatusCallback URL). One view:
a request carrying MessageStatus (other than "received") is a status callback on either URL.

Verification: X-Twilio-Signature with twilio's RequestValidator and the auth token of the
channel the request is about (inbound: the `To` number; status: the `From` number), over the
public URL: PUBLIC_BASE_URL + path + query string, which is what Twilio signed even when a TLS
proxy sits in front of us. A number we don't serve is checked with the environment's token and
acknowledged. Anything unsigned, wrongly signed, or for a channel without a token: 403.

Inbound messages are stored in the inbound ledger (inbox.ledger: one INSERT, threaded by a
drain task), except SMS keywords (STOP, START, HELP...), threaded here so an opt-out holds from
the moment Twilio has our answer. The channel's routing and token come from inbox.ledger's
short-lived per-process cache (`twilio_route`).

Answers an empty TwiML <Response/>, so Twilio itself sends nothing back.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from inbox import compliance, ledger, services
from inbox.models import ChannelKind, MessageStatus
from inbox.services import SenderInfo
from inbox.webhooks import (
    E164,
    Malformed,
    busy_is_503,
    clean,
    e164,
    malformed,
    method_not_allowed,
    positive_int,
    refused,
)
from inbox.webhooks import provider_id as provider_id_of

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Twilio's MessageStatus values we record; queued, accepted, scheduled, sending, canceled say
# nothing our own status does not already say.
STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "read": MessageStatus.READ,
}
INBOUND_STATUSES = {"", "received", "receiving"}


@dataclass(frozen=True)
class Inbound:
    to: str
    sender: str
    message_sid: str
    body: str


@dataclass(frozen=True)
class Status:
    our_number: str
    message_sid: str
    status: str  # Twilio's
    error_code: str


def twiml() -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def _public_url(request) -> str:
    return settings.PUBLIC_BASE_URL + request.get_full_path()


def _verified(request, auth_token: str) -> bool:
    signature = request.headers.get("X-Twilio-Signature")
    if not signature or not auth_token:
        return False
    return RequestValidator(auth_token).validate(_public_url(request), request.POST, signature)


def parse(form) -> Inbound | Status:
    status = (form.get("MessageStatus") or "").strip().lower()
    sid = provider_id_of(form.get("MessageSid") or form.get("SmsSid"), "MessageSid")
    if status not in INBOUND_STATUSES:
        return Status(
            our_number=(form.get("From") or "").strip(),
            message_sid=sid,
            status=status,
            error_code=clean(form.get("ErrorCode")).strip()[:20],
        )
    return Inbound(
        to=(form.get("To") or "").strip(),
        sender=e164(form.get("From"), "From"),
        message_sid=sid,
        body=clean(form.get("Body")),
    )


@csrf_exempt
@busy_is_503
def twilio_webhook(request):
    if request.method != "POST":
        return method_not_allowed(request, "POST")
    form = request.POST
    is_status = (form.get("MessageStatus") or "").strip().lower() not in INBOUND_STATUSES
    our_number = ((form.get("From") if is_status else form.get("To")) or "").strip()
    route = ledger.twilio_route(our_number) if E164.fullmatch(our_number) else None
    token = route.auth_token if route is not None else settings.TWILIO_AUTH_TOKEN
    if not _verified(request, token):
        return refused()
    try:
        event = parse(form)
    except Malformed as exc:
        return malformed(exc)
    if route is None:
        return twiml()  # verified, but not a number of ours: acknowledged, nothing stored
    if isinstance(event, Inbound) and compliance.keyword_of(event.body) is None:
        ledger.inbound_record(
            channel_id=route.channel_id,
            sender=event.sender,
            provider_message_id=event.message_sid,
            body=event.body,
        )
        return twiml()
    # A keyword or a status: the channel itself (not cached: it may have been switched off).
    channel = services.channel_find(kind=ChannelKind.SMS_TWILIO, address=our_number)
    if channel is None:
        return twiml()
    if isinstance(event, Inbound):
        _receive(channel, event)
    else:
        _apply_status(channel, event, our_message_id=positive_int(request.GET.get("m")))
    return twiml()


@transaction.atomic
def _receive(channel, event: Inbound) -> None:
    """The slow path, for SMS keywords: threaded (and the opt-out applied) in the request."""
    services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=event.sender, phone=event.sender),
        provider_message_id=event.message_sid,
        body=event.body,
        received_at=timezone.now(),
    )


def _apply_status(channel, event: Status, *, our_message_id: int | None) -> None:
    status = STATUSES.get(event.status)
    if status is None:
        return  # a status that adds nothing: acknowledged
    services.status_apply(
        channel=channel,
        provider_message_id=event.message_sid,
        status=status,
        error=f"Twilio error {event.error_code}" if event.error_code else "",
        at=timezone.now(),
        our_message_id=our_message_id,
    )
