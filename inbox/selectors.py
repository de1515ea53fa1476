"""
Reads of the inbox for the back office (and anything else that shows a thread).

Each read costs the same whatever the size of the message table:
- the conversation list is read from the conversations table alone (unread first, newest
  first: the order of the `conversation_station_unread` index), its columns from joined rows;
- a thread page reads at most `THREAD_PAGE_SIZE + 1` messages of one conversation through the
  `message_thread` index (conversation, created_at), newest first, and "older" pages continue
  from the oldest message shown (keyset, never OFFSET);
- the customer's bookings are the last few, by event date.

Payments sit above the inbox (DESIGN.md §2): the admin reads them itself.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from bookings.models import Booking, Customer
from inbox import compliance, credentials
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    Message,
    MessageTemplate,
    TemplateKind,
)
from inbox.outbound import reply_channel
from stations import tenancy
from stations.models import Membership

THREAD_PAGE_SIZE = 50
CUSTOMER_BOOKINGS_SHOWN = 8

# Unread first, then the most recent: the order of the (station, unread, last message) index.
LIST_ORDERING = (
    F("unread").desc(),
    F("last_message_at").desc(nulls_last=True),
    F("pk").desc(),
)


def conversation_list(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The inbox list: every column comes from the conversation and the rows it joins
    (customer, station, assignee, the last inbound channel), so the query count does not grow
    with the page."""
    return queryset.select_related(
        "customer", "station", "assignee", "last_inbound_channel"
    ).order_by(*LIST_ORDERING)


# --- One thread ------------------------------------------------------------------------------


@dataclass
class ThreadPage:
    """A page of one thread, oldest first on the page. `older_than` is the id of the oldest
    message shown when there are older ones (the "older" link continues from it)."""

    messages: list[Message]
    older_than: int | None
    is_latest: bool


def thread_messages(conversation: Conversation) -> QuerySet[Message]:
    """The messages of one conversation, for reading a page of the thread.

    A shortcut for speed: the conversation's id is written into the SQL as a literal, not a
    bound parameter. With server-side prepared statements (DB_PREPARED_STATEMENTS) PostgreSQL
    soon plans a parameterised query once for every conversation (a generic plan), estimating
    the average thread (about ten messages): it then reads the whole thread and sorts it, 60 ms
    for a thread of 50,000 messages (bench: the admin's conversation page went from 150 to
    410 ms p95 at 1,000,000 messages). With the literal, each thread is planned with its own
    size and the newest page is read backwards along the message_thread index, as for a short
    thread. inbox/tests/test_thread_plans.py fails when that stops being so."""
    literal = str(int(conversation.pk))  # our own integer id: nothing of a request's text
    return Message.objects.filter(conversation_id=RawSQL(literal, ()))  # noqa: S611


def thread_page(
    conversation: Conversation, *, before: int | None = None, size: int = THREAD_PAGE_SIZE
) -> ThreadPage:
    """The newest `size` messages of the thread (or those older than message `before`): one
    read of at most size + 1 rows, backwards along the (conversation, created_at) index."""
    messages = thread_messages(conversation)
    if before is not None:
        anchor = (
            Message.objects.filter(conversation=conversation, pk=before)
            .values_list("created_at", flat=True)
            .first()
        )
        if anchor is not None:
            # (created_at, id) < the anchor's, written so the index bounds the scan.
            messages = messages.filter(created_at__lte=anchor).exclude(
                created_at=anchor, pk__gte=before
            )
        else:
            before = None  # not a message of this thread: the latest page
    rows = list(
        messages.select_related("channel", "author").order_by("-created_at", "-pk")[: size + 1]
    )
    older = len(rows) > size
    rows = rows[:size]
    rows.reverse()
    return ThreadPage(
        messages=rows,
        older_than=rows[0].pk if older and rows else None,
        is_latest=before is None,
    )


# --- Answering -------------------------------------------------------------------------------


@dataclass
class ChannelOption:
    channel: Channel
    refusal: str  # why free text may not go out on it now ("" when it may)
    offline: str  # why it cannot send at all (no credentials), "" when it can


@dataclass
class ReplyOptions:
    """What the reply box offers: the channels to answer on (the default first chosen), the
    station's canned replies, and its approved WhatsApp templates when the 24-hour window is
    closed (free text is refused then)."""

    channels: list[ChannelOption]
    default: Channel | None
    canned: list[MessageTemplate]
    whatsapp_templates: list[MessageTemplate] = field(default_factory=list)
    whatsapp_window_open: bool = False


def reply_options(conversation: Conversation, *, now: datetime | None = None) -> ReplyOptions:
    now = now or timezone.now()
    channels = list(
        Channel.objects.filter(station_id=conversation.station_id, active=True)
        .exclude(kind=ChannelKind.WEB)
        .order_by("kind", "address")
    )
    options = [
        ChannelOption(
            channel=channel,
            refusal=compliance.send_refusal(
                customer=conversation.customer,
                channel=channel,
                conversation_id=conversation.pk,
                now=now,
            ),
            offline=credentials.offline_reason(channel),
        )
        for channel in channels
    ]
    templates = MessageTemplate.objects.filter(station_id=conversation.station_id, active=True)
    canned = list(templates.filter(kind=TemplateKind.CANNED).order_by("name"))
    whatsapp = [c for c in channels if c.kind == ChannelKind.WHATSAPP]
    window_open = bool(whatsapp) and compliance.window_open(
        conversation.pk, ChannelKind.WHATSAPP, now
    )
    wa_templates = []
    if whatsapp and not window_open:
        wa_templates = list(
            templates.filter(kind=TemplateKind.WHATSAPP, approved=True).order_by("name")
        )
    return ReplyOptions(
        channels=options,
        default=reply_channel(conversation),
        canned=canned,
        whatsapp_templates=wa_templates,
        whatsapp_window_open=window_open,
    )


def station_staff(station_id: int) -> list:
    """The people a conversation of this station can be given to (owners, managers, agents),
    by name."""
    users = get_user_model().objects.filter(
        is_active=True,
        memberships__station_id=station_id,
        memberships__role__in=tenancy.STAFF_WRITE_ROLES,
    )
    return sorted(users, key=lambda u: (u.get_full_name() or u.get_username()).lower())


def is_station_staff(user_id: int, station_id: int) -> bool:
    return Membership.objects.filter(
        user_id=user_id, station_id=station_id, role__in=tenancy.STAFF_WRITE_ROLES
    ).exists()


# --- Beside the thread -----------------------------------------------------------------------


def customer_bookings(customer: Customer, *, limit: int = CUSTOMER_BOOKINGS_SHOWN) -> list:
    """The customer's latest bookings at their station, latest event first."""
    return list(
        Booking.objects.filter(customer=customer, station_id=customer.station_id).order_by(
            "-event_date", "-start_time", "-pk"
        )[:limit]
    )
