"""
Queueing a message to a customer: the one way anything is sent (staff replies, keyword
confirmations, booking and payment notifications, AI replies).

`message_queue` writes the outbound message in the caller's transaction, once per `key` (our
ids, e.g. "keyword-reply-<message id>"; a retried caller gets the first row back), and hands it
to the send task when that transaction commits. The sender (inbox.sending) claims it, asks
compliance again, and calls the channel's provider module. Nothing here talks to a provider.
"""

import logging
import uuid

from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from config import broker
from config.exceptions import ApiError
from inbox import compliance
from inbox.models import (
    STATUS_RANK,
    Channel,
    ChannelKind,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageTemplate,
    Sender,
)

logger = logging.getLogger(__name__)

QUEUE = "notifications"  # messages to customers share the notifications queue


def reply_channel(conversation: Conversation, channel: Channel | None = None) -> Channel | None:
    """The channel to answer on: the one asked for, else the customer's last inbound one (the
    contact form is answered by the station's e-mail), else SMS when the customer agreed to
    texts, else e-mail."""
    station_channels = Channel.objects.filter(station_id=conversation.station_id, active=True)
    if channel is not None:
        return channel if channel.station_id == conversation.station_id else None
    last = conversation.last_inbound_channel
    if last is not None and last.active and last.kind != ChannelKind.WEB:
        return last
    customer = conversation.customer
    if last is None and customer.sms_opt_in and customer.phone:
        sms = station_channels.filter(
            kind__in=[ChannelKind.SMS_TWILIO, ChannelKind.SMS_RINGCENTRAL]
        ).first()
        if sms is not None:
            return sms
    return station_channels.filter(kind=ChannelKind.EMAIL).first()


def message_queue(
    *,
    conversation: Conversation,
    channel: Channel,
    body: str,
    sender: str,
    author=None,
    subject: str = "",
    template: MessageTemplate | None = None,
    automated: bool = False,
    opt_out_confirmation: bool = False,
    key: str | None = None,
    refused: str = "",
) -> Message:
    """Write one outbound message (queued) and send it after the caller's transaction commits.
    `key` makes it idempotent: a second call with the same key returns the first message.
    `refused` (why compliance forbids it) records it in the thread as not sent, unsent."""
    key = key or f"message-{uuid.uuid4().hex}"
    existing = Message.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                channel=channel,
                direction=Direction.OUTBOUND,
                sender=sender,
                author=author,
                automated=automated,
                opt_out_confirmation=opt_out_confirmation,
                subject=subject[:300],
                body=body,
                template=template,
                idempotency_key=key,
                status=MessageStatus.NOT_SENT if refused else MessageStatus.QUEUED,
                status_rank=STATUS_RANK[MessageStatus.NOT_SENT] if refused else 0,
                error=f"not sent: {refused}"[:2000] if refused else "",
                created_at=now,
            )
    except IntegrityError:
        return Message.objects.get(idempotency_key=key)
    _thread_sent(conversation, message, human=sender == Sender.USER and not refused)
    if not refused:
        transaction.on_commit(lambda: enqueue_send(message.pk))
    return message


def _thread_sent(conversation: Conversation, message: Message, *, human: bool) -> None:
    """The thread's clock and preview; a person's reply answers the customer (no longer
    waiting; the first such reply is the first response)."""
    from inbox.services import _preview

    fields = {
        "last_message_at": message.created_at,
        "last_message_preview": _preview(message.body or message.subject),
    }
    if human:
        fields.update(
            waiting_since=None,
            unread=False,
            first_response_at=Coalesce(
                "first_response_at",
                # Only once the customer has written: a first outbound message is no response.
                _when_customer_wrote(message.created_at),
            ),
        )
    Conversation.objects.filter(pk=conversation.pk).update(**fields)


def _when_customer_wrote(at):
    from django.db.models import Case, Value, When

    return Case(When(last_inbound_at__isnull=False, then=Value(at)), default=None)


