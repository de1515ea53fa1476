"""
Lead writes (DESIGN.md §8: plain keyword-only functions, one transaction each).

Capture (`lead_capture`) is the one way in, for every source: it routes the lead to a station by
ZIP code, links it to the station's customer with the same e-mail or phone (never changing that
customer: DESIGN.md §3), merges it into the station's open lead with the same phone or e-mail
(under advisory locks on both, so two concurrent submissions make one lead), scores it, and
after commit queues the automatic first reply.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from bookings.models import BookingSource, Customer
from bookings.services import Actor, booking_create, customer_upsert
from config import broker
from config.exceptions import ApiError, Conflict
from inbox import compliance, outbound
from inbox.ai import gateway
from inbox.models import ChannelKind, Direction, Message, Sender
from inbox.services import conversation_for
from leads import scoring
from leads.models import (
    HUMAN_CONTACT_KINDS,
    OPEN_STATUSES,
    ActivityKind,
    Lead,
    LeadActivity,
    LeadSource,
    LeadStatus,
)
from stations.models import Membership, Role, ServiceZone, Station

logger = logging.getLogger(__name__)

SYSTEM = Actor(label="system")

# Which inbox channel kinds make which lead source.
SOURCE_OF_CHANNEL = {
    ChannelKind.SMS_TWILIO: LeadSource.SMS,
    ChannelKind.SMS_RINGCENTRAL: LeadSource.SMS,
    ChannelKind.WHATSAPP: LeadSource.WHATSAPP,
    ChannelKind.MESSENGER: LeadSource.MESSENGER,
    ChannelKind.INSTAGRAM: LeadSource.INSTAGRAM,
    ChannelKind.EMAIL: LeadSource.EMAIL,
    ChannelKind.WEB: LeadSource.WEB,
}

# Allowed moves by hand; `won` comes only from a conversion (lead_convert).
TRANSITIONS = {
    LeadStatus.NEW: {
        LeadStatus.CONTACTED,
        LeadStatus.QUALIFIED,
        LeadStatus.QUOTED,
        LeadStatus.LOST,
    },
    LeadStatus.CONTACTED: {LeadStatus.QUALIFIED, LeadStatus.QUOTED, LeadStatus.LOST},
    LeadStatus.QUALIFIED: {LeadStatus.CONTACTED, LeadStatus.QUOTED, LeadStatus.LOST},
    LeadStatus.QUOTED: {LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.LOST},
    LeadStatus.LOST: {LeadStatus.CONTACTED},  # reopened
    LeadStatus.WON: set(),
}


@dataclass(frozen=True)
class LeadInput:
    """A lead as a source gives it: contact normalised (e-mail lower-case, phone E.164)."""

    name: str
    email: str = ""
    phone: str = ""
    zip_code: str = ""
    event_date: date | None = None
    guests: int | None = None
    budget_cents: int | None = None
    message: str = ""
    source: str = LeadSource.WEB


# --- Routing and dedupe ----------------------------------------------------------------------


def station_for_zip(zip_code: str) -> Station | None:
    """The active station whose service area covers this ZIP (the cheapest travel fee wins when
    two do), or None: the lead waits in the unassigned queue."""
    if not zip_code:
        return None
    zone = (
        ServiceZone.objects.filter(zip_codes__contains=[zip_code], station__active=True)
        .select_related("station")
        .order_by("travel_fee_cents", "station_id")
        .first()
    )
    return zone.station if zone else None


def zip_served(station: Station | None, zip_code: str) -> bool:
    return bool(
        station
        and zip_code
        and ServiceZone.objects.filter(station=station, zip_codes__contains=[zip_code]).exists()
    )


def _lock_contact(
    station_id: int | None, email: str, phone: str, import_key: str | None = None
) -> None:
    """Serialise captures of the same person at one station (both keys, in a fixed order, so two
    submissions sharing either the phone or the e-mail wait for each other), and of the same
    import key (a message with no phone or e-mail has only that)."""
    keys = sorted(
        f"lead:{station_id or 0}:{kind}:{value}"
        for kind, value in (("e", email), ("p", phone))
        if value
    )
    if import_key:
        keys.insert(0, f"lead-import:{import_key}")  # first: captures of one key share it
    with connection.cursor() as cursor:
        for key in keys:
            digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [digest])


def open_duplicate(station: Station | None, email: str, phone: str) -> Lead | None:
    """The station's (or the unassigned queue's) open lead with this phone or e-mail."""
    match = Q()
    if email:
        match |= Q(email=email)
    if phone:
        match |= Q(phone=phone)
    if not match:
        return None
    return (
        Lead.objects.filter(match, station=station, status__in=OPEN_STATUSES)
        .order_by("created_at")
        .select_for_update()
        .first()
    )


def open_duplicate_exists(station: Station | None, data: "LeadInput") -> bool:
    """Would this submission merge (a dry run's answer; no lock taken)?"""
    match = Q(pk__in=[])
    if data.email:
        match |= Q(email=data.email)
    if data.phone:
        match |= Q(phone=data.phone)
    return Lead.objects.filter(match, station=station, status__in=OPEN_STATUSES).exists()


def known_customer(station: Station | None, email: str, phone: str) -> Customer | None:
    if station is None or not (email or phone):
        return None
    match = Q()
    if email:
        match |= Q(email=email)
    if phone:
        match |= Q(phone=phone)
    return (
        Customer.objects.filter(match, station=station, erased_at__isnull=True)
        .order_by("-email", "pk")  # an e-mail match wins, like customer_upsert
        .first()
    )


# --- Capture ---------------------------------------------------------------------------------


def _log(
    lead: Lead, kind: str, *, actor: Actor = SYSTEM, body: str = "", data: dict | None = None
) -> LeadActivity:
    return LeadActivity.objects.create(
        lead=lead,
        kind=kind,
        actor=actor.user,
        actor_label=actor.label,
        body=body,
        data=data or {},
    )


def lead_capture(
    *,
    data: LeadInput,
    station: Station | None = None,
    actor: Actor = SYSTEM,
    import_key: str | None = None,
    first_reply: bool = True,
    explain: bool = True,
    now: datetime | None = None,
) -> tuple[Lead, bool]:
    """Take a lead in; return it and whether it is new (False: merged into an open one, or the
    import row already taken). The automatic first reply and, with a model configured and
    `explain`, the AI's reading of the score are queued after commit (imports and inbound
    messages pass explain=False: a model call per row or per stranger's text is not worth its
    cost)."""
    now = now or timezone.now()
    station = station or station_for_zip(data.zip_code)
    with transaction.atomic():
        # The key is looked for under the locks: two runs of one task (or import row) at once
        # would both miss it first, and the second then merged into the first's lead.
        _lock_contact(station.pk if station else None, data.email, data.phone, import_key)
        if import_key:
            taken = Lead.objects.filter(import_key=import_key).first()
            if taken is not None:
                return taken, False
        existing = open_duplicate(station, data.email, data.phone)
        if existing is not None:
            _merge_into(existing, data, actor=actor)
            lead_rescore(lead=existing, now=now)
            if explain:
                _explain_later(existing)
            return existing, False
        lead = Lead.objects.create(
            station=station,
            customer=known_customer(station, data.email, data.phone),
            name=data.name[:120],
            email=data.email,
            phone=data.phone,
            zip_code=data.zip_code,
            event_date=data.event_date,
            guests=data.guests,
            budget_cents=data.budget_cents,
            message=data.message,
            source=data.source,
            import_key=import_key,
        )
        _log(
            lead,
            ActivityKind.CAPTURED,
            actor=actor,
            body=data.message,
            data={"source": data.source, "routed": station.slug if station else None},
        )
        lead_rescore(lead=lead, now=now)
        if explain:
            _explain_later(lead)
        if first_reply and station is not None and station.lead_auto_first_reply:
            transaction.on_commit(lambda: enqueue_first_reply(lead.pk))
    logger.info("lead %s captured (%s) for %s", lead.pk, data.source, station or "unassigned")
    return lead, True


MERGED_MESSAGE_MAX = 10_000  # what merges may grow a lead's message to


def _merge_into(lead: Lead, data: LeadInput, *, actor: Actor) -> None:
    """Fill what the open lead lacks from the new submission; record everything it said."""
    filled = {}
    for field in ("email", "phone", "zip_code", "event_date", "guests", "budget_cents"):
        value = getattr(data, field)
        if value and not getattr(lead, field):
            setattr(lead, field, value)
            filled[field] = str(value)
    merged = f"{lead.message}\n\n{data.message}".strip()
    # Capped: anyone who knows the phone number can merge into the lead (the merge activity
    # keeps every word of it).
    if data.message and data.message not in lead.message and len(merged) <= MERGED_MESSAGE_MAX:
        lead.message = merged
    lead.save()
    _log(
        lead,
        ActivityKind.MERGED,
        actor=actor,
        body=data.message,
        data={
            "source": data.source,
            "name": data.name,
            "email": data.email,
            "phone": data.phone,
            "event_date": data.event_date.isoformat() if data.event_date else None,
            "guests": data.guests,
            "filled": filled,
        },
    )


def enqueue_first_reply(lead_id: int) -> None:
    """Hand the first reply to the workers; a broker that is down loses nothing (the periodic
    sweep sends what is still due)."""
    from leads.tasks import send_first_reply

    broker.enqueue(send_first_reply, lead_id)


def first_replies_due(*, now: datetime | None = None) -> list[int]:
    """Leads whose first reply was not queued (the broker was down): younger than a day, so a
    reply never arrives absurdly late."""
    now = now or timezone.now()
    return list(
        Lead.objects.filter(
            first_reply_at__isnull=True,
            first_human_contact_at__isnull=True,
            status=LeadStatus.NEW,
            station__lead_auto_first_reply=True,
            created_at__lt=now - timedelta(minutes=1),
            created_at__gt=now - timedelta(days=1),
        )
        .exclude(import_key__startswith="message-")
        .exclude(source=LeadSource.IMPORT)
        .values_list("pk", flat=True)[:500]
    )


# --- Scoring ---------------------------------------------------------------------------------


def _replied_after_contact(lead: Lead) -> bool:
    first = lead.first_human_contact_at or lead.first_reply_at
    if first is None or lead.customer_id is None:
        return False
    return Message.objects.filter(
        conversation__customer_id=lead.customer_id,
        direction=Direction.INBOUND,
        created_at__gt=first,
    ).exists()


def lead_rescore(*, lead: Lead, now: datetime | None = None) -> Lead:
    """Score the lead again from what it says now (called on every change)."""
    now = now or timezone.now()
    station = lead.station
    total, reasons = scoring.score(
        lead,
        station=station,
        zip_served=zip_served(station, lead.zip_code),
        replied=_replied_after_contact(lead),
        now=now,
    )
    Lead.objects.filter(pk=lead.pk).update(score=total, score_reasons=reasons, scored_at=now)
    lead.score, lead.score_reasons, lead.scored_at = total, reasons, now
    return lead


# --- The AI's reading of the score (optional) ------------------------------------------------

EXPLAIN_INSTRUCTIONS = (
    "You help the sales team of a mobile hibachi catering company decide which enquiry to call "
    "first. Given a lead's score, the reasons behind each part of it and the person's own "
    "message, write two or three plain sentences for staff: what makes this lead promising or "
    "weak, and the one thing to ask or do on the first call. Do not restate every number, do not "
    "invent facts, and never change the score."
)
EXPLAIN_SCHEMA = {
    "type": "object",
    "properties": {"explanation": {"type": "string", "maxLength": 600}},
    "required": ["explanation"],
    "additionalProperties": False,
}


def _explain_later(lead: Lead) -> None:
    if lead.station_id is not None and gateway.is_remote():
        from leads.tasks import explain_lead

        transaction.on_commit(lambda: broker.enqueue(explain_lead, lead.pk))


def lead_explain(*, lead_id: int) -> str:
    """Ask the AI gateway (redacted, audited, within the station's budget and rate limit) to
    read the stored score for staff. The score itself is never the model's: it only explains
    the reasons. Without a model, or when the gateway declines, the lead keeps its reasons."""
    lead = Lead.objects.select_related("station").filter(pk=lead_id).first()
    if lead is None or lead.station is None or not gateway.is_remote():
        return "skipped"
    facts = "\n".join(
        f"- {r['factor']}: {r['points']}/{r['max']} ({r['detail']})" for r in lead.score_reasons
    )
    data = (
        f"Score: {lead.score}/100\nReasons:\n{facts}\nStatus: {lead.status}\n"
        f"Their message:\n{lead.message[:2000]}"
    )
    try:
        result = gateway.complete(
            station=lead.station,
            purpose="lead_score",
            instructions=EXPLAIN_INSTRUCTIONS,
            data=data,
            schema=EXPLAIN_SCHEMA,
            customer_facing=False,
        )
    except gateway.AIUnavailable as unavailable:
        return f"unavailable: {unavailable.outcome}"
    Lead.objects.filter(pk=lead.pk, scored_at=lead.scored_at).update(
        score_explanation=result.data["explanation"].strip()
    )
    return "explained"


# --- Pipeline --------------------------------------------------------------------------------


def _locked(lead: Lead) -> Lead:
    return Lead.objects.select_for_update(of=("self",)).select_related("station").get(pk=lead.pk)


def lead_set_status(*, lead: Lead, status: str, actor: Actor, reason: str = "") -> Lead:
    """Move the lead along the pipeline. Lost needs a reason; won only comes from a conversion."""
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = _locked(lead)
        if status == locked.status:
            return locked
        if status not in TRANSITIONS.get(locked.status, set()):
            raise Conflict(
                f"A {locked.get_status_display().lower()} lead cannot become {status}.",
                code="lead_status_conflict",
            )
        if status == LeadStatus.LOST and not reason:
            raise ApiError(
                "Say why the lead was lost.",
                code="validation_error",
                fields={"reason": ["Say why the lead was lost."]},
            )
        before = locked.status
        locked.status = status
        locked.lost_reason = reason[:200] if status == LeadStatus.LOST else ""
        locked.save(update_fields=["status", "lost_reason", "updated_at"])
        _log(
            locked,
            ActivityKind.STATUS,
            actor=actor,
            body=reason,
            data={"from": before, "to": status},
        )
        if status != LeadStatus.LOST and actor.user is not None:
            _mark_human_contact(locked)
    return locked


def _mark_human_contact(lead: Lead) -> None:
    Lead.objects.filter(pk=lead.pk, first_human_contact_at__isnull=True).update(
        first_human_contact_at=timezone.now()
    )


def lead_assign(*, lead: Lead, assignee, actor: Actor) -> Lead:
    """Give the lead to a member of its station (None: nobody)."""
    with transaction.atomic():
        locked = _locked(lead)
        if assignee is not None and not (
            assignee.is_superuser
            or Membership.objects.filter(
                user=assignee, station_id=locked.station_id, role__in=_STAFF_ROLES
            ).exists()
        ):
            raise ApiError(
                "Assign the lead to a member of its station.",
                code="validation_error",
                fields={"assignee": ["Not a member of this station."]},
            )
        locked.assignee = assignee
        locked.save(update_fields=["assignee", "updated_at"])
        _log(
            locked,
            ActivityKind.ASSIGNED,
            actor=actor,
            data={"assignee": assignee.get_username() if assignee else None},
        )
    return locked


_STAFF_ROLES = (Role.OWNER, Role.MANAGER, Role.AGENT)


def lead_log(*, lead: Lead, kind: str, body: str, actor: Actor) -> LeadActivity:
    """A note, a call or a message logged by staff. A call or message is human contact: it
    stops the stale-lead reminders and starts the speed-to-lead clock's answer."""
    if kind not in (ActivityKind.NOTE, ActivityKind.CALL, ActivityKind.MESSAGE):
        raise ApiError(
            "Log a note, a call or a message.",
            code="validation_error",
            fields={"kind": ["Choose note, call or message."]},
        )
    body = (body or "").strip()
    if not body and kind == ActivityKind.NOTE:
        raise ApiError(
            "Write the note first.", code="validation_error", fields={"body": ["Required."]}
        )
    with transaction.atomic():
        locked = _locked(lead)
        activity = _log(locked, kind, actor=actor, body=body)
        if kind in HUMAN_CONTACT_KINDS:
            _mark_human_contact(locked)
            if locked.status == LeadStatus.NEW:
                locked.status = LeadStatus.CONTACTED
                locked.save(update_fields=["status", "updated_at"])
                _log(
                    locked,
                    ActivityKind.STATUS,
                    actor=actor,
                    data={"from": LeadStatus.NEW, "to": LeadStatus.CONTACTED},
                )
    return activity


def lead_set_follow_up(*, lead: Lead, at: datetime | None, actor: Actor) -> Lead:
    with transaction.atomic():
        locked = _locked(lead)
        locked.follow_up_at = at
        locked.save(update_fields=["follow_up_at", "updated_at"])
        _log(
            locked,
            ActivityKind.FOLLOW_UP,
            actor=actor,
            data={"at": at.isoformat() if at else None},
        )
    return locked


EDITABLE = ("name", "email", "phone", "zip_code", "event_date", "guests", "budget_cents", "message")


def lead_update(*, lead: Lead, changes: dict, actor: Actor) -> Lead:
    """Staff correct or complete the lead's details; it is scored again."""
    with transaction.atomic():
        locked = _locked(lead)
        changed = {}
        for field, value in changes.items():
            if field in EDITABLE and getattr(locked, field) != value:
                changed[field] = str(value) if value is not None else None
                setattr(locked, field, value)
        if not changed:
            return locked
        locked.save()
        _log(locked, ActivityKind.UPDATED, actor=actor, data={"changed": sorted(changed)})
        lead_rescore(lead=locked)
        _explain_later(locked)
    return locked


def lead_route(*, lead: Lead, station: Station, actor: Actor) -> Lead:
    """Give an unassigned lead to a station (an owner's decision)."""
    with transaction.atomic():
        locked = _locked(lead)
        if locked.station_id is not None:
            raise Conflict("This lead already belongs to a station.", code="lead_routed")
        locked.station = station
        locked.customer = known_customer(station, locked.email, locked.phone)
        locked.save(update_fields=["station", "customer", "updated_at"])
        _log(locked, ActivityKind.ASSIGNED, actor=actor, data={"station": station.slug})
        lead_rescore(lead=locked)
    return locked


# --- First reply -----------------------------------------------------------------------------


def lead_first_reply(*, lead_id: int) -> str:
    """The automatic first reply, once: claimed by setting first_reply_at, then one automated
    message in the customer's thread on the lead's channel (the one they wrote on, else SMS when
    they agreed to texts, else e-mail) under the key "lead-first-reply-<id>". Compliance
    decides (consent, opt-out, quiet hours are the inbox sender's); a refusal is recorded on
    the lead and in the thread."""
    lead = Lead.objects.select_related("station", "customer").filter(pk=lead_id).first()
    if lead is None or lead.station is None or not lead.station.lead_auto_first_reply:
        return "not wanted"
    if lead.first_reply_at is not None or lead.first_human_contact_at is not None:
        return "done before"
    if not (lead.email or lead.phone or lead.customer_id):
        return "no contact"
    station = lead.station
    with transaction.atomic():
        claimed = Lead.objects.filter(pk=lead.pk, first_reply_at__isnull=True).update(
            first_reply_at=timezone.now()
        )
        if not claimed:
            return "done before"
        customer = lead.customer or customer_upsert(
            station=station,
            name=lead.name,
            email=lead.email,
            phone=lead.phone,
            update_existing=False,
        )
        if lead.customer_id is None:
            Lead.objects.filter(pk=lead.pk).update(customer=customer)
        conversation = conversation_for(customer)
        channel = outbound.reply_channel(conversation)
        if channel is None:
            _log(lead, ActivityKind.FIRST_REPLY, body="Not sent: the station has no channel.")
            return "no channel"
        text = station.lead_first_reply_text.format(
            first_name=lead.first_name or "there", station=station.name
        )
        reason = compliance.send_refusal(
            customer=customer, channel=channel, conversation_id=conversation.pk, automated=True
        )
        message = outbound.message_queue(
            conversation=conversation,
            channel=channel,
            body=text,
            subject=f"Your hibachi party with {station.name}" if channel.kind == "email" else "",
            sender=Sender.SYSTEM,
            automated=True,
            key=f"lead-first-reply-{lead.pk}",
            refused=reason,
        )
        _log(
            lead,
            ActivityKind.FIRST_REPLY,
            body=f"Not sent: {reason}." if reason else text,
            data={"message": message.pk, "channel": channel.kind, "refused": reason},
        )
    return "refused" if reason else "sent"


def lead_from_inbound(*, message_id: int) -> Lead | None:
    """A first message from an unknown sender (no bookings, no earlier message, no lead) becomes
    a lead at the channel's station, once per message. A message from someone with an open lead
    joins that lead's timeline and rescores it (they wrote back)."""
    message = (
        Message.objects.select_related("channel__station", "conversation__customer")
        .filter(pk=message_id, direction=Direction.INBOUND)
        .first()
    )
    if message is None or message.channel is None or message.is_note:
        return None
    customer = message.conversation.customer
    if compliance.keyword_of(message.body or ""):
        return None  # STOP, HELP...: not an enquiry
    open_lead = customer.leads.filter(status__in=OPEN_STATUSES).order_by("created_at").first()
    if open_lead is not None:
        if open_lead.import_key != f"message-{message.pk}":  # not the message it came from
            _heard_from(open_lead, message)
        return open_lead
    earlier = Message.objects.filter(
        conversation=message.conversation, direction=Direction.INBOUND, pk__lt=message.pk
    ).exists()
    if earlier or customer.bookings.exists() or customer.leads.exists():
        return None
    lead, _new = lead_capture(
        data=LeadInput(
            name=customer.name,
            email=customer.email,
            phone=customer.phone,
            message=(message.body or "")[:5000],
            source=SOURCE_OF_CHANNEL.get(message.channel.kind, LeadSource.OTHER),
        ),
        station=message.channel.station,
        import_key=f"message-{message.pk}",
        first_reply=False,  # the inbox's own ladder answers the message
        explain=False,
    )
    if lead.customer_id is None:
        Lead.objects.filter(pk=lead.pk).update(customer=customer)
    return lead


def _heard_from(lead: Lead, message: Message) -> None:
    """The customer's message on the lead's timeline (once per message), and a new score."""
    with transaction.atomic():
        locked = _locked(lead)
        if locked.activities.filter(kind=ActivityKind.MESSAGE, data__message=message.pk).exists():
            return
        _log(
            locked,
            ActivityKind.MESSAGE,
            actor=Actor(label="customer"),
            body=(message.body or "")[:2000],
            data={"direction": "in", "message": message.pk, "channel": message.channel.kind},
        )
        lead_rescore(lead=locked)


def _human_reply_at(lead: Lead) -> datetime | None:
    """When a person at the station first answered the lead's customer in the inbox (a reply
    or an approved AI draft) since the lead came in."""
    if lead.customer_id is None:
        return None
    return (
        Message.objects.filter(
            conversation__customer_id=lead.customer_id,
            direction=Direction.OUTBOUND,
            sender=Sender.USER,
            is_note=False,
            created_at__gte=lead.created_at,
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )


# --- Speed to lead ---------------------------------------------------------------------------


def _remind(lead: Lead, level: int, recipients: list) -> None:
    from leads.tasks import remind_staff  # e-mail to staff, after commit

    names = [user.get_username() for user in recipients]
    _log(
        lead,
        ActivityKind.REMINDER,
        body=f"No one has contacted this lead yet; reminded {', '.join(names) or 'nobody'}.",
        data={"level": level, "to": names},
    )
    emails = [user.email for user in recipients if user.email]
    if emails:
        transaction.on_commit(lambda: broker.enqueue(remind_staff, lead.pk, emails, level))


def _managers_of(station_id: int) -> list:
    return [
        m.user
        for m in Membership.objects.filter(
            station_id=station_id, role__in=(Role.OWNER, Role.MANAGER), user__is_active=True
        ).select_related("user")
    ]


def _works_leads_at(user, station_id: int) -> bool:
    """The assignee still works the station's leads: one who left (membership gone, account
    switched off) is not e-mailed about them; the managers are reminded instead."""
    return (
        user is not None
        and user.is_active
        and (
            user.is_superuser
            or Membership.objects.filter(
                user=user, station_id=station_id, role__in=_STAFF_ROLES
            ).exists()
        )
    )


CONTACT_WATCH_DAYS = 14  # a new lead's inbox replies are looked for this long


def leads_escalate_stale(*, now: datetime | None = None) -> int:
    """New leads with no human contact after the station's target (counted in opening hours):
    the assignee is reminded (level 1; the managers when nobody is assigned), and after twice
    the target the station's managers (level 2). Each level once per lead. A lead whose
    customer a person answered in the inbox becomes `contacted` at the time of that answer."""
    now = now or timezone.now()
    done = 0
    # lead_uncontacted_idx: new leads nobody has contacted, by arrival.
    waiting = Lead.objects.filter(
        status=LeadStatus.NEW,
        first_human_contact_at__isnull=True,
        station__isnull=False,
        created_at__gte=now - timedelta(days=CONTACT_WATCH_DAYS),
    ).select_related("station", "assignee")
    for lead in waiting.iterator(chunk_size=200):
        replied = _human_reply_at(lead)
        if replied is not None:  # answered in the inbox: contacted
            Lead.objects.filter(pk=lead.pk, status=LeadStatus.NEW).update(
                status=LeadStatus.CONTACTED, first_human_contact_at=replied
            )
            _log(
                lead,
                ActivityKind.STATUS,
                body="Answered in the inbox.",
                data={"from": LeadStatus.NEW, "to": LeadStatus.CONTACTED},
            )
            continue
        if lead.escalation_level >= 2:
            continue
        target = lead.station.lead_response_target_minutes
        level = 0
        if scoring.stale_after(lead.station, lead.created_at, 2 * target) <= now:
            level = 2
        elif scoring.stale_after(lead.station, lead.created_at, target) <= now:
            level = 1
        if level <= lead.escalation_level:
            continue
        with transaction.atomic():
            claimed = Lead.objects.filter(
                pk=lead.pk,
                escalation_level__lt=level,
                first_human_contact_at__isnull=True,
                status=LeadStatus.NEW,
            ).update(escalation_level=level, escalated_at=now)
            if not claimed:
                continue
            if level == 1 and _works_leads_at(lead.assignee, lead.station_id):
                recipients = [lead.assignee]
            else:
                recipients = _managers_of(lead.station_id)
            _remind(lead, level, recipients)
        done += 1
    return done


# --- Conversion ------------------------------------------------------------------------------


def lead_convert(
    *,
    lead: Lead,
    event_date: date,
    start_time: time,
    adults: int,
    children: int,
    addon_codes: list[str],
    address: dict,
    actor: Actor,
    notes: str = "",
    allergies: str = "",
    sms_opt_in: bool = False,
) -> Lead:
    """Create the lead's booking through the bookings service (its availability and capacity
    rules: 409 slot_unavailable when the slot is gone, and then nothing changes), link the two,
    and mark the lead won. A lead converts once (409 lead_converted)."""
    with transaction.atomic():
        locked = _locked(lead)
        if locked.converted_booking_id is not None or locked.status == LeadStatus.WON:
            raise Conflict("This lead was converted already.", code="lead_converted")
        if locked.station is None:
            raise Conflict("Route the lead to a station first.", code="lead_unrouted")
        if not (locked.email or locked.phone):
            raise ApiError(
                "The lead needs a phone number or an e-mail address to book.",
                code="validation_error",
                fields={"phone": ["Add a phone number or an e-mail address."]},
            )
        booking, _token = booking_create(
            station=locked.station,
            event_date=event_date,
            start_time=start_time,
            adults=adults,
            children=children,
            addon_codes=addon_codes,
            address=address,
            customer={
                "name": locked.name,
                "email": locked.email,
                "phone": locked.phone,
                "sms_opt_in": sms_opt_in,
            },
            notes=notes,
            allergies=allergies,
            source=BookingSource.LEAD,
            actor=actor,
        )
        before = locked.status
        locked.converted_booking = booking
        locked.customer = booking.customer
        locked.status = LeadStatus.WON
        locked.save(update_fields=["converted_booking", "customer", "status", "updated_at"])
        _log(
            locked,
            ActivityKind.CONVERTED,
            actor=actor,
            body=f"Booking {booking.reference}",
            data={"booking": booking.reference, "from": before},
        )
        _mark_human_contact(locked)
    return locked


def conversion_defaults(lead: Lead) -> dict:
    """What the conversion form starts with, from the lead."""
    return {
        "event_date": lead.event_date,
        "adults": lead.guests or 10,
        "children": 0,
        "zip_code": lead.zip_code,
        "notes": lead.message[:1000],
    }
