"""
Sending one outbound message: claimed once, checked again, handed to the channel's provider
module at most once, the outcome recorded.

`message_send(message_id=)` (the `send_message` task; safe to run any number of times):
1. Claim with ONE conditional UPDATE: only a `queued` message that is due (no `send_after`, or
   it has passed) becomes `sending`, with a lease of INBOX_SEND_LEASE_SECONDS and attempts + 1.
   Anything else (sending, sent, failed, not due) is left alone: a second task does nothing.
2. Re-read it and ask `compliance.send_refusal` again (consent can change while a message
   waits: a STOP, a lapsed 24-hour window) → `not_sent` with the reason. An automated message
   (reminders, notifications, AI) inside the station's quiet hours goes back to `queued` with
   `send_after` = the end of them. A channel without credentials → `not_sent`, "not sent:
   channel offline": it is never pretended sent.
3. Call `providers.module_for(kind).send(...)` outside any transaction (the task runs in
   autocommit; no lock is held), then record `sent`, the provider's id and `sent_at`.
   `ProviderError(permanent=True)` → `failed` with the error; a retryable one → back to
   `queued` with `send_after` = now + backoff and `RetryLater(countdown)` for the task, until
   INBOX_SEND_MAX_ATTEMPTS (8), then `failed`.

Exactly once, and the trade-off. The claim is the durable mark "a provider call may have
started": once a message is `sending`, nothing sends it again. If the worker dies, or the
write after the provider's answer fails, the message stays `sending` until its lease runs out;
the sweeper (`messages_due`) then moves it to `unknown` ("delivery unknown, check before
sending again", shown to staff), never back to `queued`. So a crash between the provider's
acceptance and our record can never send twice; the price is that a crash *before* the call
(a short window of reads) also ends `unknown` instead of being retried, and a person decides.
A later status callback that carries our id (Twilio's StatusCallback `?m=<id>`, WhatsApp's
`biz_opaque_callback_data`) fills in the provider id and moves it on to sent / delivered
(`services.status_apply(our_message_id=...)`).

A provider error that says the message was not taken (connection refused, HTTP 429 or 5xx, a
documented rate-limit code) is safe to retry. A provider that took the request and did not
answer within the timeout is retried too (after the backoff): providers answer an accepted
message in well under a second, so silence for the whole timeout almost always means the
request was not processed; and should it have been, its status callback (which carries our
id) reaches the message during the backoff and moves it to `sent`, after which the claim,
which takes only `queued`, no longer sends it. Twilio, Meta and Postmark take no idempotency
key from us, so this is the narrowest window we can get; we prefer it to dropping messages
whose provider merely stalled.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from bookings.models import Customer
from inbox import compliance, credentials, providers
from inbox.models import (
    STATUS_RANK,
    ChannelKind,
    ContactIdentity,
    Direction,
    IdentityKind,
    Message,
    MessageStatus,
)
from inbox.providers.base import Outgoing, ProviderError, Sent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # INBOX_SEND_MAX_ATTEMPTS
RETRY_BASE_SECONDS = 30  # backoff: 30 s, 1 min, 2 min, ... at most an hour
RETRY_MAX_SECONDS = 3600
QUEUED_GRACE_SECONDS = 120  # a queued message this old, never claimed, lost its task
OFFLINE = "not sent: channel offline"
UNKNOWN_ERROR = (
    "delivery unknown: the sender stopped after the provider was called and before the answer "
    "was recorded; check with the customer (or the provider's log) before sending again"
)
# Provider error codes that mean the recipient opted out at the provider (Twilio 21610).
UNSUBSCRIBED_CODES = frozenset({"unsubscribed"})


class RetryLater(Exception):
    """The provider did not take the message, and may later: the task retries in `countdown`
    seconds (the message is back in `queued` with `send_after`, so the sweeper would too)."""

    def __init__(self, countdown: int):
        super().__init__(f"retry in {countdown} s")
        self.countdown = countdown


def lease_seconds() -> float:
    return float(settings.INBOX_SEND_LEASE_SECONDS)


def max_attempts() -> int:
    return int(getattr(settings, "INBOX_SEND_MAX_ATTEMPTS", MAX_ATTEMPTS))


def retry_delay(attempts: int) -> int:
    """Seconds before attempt `attempts + 1`, doubling from RETRY_BASE_SECONDS."""
    return min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


# --- Claiming --------------------------------------------------------------------------------


def _claim(message_id: int, now: datetime) -> int | None:
    """`queued` and due → `sending` under a lease, in one conditional UPDATE. Returns the
    attempt now held, or None when the message is not ours to send."""
    due = Q(send_after__isnull=True) | Q(send_after__lte=now)
    claimed = Message.objects.filter(
        due,
        pk=message_id,
        direction=Direction.OUTBOUND,
        is_note=False,
        status=MessageStatus.QUEUED,
    ).update(
        status=MessageStatus.SENDING,
        status_rank=STATUS_RANK[MessageStatus.SENDING],
        status_at=now,
        claimed_until=now + timedelta(seconds=lease_seconds()),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    return Message.objects.filter(pk=message_id).values_list("attempts", flat=True)[0]


def _not_claimed(message_id: int, now: datetime) -> str:
    row = Message.objects.filter(pk=message_id).values("status", "send_after").first()
    if row is None:
        return "gone"
    if row["status"] == MessageStatus.QUEUED and row["send_after"] and row["send_after"] > now:
        return "not due"
    return "busy" if row["status"] == MessageStatus.SENDING else row["status"]


# --- Sending ---------------------------------------------------------------------------------


def message_send(*, message_id: int, now: datetime | None = None) -> str:
    """Send one queued message, at most once (see the module's docstring). Returns what became
    of it: "sent", "not_sent", "failed", "held" (quiet hours), or why it was not ours ("busy",
    "not due", its status, "gone"). Raises RetryLater after recording a retryable failure."""
    now = now or timezone.now()
    attempt = _claim(message_id, now)
    if attempt is None:
        return _not_claimed(message_id, now)
    message = Message.objects.select_related(
        "channel__station", "conversation__customer", "identity", "template"
    ).get(pk=message_id)
    channel = message.channel
    if channel is None:
        return _finish(message, MessageStatus.NOT_SENT, "not sent: no channel")
    refusal = compliance.send_refusal(
        customer=message.conversation.customer,
        channel=channel,
        conversation_id=message.conversation_id,
        template=message.template if message.template_id else None,
        automated=message.automated,
        opt_out_confirmation=message.opt_out_confirmation,
        now=now,
    )
    if refusal:
        return _finish(message, MessageStatus.NOT_SENT, f"not sent: {refusal}")
    if message.automated and (until := compliance.quiet_until(channel.station, now)):
        return _hold(message, until)
    offline = credentials.offline_reason(channel)
    if offline:
        logger.info("message %s not sent: %s", message.pk, offline)
        return _finish(message, MessageStatus.NOT_SENT, OFFLINE)
    outgoing = _outgoing(message, now)
    if outgoing is None:
        return _finish(
            message, MessageStatus.NOT_SENT, "not sent: no address for the customer there"
        )
    try:
        sent = providers.module_for(channel.kind).send(outgoing)
    except ProviderError as exc:
        return _failed(message, attempt, exc, now)
    _record_sent(message, sent)
    return MessageStatus.SENT


def _finish(message: Message, status: str, error: str = "") -> str:
    """A final state of our own (not_sent, failed), only while the claim is ours."""
    Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=status,
        status_rank=STATUS_RANK[status],
        status_at=timezone.now(),
        claimed_until=None,
        error=error[:2000],
    )
    return status


def _hold(message: Message, until: datetime) -> str:
    """Back to queued until the quiet hours end; the attempt is given back."""
    Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=MessageStatus.QUEUED,
        status_rank=STATUS_RANK[MessageStatus.QUEUED],
        claimed_until=None,
        send_after=until,
        attempts=Greatest(F("attempts") - 1, 0),
    )
    return "held"


def _failed(message: Message, attempt: int, exc: ProviderError, now: datetime) -> str:
    error = str(exc)
    logger.warning(
        "message %s: %s (attempt %s, %s)",
        message.pk,
        error,
        attempt,
        "permanent" if exc.permanent else "retryable",
    )
    if exc.code in UNSUBSCRIBED_CODES:
        _opt_out(message, now)
    if exc.permanent or attempt >= max_attempts():
        return _finish(message, MessageStatus.FAILED, error)
    countdown = retry_delay(attempt)
    Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=MessageStatus.QUEUED,
        status_rank=STATUS_RANK[MessageStatus.QUEUED],
        claimed_until=None,
        send_after=now + timedelta(seconds=countdown),
        error=error[:2000],
    )
    raise RetryLater(countdown)


def _record_sent(message: Message, sent: Sent) -> None:
    """`sent` with the provider's id, unless a status callback got there first (delivered
    stays delivered; its provider id is the same one)."""
    sent_rank = STATUS_RANK[MessageStatus.SENT]
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        provider_message_id=sent.provider_message_id or F("provider_message_id"),
        sent_at=now,
        claimed_until=None,
        error="",
        status=Case(
            When(status_rank__lt=sent_rank, then=Value(MessageStatus.SENT)),
            default=F("status"),
        ),
        status_at=Case(When(status_rank__lt=sent_rank, then=Value(now)), default=F("status_at")),
        status_rank=Greatest(F("status_rank"), sent_rank),
    )


def _opt_out(message: Message, now: datetime) -> None:
    """The provider says the number unsubscribed (Twilio 21610): record it as a STOP would."""
    if message.identity_id is None:
        return
    with transaction.atomic():
        ContactIdentity.objects.filter(pk=message.identity_id, opted_out=False).update(
            opted_out=True, opted_out_at=now
        )
        Customer.objects.filter(pk=message.conversation.customer_id).update(sms_opt_in=False)


# --- Whom to send to -------------------------------------------------------------------------


def _outgoing(message: Message, now: datetime) -> Outgoing | None:
    channel = message.channel
    identity = _recipient(message)
    if identity is None:
        return None
    if message.identity_id != identity.pk:
        Message.objects.filter(pk=message.pk).update(identity=identity)
        message.identity = identity
    headers, subject = {}, message.subject
    if channel.kind == ChannelKind.EMAIL:
        headers, subject = _email_thread(message)
    return Outgoing(
        message_id=message.pk,
        key=message.idempotency_key or f"message-{message.pk}",
        channel=channel,
        credentials=credentials.for_channel(channel),
        to=identity.external_id,
        body=message.body,
        subject=subject,
        template=message.template if message.template_id else None,
        headers=headers,
    )


def _recipient(message: Message) -> ContactIdentity | None:
    """Who receives it on this channel's kind: the message's identity; else the one the
    customer last wrote from on this kind; else their newest identity of the kind; else (SMS,
    e-mail) the customer's phone or e-mail address, as a new identity."""
    channel, customer = message.channel, message.conversation.customer
    kind = channel.identity_kind
    if message.identity is not None and message.identity.kind == kind:
        return message.identity
    last = (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Direction.INBOUND,
            identity__kind=kind,
            identity__customer=customer,
        )
        .select_related("identity")
        .order_by("-created_at")
        .first()
    )
    if last is not None:
        return last.identity
    identity = compliance.identity_for(customer, channel)
    if identity is not None:
        return identity
    address = {IdentityKind.SMS: customer.phone, IdentityKind.EMAIL: customer.email}.get(kind)
    if not address:
        return None
    return _identity_make(customer, kind, address)


