"""
Writes of the inbox: receiving a message, threading it, delivery statuses, and what staff do to
a conversation. Keyword-only functions, one transaction each.

Receiving (`inbound_receive`) is what every webhook calls after verifying the request:
- A provider message already stored for that channel is acknowledged and changes nothing
  (checked first, and kept by the unique constraint under a race: the loser's savepoint rolls
  back and it answers "duplicate").
- The sender is found by (station, identity kind, external id); a new identity joins the
  station's customer with the same phone or e-mail, else a new customer is made. An
  unauthenticated sender never changes a stored customer's name or contact data.
- SMS keywords (STOP..., START..., HELP) change the opt-out state in the same transaction, so
  nothing sent after the webhook answered reaches an opted-out number; their one confirmation
  is queued by the inbound task.
- The background work (keyword replies; drafts later) is enqueued when the transaction commits;
  a lost task is found again by the sweeper (`inbound_unprocessed`).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from bookings.models import Customer
from bookings.services import customer_upsert
from config import broker
from config.exceptions import ApiError
from inbox import compliance
from inbox.ai import ladder
from inbox.models import (
    STATUS_RANK,
    Channel,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Direction,
    IdentityKind,
    Message,
    MessageStatus,
    Sender,
)
from stations.models import Station

logger = logging.getLogger(__name__)

PREVIEW_LENGTH = Conversation._meta.get_field("last_message_preview").max_length
INBOUND_GRACE_SECONDS = 120  # an inbound message unprocessed this long lost its task


# --- Routing ---------------------------------------------------------------------------------


def channel_find(*, kind: str, address: str) -> Channel | None:
    """The active channel that receives on this address (a number, page, phone-number id or
    e-mail address), or None: a webhook for an address we don't serve is acknowledged and
    stored nowhere."""
    return (
        Channel.objects.select_related("station")
        .filter(kind=kind, address=address, active=True)
        .first()
    )


# --- Identities and threads --------------------------------------------------------------------


@dataclass(frozen=True)
class SenderInfo:
    """Who wrote, as the provider told us."""

    external_id: str
    name: str = ""
    phone: str = ""  # E.164, when known
    email: str = ""


def _identity_contact(kind: str, sender: SenderInfo) -> tuple[str, str]:
    """(phone, e-mail) that let an identity join an existing customer."""
    phone, email = sender.phone, sender.email.strip().lower()
    if kind == IdentityKind.SMS:
        phone = phone or sender.external_id
    if kind == IdentityKind.EMAIL:
        email = email or sender.external_id.strip().lower()
    return phone, email


def identity_resolve(*, station: Station, kind: str, sender: SenderInfo) -> ContactIdentity:
    """The identity (kind, external id) at the station, made on first contact. A new identity
    joins the customer with the same phone or e-mail; an unknown sender becomes a new customer
    (its stored details are never overwritten from here). Safe under concurrent first
    messages: the unique constraints decide, the loser reads the winner's row."""
    existing = ContactIdentity.objects.filter(
        station=station, kind=kind, external_id=sender.external_id
    ).first()
    if existing is not None:
        return existing
    phone, email = _identity_contact(kind, sender)
    name = (sender.name or "").strip()[:120] or _placeholder_name(kind, sender)
    try:
        # The customer is made in the identity's savepoint: a concurrent first message that
        # loses the race on the identity leaves no customer of its own behind.
        with transaction.atomic():
            if phone or email:
                customer = customer_upsert(
                    station=station, name=name, email=email, phone=phone, update_existing=False
                )
            else:
                customer = Customer.objects.create(station=station, name=name)
            return ContactIdentity.objects.create(
                station=station,
                customer=customer,
                kind=kind,
                external_id=sender.external_id,
                display_name=(sender.name or "")[:120],
                phone=phone,
            )
    except IntegrityError:
        return ContactIdentity.objects.get(
            station=station, kind=kind, external_id=sender.external_id
        )


def _placeholder_name(kind: str, sender: SenderInfo) -> str:
    if sender.email:
        return sender.email.split("@")[0][:120]
    label = IdentityKind(kind).label if kind in IdentityKind.values else kind
    return f"New contact ({label})"


