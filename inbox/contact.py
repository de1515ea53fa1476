"""
The public contact form (`POST /api/v1/contact/`): a visitor's message becomes a `web` message
in their customer's thread, through the same `inbound_receive` every webhook uses.

- The station: the one named (its slug), else the only active station; it must have an active
  `web` channel (address = the station's slug; seed_demo and the admin make them).
- The person: by e-mail (the web channel's identities are e-mail identities), else by phone: a
  phone-only visitor joins the station's customer with that number. Like every unauthenticated
  request, the form never changes a stored customer's name, contact data or consent (DESIGN.md
  §3); what the visitor typed is kept in the message's subject for staff to see.
- Spam: a filled honeypot field, or a form sent faster than a person fills it in, is answered
  like any other submission and stores nothing (a bot learns nothing from the answer).
- Stored once per submission: the provider message id is a fresh uuid, or derived from the
  request's Idempotency-Key so that a retried POST stores nothing new.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.services import customer_upsert
from inbox import services
from inbox.models import Channel, ChannelKind, ContactIdentity, Message
from stations.models import Station

logger = logging.getLogger(__name__)

MIN_FILL_TIME = timedelta(seconds=3)  # faster than this, the form was filled by a program


class ContactRefused(Exception):
    """The submission cannot be taken; `field` and the message say why (a 400)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class ContactSubmission:
    name: str
    message: str
    email: str = ""  # lower-case
    phone: str = ""  # E.164
    station: str = ""  # slug, or "" for the only station
    honeypot: str = ""
    form_started_at: datetime | None = None


def spam_reason(submission: ContactSubmission, *, now: datetime) -> str:
    """Why this looks like a program rather than a person, or ""."""
    if submission.honeypot:
        return "honeypot"
    started = submission.form_started_at
    if started is not None and now - started < MIN_FILL_TIME:
        return "too fast"
    return ""


def web_channel_for(slug: str) -> Channel:
    """The web channel of the named station, or of the only active station."""
    stations = Station.objects.filter(active=True)
    if slug:
        station = stations.filter(slug=slug).first()
        if station is None:
            raise ContactRefused("station", "Unknown station.")
    else:
        only = list(stations[:2])
        if len(only) != 1:
            raise ContactRefused("station", "Choose the station to write to.")
        station = only[0]
    channel = services.channel_find(kind=ChannelKind.WEB, address=station.slug)
    if channel is None:
        raise ContactRefused("station", "This station does not take messages online.")
    return channel


def contact_receive(
    *, submission: ContactSubmission, request_ref: str = "", now: datetime | None = None
) -> Message | None:
    """Store one contact-form message in its customer's thread. Returns the message, or None
    when nothing was stored (spam, or a repeat of the same request). Raises ContactRefused."""
    now = now or timezone.now()
    channel = web_channel_for(submission.station)
    reason = spam_reason(submission, now=now)
    if reason:
        logger.info("contact form: submission to %s dropped (%s)", channel.station.slug, reason)
        return None
    provider_message_id = f"web-{request_ref}" if request_ref else f"web-{uuid.uuid4().hex}"
    with transaction.atomic():
        if not submission.email:
            _phone_identity(channel, submission)
        return services.inbound_receive(
            channel=channel,
            sender=services.SenderInfo(
                external_id=submission.email or submission.phone,
                name=submission.name,
                phone=submission.phone,
                email=submission.email,
            ),
            provider_message_id=provider_message_id,
            subject=_subject(submission),
            body=submission.message,
            received_at=now,
        )


def _phone_identity(channel: Channel, submission: ContactSubmission) -> ContactIdentity:
    """A visitor who left only a phone number is known to the web channel by that number and
    joins the station's customer who has it (a new customer otherwise, never changing a stored
    one). identity_resolve would take an e-mail identity's external id for an address."""
    station, kind = channel.station, channel.identity_kind
    existing = ContactIdentity.objects.filter(
        station=station, kind=kind, external_id=submission.phone
    ).first()
    if existing is not None:
        return existing
    customer = customer_upsert(
        station=station,
        name=submission.name.strip()[:120],
        phone=submission.phone,
        update_existing=False,
    )
    try:
        with transaction.atomic():
            return ContactIdentity.objects.create(
                station=station,
                customer=customer,
                kind=kind,
                external_id=submission.phone,
                display_name=submission.name[:120],
                phone=submission.phone,
            )
    except IntegrityError:  # the same visitor's other submission, at the same moment
        return ContactIdentity.objects.get(station=station, kind=kind, external_id=submission.phone)


def _subject(submission: ContactSubmission) -> str:
    """What the visitor said they are: shown to staff, never applied to the customer."""
    given = ", ".join(v for v in (submission.name, submission.email, submission.phone) if v)
    return f"Contact form: {given}"