def _identity_make(customer: Customer, kind: str, address: str) -> ContactIdentity:
    if kind == IdentityKind.EMAIL:
        address = address.strip().lower()
    try:
        with transaction.atomic():
            identity, _ = ContactIdentity.objects.get_or_create(
                station_id=customer.station_id,
                kind=kind,
                external_id=address,
                defaults={
                    "customer": customer,
                    "phone": address if kind == IdentityKind.SMS else "",
                },
            )
    except IntegrityError:
        identity = ContactIdentity.objects.get(
            station_id=customer.station_id, kind=kind, external_id=address
        )
    return identity


def _email_thread(message: Message) -> tuple[dict[str, str], str]:
    """In-Reply-To and References of the customer's last e-mail, and a "Re:" subject."""
    last = (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Direction.INBOUND,
            channel__kind=ChannelKind.EMAIL,
        )
        .order_by("-created_at")
        .values("provider_message_id", "subject")
        .first()
    )
    subject = message.subject
    if last is None:
        return {}, subject
    if not subject and last["subject"]:
        subject = last["subject"]
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
    their_id = (last["provider_message_id"] or "").strip()
    if not their_id:
        return {}, subject
    if not their_id.startswith("<"):
        their_id = f"<{their_id}>"
    return {"In-Reply-To": their_id, "References": their_id}, subject