def conversation_for(customer: Customer) -> Conversation:
    """The customer's one thread at their station, made on first use (race-safe)."""
    conversation = Conversation.objects.filter(customer=customer).first()
    if conversation is not None:
        return conversation
    try:
        with transaction.atomic():
            return Conversation.objects.create(station_id=customer.station_id, customer=customer)
    except IntegrityError:
        return Conversation.objects.get(customer=customer)


# --- Receiving -------------------------------------------------------------------------------


@transaction.atomic
def inbound_receive(
    *,
    channel: Channel,
    sender: SenderInfo,
    provider_message_id: str,
    body: str,
    subject: str = "",
    received_at: datetime | None = None,
) -> Message | None:
    """Store one inbound message in its customer's thread, once. Returns the new message, or
    None when this channel already has that provider message (a retry: nothing changes)."""
    received_at = received_at or timezone.now()
    # PostgreSQL text holds no NUL character: whatever a webhook let through is stored without.
    body, subject = _text(body), _text(subject)
    if Message.objects.filter(channel=channel, provider_message_id=provider_message_id).exists():
        return None
    identity = identity_resolve(station=channel.station, kind=channel.identity_kind, sender=sender)
    conversation = conversation_for(identity.customer)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                channel=channel,
                identity=identity,
                direction=Direction.INBOUND,
                sender=Sender.CUSTOMER,
                subject=subject[:300],
                body=body,
                provider_message_id=provider_message_id,
                status=MessageStatus.RECEIVED,
                created_at=received_at,
            )
    except IntegrityError as exc:
        if _constraint_of(exc) == PROVIDER_ID_UNIQUE:
            return None  # the same provider message, stored by a concurrent delivery
        raise  # anything else (the thread vanished in a merge): the provider delivers again
    _thread_received(conversation, message)
    if channel.is_sms:
        compliance.keyword_apply(identity=identity, text=body, now=received_at)
    transaction.on_commit(lambda: enqueue_inbound(message.pk))
    return message


PROVIDER_ID_UNIQUE = "message_provider_id_unique_per_channel"


def _constraint_of(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def _thread_received(conversation: Conversation, message: Message) -> None:
    """Unread, reopened, waiting since the oldest unanswered message; a late delivery of an
    older message does not move the thread's clock back."""
    at = message.created_at
    Conversation.objects.filter(pk=conversation.pk).update(
        unread=True,
        status=Value(ConversationStatus.OPEN),
        snoozed_until=None,
        last_message_at=Greatest(Coalesce("last_message_at", at), at),
        last_message_preview=Case(
            When(
                Q(last_message_at__isnull=True) | Q(last_message_at__lte=at),
                then=_preview(message.body or message.subject),
            ),
            default=F("last_message_preview"),
        ),
        last_inbound_at=Greatest(Coalesce("last_inbound_at", at), at),
        last_inbound_channel=Case(
            When(
                Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lte=at),
                then=Value(message.channel_id),
            ),
            default=F("last_inbound_channel"),
            output_field=BigIntegerField(),
        ),
        waiting_since=Coalesce("waiting_since", at),
    )


def _text(value: str | None) -> str:
    return (value or "").replace("\x00", "")


def _preview(text: str):
    return Value(" ".join((text or "").split())[:PREVIEW_LENGTH])


def enqueue_inbound(message_id: int) -> None:
    """Hand an inbound message to the workers; a broker that is down loses nothing (the
    sweeper finds the message unprocessed)."""
    from inbox.tasks import process_inbound

    try:
        broker.enqueue(process_inbound, message_id)
    except Exception:
        logger.warning("inbound message %s not enqueued; the sweeper will", message_id)


