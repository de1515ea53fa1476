"""
Inbound e-mail through django-anymail: POST /api/v1/webhooks/email/postmark/inbound/ (Postmark,
the documented provider: set it as the server's inbound webhook URL, with the basic-auth
credentials of ANYMAIL_WEBHOOK_SECRET in it: https://user:password@host/...).

- anymail's own checks run (basic auth against WEBHOOK_SECRET, in constant time); a request
  that fails them answers 403 and stores nothing. With no WEBHOOK_SECRET configured, anymail
  would only warn and accept anyone's mail: here the endpoint refuses everything (403) instead.
- A body Postmark would not send (not JSON, not an inbound record) answers 400, stores nothing.
- anymail sends its `inbound` signal for each message; `email_received` (thin edge code)
  routes it by recipient (the envelope recipient, then To, Cc, Bcc; case-insensitive) to an
  e-mail channel and stores it with inbox.services.inbound_receive, once per Message-ID header
  (a hash of the message when it has none). Mail for an address we don't serve is
  acknowledged and dropped.
"""

import hashlib
import json
from dataclasses import dataclass

from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailError,
    AnymailWebhookValidationFailure,
)
from anymail.signals import inbound
from anymail.utils import get_anymail_setting
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.dispatch import receiver
from django.urls import path
from django.utils import timezone
from django.utils.html import strip_tags
from django.views.decorators.csrf import csrf_exempt

from inbox import services
from inbox.models import Channel, ChannelKind
from inbox.services import SenderInfo
from inbox.webhooks import MAX_ID_LENGTH, Malformed, busy_is_503, clean, malformed, refused

MAX_RECIPIENTS = 50


@dataclass(frozen=True)
class Mail:
    recipients: tuple[str, ...]  # lower-cased, the envelope recipient first
    sender: str  # lower-cased address
    name: str
    message_id: str
    subject: str
    body: str


class PostmarkInbound(PostmarkInboundWebhookView):
    """anymail's Postmark inbound view; a body it cannot read is Malformed (400), not 500."""

    def parse_events(self, request):
        try:
            events = super().parse_events(request)
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            AnymailError,
            AnymailConfigurationError,  # another Postmark webhook (bounces...) pointed here
        ) as exc:
            raise Malformed("not a Postmark inbound message") from exc
        return events


def _secret_configured() -> bool:
    secret = get_anymail_setting("webhook_secret", default=None)
    return bool(secret)


@csrf_exempt
@busy_is_503
def postmark_inbound(request, *args, **kwargs):
    if not _secret_configured():
        return refused("Inbound e-mail is off: ANYMAIL_WEBHOOK_SECRET is not set.")
    try:
        return PostmarkInbound.as_view()(request, *args, **kwargs)
    except AnymailWebhookValidationFailure:
        return refused("Missing or wrong basic auth.")
    except Malformed as exc:
        return malformed(exc)


urlpatterns = [path("postmark/inbound/", postmark_inbound, name="email-postmark-inbound")]


# --- The receiver ----------------------------------------------------------------------------


def _addresses(message) -> tuple[str, ...]:
    found = []
    if message.envelope_recipient:
        found.append(str(message.envelope_recipient))
    for header in ("To", "Cc", "Bcc"):
        found += [address.addr_spec for address in message.get_address_header(header)]
    unique = dict.fromkeys(a.strip().lower() for a in found if a and "@" in a and len(a) <= 254)
    return tuple(unique)[:MAX_RECIPIENTS]


def _message_id(message, esp_event) -> str:
    header = clean(str(message["Message-ID"] or "")).strip()
    if header and len(header) <= MAX_ID_LENGTH and header.isprintable():
        return header
    # The raw message when the provider sent it, else what it sent about the message (the same
    # on a retry; a message anymail builds from parts gets a new MIME boundary every time).
    raw = esp_event.get("RawEmail") if isinstance(esp_event, dict) else None
    if not isinstance(raw, str):
        raw = json.dumps(esp_event, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


def mail_of(event) -> Mail:
    """The parts of an anymail inbound event the inbox keeps (Malformed when unreadable)."""
    message = event.message
    try:
        sender = message.from_email
        if isinstance(sender, list):  # a legal but rare multiple From: the first wrote it
            sender = sender[0] if sender else None
        if sender is None or "@" not in (sender.addr_spec or ""):
            raise Malformed("no From address")
        text = message.text
        body = text if (text or "").strip() else strip_tags(message.html or "")
        return Mail(
            recipients=_addresses(message),
            sender=clean(sender.addr_spec).strip().lower()[:254],
            name=clean(sender.display_name or "").strip()[:120],
            message_id=_message_id(message, event.esp_event),
            subject=clean(str(message.subject or "")).strip()[:300],
            body=clean(body).strip(),
        )
    except Malformed:
        raise
    except (ValueError, TypeError, AttributeError, LookupError, AnymailError) as exc:
        raise Malformed("the message's headers could not be read") from exc


def _channel(recipients: tuple[str, ...]) -> Channel | None:
    for address in recipients:
        channel = (
            Channel.objects.select_related("station")
            .filter(kind=ChannelKind.EMAIL, active=True, address__iexact=address)
            .first()
        )
        if channel is not None:
            return channel
    return None


@receiver(inbound, dispatch_uid="inbox.webhooks.email.email_received")
def email_received(sender, event, esp_name, **kwargs):
    mail = mail_of(event)
    channel = _channel(mail.recipients)
    if channel is None:
        return  # not an address of ours: acknowledged, stored nowhere
    services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=mail.sender, name=mail.name, email=mail.sender),
        provider_message_id=mail.message_id,
        body=mail.body,
        subject=mail.subject,
        received_at=timezone.now(),
    )