def enqueue_send(message_id: int) -> None:
    """Hand one message to the send task; a broker that is down loses nothing (the sweeper
    finds it queued)."""
    from inbox.tasks import send_message

    try:
        broker.enqueue(send_message, message_id, queue=QUEUE)
    except Exception:
        logger.warning("message %s not enqueued; the sweeper will", message_id)


def reply_send(
    *,
    conversation: Conversation,
    author,
    body: str,
    channel: Channel | None = None,
    template: MessageTemplate | None = None,
    key: str | None = None,
) -> Message:
    """A staff reply: refused at once, with the reason, when compliance forbids it (409
    `send_refused`), else queued on the chosen or the customer's last channel."""
    body = (body or "").strip()
    if channel is not None and channel.station_id != conversation.station_id:
        raise ApiError("No such channel.", code="not_found", status_code=404)
    if template is not None:
        if template.station_id != conversation.station_id:
            raise ApiError("No such template.", code="not_found", status_code=404)
        body = body or template.body
    if not body:
        raise ApiError("Write the reply first.", code="empty_reply", status_code=400)
    target = reply_channel(conversation, channel)
    if target is None:
        raise ApiError(
            "This station has no channel to answer this customer on.",
            code="no_channel",
            status_code=409,
        )
    reason = compliance.send_refusal(
        customer=conversation.customer,
        channel=target,
        conversation_id=conversation.pk,
        template=template if template is not None and template.kind == "whatsapp" else None,
    )
    if reason:
        raise ApiError(f"Not sent: {reason}.", code="send_refused", status_code=409)
    with transaction.atomic():
        return message_queue(
            conversation=conversation,
            channel=target,
            body=body,
            sender=Sender.USER,
            author=author,
            template=template if template is not None and template.kind == "whatsapp" else None,
            key=key,
        )


# --- Booking and payment notifications (DESIGN.md §2: a bookings task hands them over) -------

NOTIFICATION_CHANNEL_KINDS = {
    "sms": (ChannelKind.SMS_TWILIO, ChannelKind.SMS_RINGCENTRAL),  # Twilio preferred
    "email": (ChannelKind.EMAIL,),
}


def notification_channel(station_id: int, channel: str) -> Channel | None:
    """The station's active channel for a notification sent by "sms" or "email", or None."""
    kinds = NOTIFICATION_CHANNEL_KINDS.get(channel, ())
    candidates = Channel.objects.filter(station_id=station_id, kind__in=kinds, active=True)
    by_kind = {c.kind: c for c in candidates.order_by("-created_at")}
    return next((by_kind[kind] for kind in kinds if kind in by_kind), None)


def notification_deliver(notification, channel: str) -> str | None:
    """Deliver a booking or payment notification (bookings.notifications' outbox row, already
    rendered) through the inbox: one automated system message in the customer's thread, under
    the key "notification-<the row's key>" (a retried row finds the same message), on the
    station's SMS channel (Twilio, else RingCentral) for "sms" or its e-mail channel for
    "email". The inbox's sender then applies opt-out, consent and quiet hours, as for every
    message.

    Returns "" when the inbox took it, the reason when compliance refuses it now (the message
    is recorded in the thread as not sent, and the row is dropped with that reason), or None
    when the station has no such channel (bookings then sends it by its own path: e-mail
    through Django's backend, SMS to the log)."""
    from inbox.services import conversation_for

    booking = notification.booking
    target = notification_channel(booking.station_id, channel)
    if target is None:
        return None
    customer = booking.customer
    with transaction.atomic():
        conversation = conversation_for(customer)
        reason = compliance.send_refusal(
            customer=customer, channel=target, conversation_id=conversation.pk, automated=True
        )
        message_queue(
            conversation=conversation,
            channel=target,
            body=notification.text,
            subject=notification.subject if target.kind == ChannelKind.EMAIL else "",
            sender=Sender.SYSTEM,
            automated=True,
            key=f"notification-{notification.key}",
            refused=reason,
        )
    return reason
