"""
What may be sent, to whom, and when (the inbox's compliance rules, in one place).

- SMS keywords, any case, alone in the message (surrounding spaces and a final "." or "!"
  allowed): STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT opt the number out of
  every SMS channel of the station; START, YES, UNSTOP lift an opt-out; HELP, INFO get the
  station's help text. The opt-out is applied in the webhook's transaction; the one
  confirmation is sent by the inbound task (`keyword_reply`), for the message that changed the
  state only, so a second STOP gets no second confirmation.
- `send_refusal` is asked by every outbound path (staff replies, reminders and notifications,
  AI) before a message is queued and again by the sender before the provider is called: an
  opted-out number, a customer marked do not contact or erased, a channel switched off, a
  WhatsApp free-text message outside the 24-hour customer-service window (only approved
  templates then; marketing templates never to +1 numbers), Messenger and Instagram outside
  their 24-hour window, and, for automated messages, no consent on that channel.
- Automated messages wait for the end of the station's quiet hours (`quiet_until`).
"""

import re
from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from bookings.models import Customer
from bookings.scheduling import station_tz
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Direction,
    IdentityKind,
    Message,
    MessageTemplate,
    TemplateCategory,
    TemplateKind,
)
from stations.models import Station

STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

SERVICE_WINDOW = timedelta(hours=24)  # WhatsApp, Messenger and Instagram
WINDOWED_KINDS = frozenset({ChannelKind.WHATSAPP, ChannelKind.MESSENGER, ChannelKind.INSTAGRAM})

_KEYWORD_SHAPE = re.compile(r"\s*([A-Za-z]+)\s*[.!]?\s*")


def keyword_of(text: str) -> str | None:
    """ "stop", "start" or "help" when the message is one such keyword alone, else None."""
    match = _KEYWORD_SHAPE.fullmatch(text or "")
    if not match:
        return None
    word = match.group(1).upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def keyword_apply(*, identity: ContactIdentity, text: str, now: datetime) -> str | None:
    """Apply an SMS keyword to the number's opt-out state (in the caller's transaction).
    STOP also withdraws the customer's SMS consent; START restores it (they asked for texts)."""
    keyword = keyword_of(text)
    if keyword == "stop":
        changed = ContactIdentity.objects.filter(pk=identity.pk, opted_out=False).update(
            opted_out=True, opted_out_at=now
        )
        Customer.objects.filter(pk=identity.customer_id).update(sms_opt_in=False)
        if changed:
            identity.opted_out, identity.opted_out_at = True, now
    elif keyword == "start":
        changed = ContactIdentity.objects.filter(pk=identity.pk, opted_out=True).update(
            opted_out=False, opted_in_at=now
        )
        if changed:
            Customer.objects.filter(pk=identity.customer_id).update(sms_opt_in=True)
            identity.opted_out, identity.opted_in_at = False, now
    return keyword


def help_text(station: Station) -> str:
    if station.sms_help_text:
        return station.sms_help_text
    contact = f" Call {station.phone}." if station.phone else ""
    return f"{station.name}: reply here and we'll get back to you.{contact} Reply STOP to opt out."


def keyword_reply_text(*, keyword: str, message: Message) -> str | None:
    """The confirmation owed for this inbound keyword message, or None (a repeated STOP, a
    YES that lifted nothing, an ordinary message)."""
    identity = message.identity
    station = message.channel.station
    if keyword == "stop" and identity.opted_out and identity.opted_out_at == message.created_at:
        return (
            f"{station.name}: you're unsubscribed and will get no more texts from us. "
            "Reply START to resubscribe."
        )
    if keyword == "start" and not identity.opted_out and identity.opted_in_at == message.created_at:
        return (
            f"{station.name}: you're resubscribed to our texts. "
            "Reply STOP to opt out, HELP for help."
        )
    if keyword == "help":
        return help_text(station)
    return None


def keyword_reply(*, message: Message) -> Message | None:
    """Queue the confirmation of a keyword message, once: STOP and START once per change of
    the number's state, HELP once per message."""
    from inbox import outbound

    keyword = keyword_of(message.body)
    if keyword is None or message.identity is None:
        return None
    text = keyword_reply_text(keyword=keyword, message=message)
    if text is None:
        return None
    identity = message.identity
    if keyword == "stop":
        # One confirmation per opt-out, not per message: two STOPs stamped the same instant
        # (a provider's clock, to the millisecond or second) both look like the one that
        # changed the state.
        key = f"keyword-stop-{identity.pk}-{identity.opted_out_at.isoformat()}"
    elif keyword == "start":
        key = f"keyword-start-{identity.pk}-{identity.opted_in_at.isoformat()}"
    else:
        key = f"keyword-reply-{message.pk}"
    return outbound.message_queue(
        conversation=message.conversation,
        channel=message.channel,
        body=text,
        sender="system",
        automated=False,  # an answer the customer just asked for: not held for quiet hours
        opt_out_confirmation=keyword == "stop",
        key=key,
    )


