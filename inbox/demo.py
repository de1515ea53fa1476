"""
The inbox's part of `manage.py seed_demo` (DESIGN.md §6): each station's channels at the
documented numbers, ids and addresses, canned replies and WhatsApp templates, a few
conversations across channels, and the AI's drafts for their messages. The messages come in
through the same service the webhooks call (inbox.services.inbound_receive) under fixed
provider ids, so running the seed again adds nothing, and a real-format webhook sent to these
numbers threads into the same conversations.
"""

from datetime import timedelta

from django.utils import timezone

from bookings.models import Booking, BookingStatus
from inbox import services
from inbox.ai import gateway, ladder
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    Direction,
    Draft,
    Message,
    MessageTemplate,
    Sender,
    TemplateCategory,
    TemplateKind,
)
from stations.models import Station

CHANNELS = {
    "san-jose": [
        (ChannelKind.SMS_TWILIO, "+14085550100", "San Jose SMS (Twilio)"),
        (ChannelKind.SMS_RINGCENTRAL, "+14085550101", "San Jose SMS (RingCentral)"),
        (ChannelKind.WHATSAPP, "100000000000001", "San Jose WhatsApp"),
        (ChannelKind.EMAIL, "sanjose@example.com", "San Jose e-mail"),
        (ChannelKind.WEB, "san-jose", "San Jose contact form"),
    ],
    "sacramento": [
        (ChannelKind.SMS_TWILIO, "+19165550100", "Sacramento SMS (Twilio)"),
        (ChannelKind.WHATSAPP, "100000000000002", "Sacramento WhatsApp"),
        (ChannelKind.EMAIL, "sacramento@example.com", "Sacramento e-mail"),
        (ChannelKind.WEB, "sacramento", "Sacramento contact form"),
    ],
}

CANNED = [
    (
        "What's included",
        "Every party includes a chef, the grill, fried rice, vegetables, salad and two proteins "
        "per guest. We bring everything; you provide tables and chairs.",
    ),
    (
        "Deposit and cancellation",
        "A deposit holds your date. Cancel at least 72 hours before the party for a full refund; "
        "later, the deposit is kept and the rest refunded.",
    ),
    (
        "Thanks, we'll check",
        "Thanks for reaching out! Let me check the calendar and get right back to you.",
    ),
]

WHATSAPP_TEMPLATES = [
    (
        "booking_follow_up",
        "Hi {{1}}, this is {{2}} following up on your message. Reply here to continue.",
        TemplateCategory.UTILITY,
    ),
    (
        "holiday_offer",
        "Hi {{1}}! Book a December party this week and get a free appetizer.",
        TemplateCategory.MARKETING,
    ),
]


def build_channels(*, password: str) -> str:
    made = 0
    for slug, channels in CHANNELS.items():
        station = Station.objects.get(slug=slug)
        for kind, address, name in channels:
            _, created = Channel.objects.update_or_create(
                kind=kind,
                address=address,
                defaults={"station": station, "name": name, "active": True},
            )
            made += created
        for name, body in CANNED:
            MessageTemplate.objects.update_or_create(
                station=station,
                kind=TemplateKind.CANNED,
                name=name,
                language="en_US",
                defaults={"body": body, "active": True},
            )
        for name, body, category in WHATSAPP_TEMPLATES:
            MessageTemplate.objects.update_or_create(
                station=station,
                kind=TemplateKind.WHATSAPP,
                name=name,
                language="en_US",
                defaults={"body": body, "category": category, "approved": True, "active": True},
            )
    return f"{Channel.objects.count()} channels ({made} new), canned replies and templates"


def _channel(slug: str, kind: str) -> Channel:
    return Channel.objects.get(station__slug=slug, kind=kind)


def _booked_customer(slug: str):
    """A san-jose customer with a confirmed party ahead, so the thread shows a booking."""
    booking = (
        Booking.objects.filter(
            station__slug=slug,
            status=BookingStatus.CONFIRMED,
            event_date__gte=timezone.localdate(),
        )
        .exclude(customer__phone="")
        .select_related("customer")
        .order_by("event_date", "pk")
        .first()
    )
    return booking.customer if booking else None


