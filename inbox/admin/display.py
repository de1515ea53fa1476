"""How the inbox reads to a person: channel badges, delivery ticks, who wrote, how long a
customer has waited, times in the station's zone. Nothing here queries the database."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from config.durations import elapsed
from inbox.models import ChannelKind, Direction, Message, MessageStatus, Sender

BADGES = {
    ChannelKind.SMS_TWILIO: ("SMS", "sms"),
    ChannelKind.SMS_RINGCENTRAL: ("SMS", "sms"),
    ChannelKind.WHATSAPP: ("WhatsApp", "whatsapp"),
    ChannelKind.MESSENGER: ("Messenger", "messenger"),
    ChannelKind.INSTAGRAM: ("Instagram", "instagram"),
    ChannelKind.EMAIL: ("E-mail", "email"),
    ChannelKind.WEB: ("Web form", "web"),
}


def channel_badge(channel) -> str:
    """A small coloured label for the kind of channel ("SMS", "WhatsApp"...); its title says
    which number or account."""
    if channel is None:
        return format_html('<span class="ch-badge ch-none">{}</span>', "—")
    label, css = BADGES.get(channel.kind, (channel.kind, "other"))
    return format_html(
        '<span class="ch-badge ch-{}" title="{}">{}</span>', css, channel.get_kind_display(), label
    )


def waited(since: datetime | None, now: datetime | None = None) -> str:
    """How long the customer has waited, as people say it: "12 min", "3 h 5 min", "2 days"."""
    return elapsed(since, now)


def station_time(value: datetime | None, zone_name: str, fmt: str = "N j, P T") -> str:
    """A moment as the station's people read it, its zone named ("Mar. 4, 10 a.m. PST")."""
    if value is None:
        return "-"
    return date_format(timezone.localtime(value, ZoneInfo(zone_name)), fmt)


def author_name(message: Message, customer_name: str) -> str:
    if message.direction == Direction.INBOUND:
        return customer_name
    if message.sender == Sender.USER:
        if message.author is None:
            return "staff"
        return message.author.get_full_name() or message.author.get_username()
    if message.sender == Sender.AI:
        return "AI reply"
    return "Automatic message"


def delivery(message: Message, zone_name: str = "UTC") -> tuple[str, str]:
    """(text, css class) of a message's delivery state: queued, sent ✓, delivered ✓✓, read,
    failed with the reason, not sent (channel offline...), delivery unknown."""
    status = message.status
    if message.is_note:
        return "private note", "st-note"
    if message.direction == Direction.INBOUND:
        return "received", "st-received"
    if status == MessageStatus.QUEUED:
        if message.send_after and message.send_after > timezone.now():
            return f"queued until {station_time(message.send_after, zone_name)}", "st-queued"
        return "queued", "st-queued"
    if status == MessageStatus.SENDING:
        return "sending…", "st-queued"
    if status == MessageStatus.SENT:
        return "sent ✓", "st-sent"
    if status == MessageStatus.DELIVERED:
        return "delivered ✓✓", "st-delivered"
    if status == MessageStatus.READ:
        return "read ✓✓", "st-read"
    if status == MessageStatus.FAILED:
        return (f"failed: {message.error}" if message.error else "failed"), "st-failed"
    if status == MessageStatus.NOT_SENT:
        reason = message.error or "channel offline"
        # The sender's reasons may already say "not sent: ..." (the offline one does).
        reason = reason.removeprefix("not sent: ").removeprefix("Not sent: ")
        return f"not sent: {reason}", "st-failed"
    if status == MessageStatus.UNKNOWN:
        return "delivery unknown (check before sending again)", "st-unknown"
    return message.get_status_display(), "st-other"