# --- May this be sent? -----------------------------------------------------------------------


def identity_for(customer: Customer, channel: Channel) -> ContactIdentity | None:
    return (
        ContactIdentity.objects.filter(customer=customer, kind=channel.identity_kind)
        .order_by("-created_at")
        .first()
    )


def is_opted_out(customer: Customer) -> bool:
    """True when any of the customer's numbers texted STOP (and not START since), or their
    phone number did: the opt-out belongs to the number, also when it was another customer's
    of the station when it texted STOP."""
    numbers = Q(customer=customer)
    if customer.phone:
        numbers |= Q(station_id=customer.station_id, external_id=customer.phone)
    return ContactIdentity.objects.filter(numbers, kind=IdentityKind.SMS, opted_out=True).exists()


def last_inbound_on(conversation_id: int, kind: str) -> datetime | None:
    return (
        Message.objects.filter(
            conversation_id=conversation_id, direction=Direction.INBOUND, channel__kind=kind
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def window_open(conversation_id: int, kind: str, now: datetime) -> bool:
    last = last_inbound_on(conversation_id, kind)
    return last is not None and now - last < SERVICE_WINDOW


def send_refusal(
    *,
    customer: Customer,
    channel: Channel,
    conversation_id: int,
    template: MessageTemplate | None = None,
    automated: bool = False,
    opt_out_confirmation: bool = False,
    now: datetime | None = None,
) -> str:
    """Why this message must not go out on this channel now, or "" when it may."""
    now = now or timezone.now()
    if not channel.active:
        return "the channel is switched off"
    if customer.erased_at:
        return "the customer's data was erased"
    if customer.do_not_contact and not opt_out_confirmation:
        return "the customer is marked do not contact"
    if channel.kind == ChannelKind.WEB:
        return "the contact form receives only: answer by e-mail or SMS"
    if channel.is_sms:
        return _sms_refusal(customer, automated, opt_out_confirmation)
    if channel.kind == ChannelKind.EMAIL:
        if not customer.email:
            return "the customer has no e-mail address"
        if automated and not customer.email_opt_in:
            return "the customer has not agreed to e-mails"
        return ""
    if identity_for(customer, channel) is None:
        return f"the customer has never written on {channel.get_kind_display()}"
    if channel.kind == ChannelKind.WHATSAPP:
        return _whatsapp_refusal(customer, channel, conversation_id, template, now)
    if not window_open(conversation_id, channel.kind, now):
        return (
            f"outside {channel.get_kind_display()}'s 24-hour window: the customer last wrote "
            "there more than 24 hours ago"
        )
    return ""


def _sms_refusal(customer: Customer, automated: bool, opt_out_confirmation: bool) -> str:
    if (
        not customer.phone
        and not ContactIdentity.objects.filter(customer=customer, kind=IdentityKind.SMS).exists()
    ):
        return "the customer has no phone number"
    if is_opted_out(customer) and not opt_out_confirmation:
        return "the customer texted STOP: no SMS until they text START"
    if automated and not customer.sms_opt_in:
        return "the customer has not agreed to texts"
    return ""


def _whatsapp_refusal(
    customer: Customer,
    channel: Channel,
    conversation_id: int,
    template: MessageTemplate | None,
    now: datetime,
) -> str:
    if template is not None:
        if template.kind != TemplateKind.WHATSAPP or not template.approved:
            return "only templates Meta approved can be sent on WhatsApp"
        identity = identity_for(customer, channel)
        number = (identity.phone if identity else "") or customer.phone
        if template.category == TemplateCategory.MARKETING and (
            not number or number.startswith("+1")
        ):
            return "marketing templates are never sent to US (+1) numbers"
        return ""
    if not window_open(conversation_id, channel.kind, now):
        return (
            "outside WhatsApp's 24-hour customer-service window: only an approved template "
            "can be sent"
        )
    return ""


def quiet_until(station: Station, now: datetime) -> datetime | None:
    """When the station's quiet hours end, if `now` is inside them (automated messages wait
    until then); None outside them. Computed in the station's zone, right across DST."""
    zone = station_tz(station)
    local = now.astimezone(zone)
    start, end = station.quiet_hours_start, station.quiet_hours_end
    if start == end:
        return None
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    wake = datetime.combine(day, end).replace(tzinfo=zone)
    # A wall time that does not exist (spring forward) is read by zoneinfo as the instant
    # after the gap; through UTC it becomes a real instant. A wall time that happens twice
    # (fall back) is its first instance, unless that one has passed: inside the repeated hour
    # the quiet hours end at its second instance.
    if wake.astimezone(UTC) <= now:
        wake = wake.replace(fold=1)
    return wake.astimezone(UTC)