def _conversations():
    """(channel, sender, provider id, body, subject, minutes ago): the demo's messages."""
    sj_sms, sj_wa = (
        _channel("san-jose", ChannelKind.SMS_TWILIO),
        _channel("san-jose", ChannelKind.WHATSAPP),
    )
    sj_mail, sj_web = _channel("san-jose", ChannelKind.EMAIL), _channel("san-jose", ChannelKind.WEB)
    sac_sms = _channel("sacramento", ChannelKind.SMS_TWILIO)
    booked = _booked_customer("san-jose")
    sender = services.SenderInfo
    items = [
        (
            sj_sms,
            sender(external_id="+14085550142", phone="+14085550142", name="Jordan Reyes"),
            "SMDEMO0000000000000000000000000001",
            "Hi! How much for 12 adults and 3 kids on a Saturday in San Jose?",
            "",
            42,
        ),
        (
            sj_wa,
            sender(external_id="14085550177", phone="+14085550177", name="Priya Shah"),
            "wamid.DEMO000000000000000000000000000001",
            "Do you bring the grill and the plates, or do we need to rent them?",
            "",
            95,
        ),
        (
            sj_mail,
            sender(external_id="morgan.ellis@example.com", name="Morgan Ellis"),
            "<demo-0001@mail.example.com>",
            "Hello, one of our guests has a shellfish allergy. Can the chef cook her food "
            "separately?\n\nThanks,\nMorgan",
            "Allergy question for our party",
            180,
        ),
        (
            sj_web,
            sender(external_id="casey.brooks@example.com", name="Casey Brooks"),
            "web-demo-0001",
            "Do you travel to Palo Alto? We'd like a party for 20 on a Sunday afternoon.",
            "",
            300,
        ),
        (
            sac_sms,
            sender(external_id="+19165550188", phone="+19165550188", name="Taylor Morgan"),
            "SMDEMO0000000000000000000000000002",
            "Are you available on the 20th for about 15 people?",
            "",
            25,
        ),
    ]
    if booked is not None:
        items.append(
            (
                sj_sms,
                sender(external_id=booked.phone, phone=booked.phone, name=booked.name),
                "SMDEMO0000000000000000000000000003",
                "Hi, can we add 2 more adults to our party? Thanks!",
                "",
                12,
            )
        )
    return items


def build_conversations(*, password: str) -> str:
    now = timezone.now()
    added = 0
    for channel, sender, provider_id, body, subject, minutes_ago in _conversations():
        message = services.inbound_receive(
            channel=channel,
            sender=sender,
            provider_message_id=provider_id,
            body=body,
            subject=subject,
            received_at=now - timedelta(minutes=minutes_ago),
        )
        added += message is not None
    allergy = Conversation.objects.filter(
        messages__provider_message_id="<demo-0001@mail.example.com>"
    ).first()
    if allergy is not None and not allergy.messages.filter(is_note=True).exists():
        services.note_add(
            conversation=allergy,
            author=None,
            body="Chef Kenji says: shellfish cooked last, on a cleaned grill. Confirm with her.",
        )
    return f"{Conversation.objects.count()} conversations ({added} new messages)"


def build_drafts(*, password: str) -> str:
    """The AI's take on every demo message that has none yet (the inbound task makes it when a
    worker runs; this makes it at once, and for a database seeded before the AI existed). With
    no OPENAI_API_KEY the local drafter writes them, without network; with a key the workers'
    tasks do (no model call from inside the seed's transaction)."""
    if gateway.is_remote():
        return "left to the workers (a model is configured)"
    waiting = (
        Message.objects.filter(direction=Direction.INBOUND, sender=Sender.CUSTOMER)
        .filter(provider_message_id__in=[item[2] for item in _conversations()])
        .exclude(pk__in=Draft.objects.values("message_id"))
        .values_list("pk", flat=True)
    )
    made = sum(ladder.message_triage(message_id=pk) is not None for pk in list(waiting))
    return f"{Draft.objects.count()} AI drafts ({made} new, local drafter)"


STEPS = [
    ("inbox channels", build_channels),
    ("inbox conversations", build_conversations),
    ("AI drafts", build_drafts),
]