def inbound_unprocessed(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Inbound messages whose task was lost (older than the grace, not processed)."""
    now = now or timezone.now()
    return list(
        Message.objects.filter(
            direction=Direction.INBOUND,
            processed_at__isnull=True,
            created_at__lt=now - timedelta(seconds=INBOUND_GRACE_SECONDS),
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def inbound_process(*, message_id: int) -> str:
    """The background work of one inbound message, once: claimed by a conditional UPDATE of
    processed_at, so a task run twice (or by the sweeper) does nothing the second time: the
    keyword confirmation (STOP, START, HELP) on SMS, then the AI ladder for a customer's
    message (inbox.ai.ladder: classify, draft, L1 send or a draft for staff, one per message)."""
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id, direction=Direction.INBOUND, processed_at__isnull=True
    ).update(processed_at=now)
    if not claimed:
        return "done before"
    message = Message.objects.select_related(
        "channel__station", "identity", "conversation__customer"
    ).get(pk=message_id)
    if message.channel is not None and message.channel.is_sms:
        compliance.keyword_reply(message=message)
    ladder.message_triage(message_id=message.pk)
    return "processed"


# --- Delivery statuses -----------------------------------------------------------------------


def status_apply(
    *,
    channel: Channel,
    provider_message_id: str,
    status: str,
    error: str = "",
    at: datetime | None = None,
    our_message_id: int | None = None,
) -> bool:
    """Move an outbound message forward to `status` (sent, delivered, read, failed); never
    back: a late "sent" after "delivered" changes nothing. `our_message_id` (echoed by the
    provider from the send: Twilio's status URL, WhatsApp's biz_opaque_callback_data) finds a
    message whose send was never recorded (delivery unknown) and records its provider id.
    Returns True when the message changed."""
    if status not in STATUS_RANK or status in (MessageStatus.NOT_SENT, MessageStatus.UNKNOWN):
        return False
    rank = STATUS_RANK[status]
    at = at or timezone.now()
    outbound = Message.objects.filter(direction=Direction.OUTBOUND)
    target = Q(channel=channel, provider_message_id=provider_message_id)
    if our_message_id is not None:
        target |= Q(pk=our_message_id, channel=channel, provider_message_id="")
    fields = {"status": status, "status_rank": rank, "status_at": at}
    error = _text(error)
    if error:
        fields["error"] = error[:2000]
    if provider_message_id:
        fields["provider_message_id"] = provider_message_id
    updated = outbound.filter(target, status_rank__lt=rank).update(**fields)
    return bool(updated)


# --- What staff do ---------------------------------------------------------------------------


def conversation_mark_read(*, conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk, unread=True).update(unread=False)


def conversation_assign(*, conversation: Conversation, assignee, actor) -> Conversation:
    """Give the thread to a staff member of its station (or to nobody)."""
    from stations.tenancy import STAFF_WRITE_ROLES, has_role

    if assignee is not None and not has_role(assignee, conversation.station_id, STAFF_WRITE_ROLES):
        raise ApiError(
            "That person is not on this station's staff.", code="invalid_assignee", status_code=400
        )
    Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee)
    conversation.assignee = assignee
    return conversation


def conversation_set_status(
    *, conversation: Conversation, status: str, snoozed_until: datetime | None = None
) -> Conversation:
    """Open, pending (waiting on the customer), snoozed until a time in the future, closed. A
    snoozed thread comes back open when the time passes (`conversations_wake`) or the customer
    writes."""
    if status not in ConversationStatus.values:
        raise ApiError(f"Unknown status {status!r}.", code="invalid_status", status_code=400)
    if status == ConversationStatus.SNOOZED:
        if snoozed_until is None or snoozed_until <= timezone.now():
            raise ApiError(
                "Snooze until a time in the future.", code="invalid_snooze", status_code=400
            )
    else:
        snoozed_until = None
    Conversation.objects.filter(pk=conversation.pk).update(
        status=status, snoozed_until=snoozed_until
    )
    conversation.status, conversation.snoozed_until = status, snoozed_until
    return conversation


def conversations_wake(*, now: datetime | None = None) -> int:
    """Snoozed threads whose time has come are open again (beat: every minute)."""
    now = now or timezone.now()
    return Conversation.objects.filter(
        status=ConversationStatus.SNOOZED, snoozed_until__lte=now
    ).update(status=ConversationStatus.OPEN, snoozed_until=None, unread=True)


def note_add(*, conversation: Conversation, author, body: str) -> Message:
    """A private note: in the thread for staff, never sent, does not answer the customer."""
    body = (body or "").strip()
    if not body:
        raise ApiError("Write the note first.", code="empty_note", status_code=400)
    return Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender=Sender.USER,
        author=author,
        is_note=True,
        body=body,
        status=MessageStatus.NOTE,
        created_at=timezone.now(),
    )