# --- Sweeping --------------------------------------------------------------------------------


def sends_interrupted(*, now: datetime | None = None) -> int:
    """Messages left `sending` after their lease ran out (the worker died, or failed to record
    the answer) become `unknown`: never sent again by us (see the module's docstring)."""
    now = now or timezone.now()
    moved = Message.objects.filter(
        direction=Direction.OUTBOUND, status=MessageStatus.SENDING, claimed_until__lt=now
    ).update(
        status=MessageStatus.UNKNOWN,
        status_rank=STATUS_RANK[MessageStatus.UNKNOWN],
        status_at=now,
        claimed_until=None,
        error=UNKNOWN_ERROR,
    )
    if moved:
        logger.warning("%s message(s) interrupted mid-send: delivery unknown", moved)
    return moved


def messages_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """The messages to enqueue again (beat: every minute): queued ones whose retry or quiet
    hours are over, and queued ones whose task was lost (older than the grace). Interrupted
    sends are moved to `unknown` first."""
    now = now or timezone.now()
    sends_interrupted(now=now)
    grace = now - timedelta(
        seconds=float(getattr(settings, "INBOX_QUEUED_GRACE_SECONDS", QUEUED_GRACE_SECONDS))
    )
    due = Q(send_after__lte=now) | Q(send_after__isnull=True, created_at__lt=grace)
    return list(
        Message.objects.filter(
            due, direction=Direction.OUTBOUND, is_note=False, status=MessageStatus.QUEUED
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
