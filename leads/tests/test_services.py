"""Lead capture, routing, dedupe, scoring, pipeline, first reply, escalation and conversion,
through the services (the API and admin tests drive the same functions over HTTP)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from bookings.models import BookingStatus, Customer
from bookings.services import Actor
from config.exceptions import ApiError, Conflict
from inbox import demo as inbox_demo
from inbox.models import Message
from inbox.services import conversation_for
from leads import services
from leads.models import ActivityKind, Lead, LeadActivity, LeadStatus
from leads.services import LeadInput
from stations.models import Chef
from testing.factories import CustomerFactory, make_booking

pytestmark = pytest.mark.django_db

# A Wednesday, 10:00 in California (PST): inside the default opening hours (09:00-21:00).
NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
EVENT = date(2026, 4, 11)  # a Saturday five weeks later


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def lead_input(**fields) -> LeadInput:
    values = {
        "name": "Kim Lee",
        "email": "kim@example.com",
        "phone": "+14085550177",
        "zip_code": "95110",
        "event_date": EVENT,
        "guests": 12,
        "message": "Birthday party in the backyard",
    }
    values.update(fields)
    return LeadInput(**values)


def capture(**fields):
    station = fields.pop("station", None)
    return services.lead_capture(data=lead_input(**fields), station=station, first_reply=False)


def kinds(lead) -> list[str]:
    return list(lead.activities.values_list("kind", flat=True))


# --- Routing ---------------------------------------------------------------------------------


def test_a_lead_without_a_station_goes_to_the_station_serving_its_zip(san_jose, sacramento):
    assert capture(zip_code="95110")[0].station == san_jose
    assert capture(zip_code="95811", email="a@example.com", phone="")[0].station == sacramento


def test_a_zip_no_station_serves_waits_in_the_unassigned_queue(world):
    lead, created = capture(zip_code="10001")
    assert created
    assert lead.station is None
    reasons = {r["factor"]: r for r in lead.score_reasons}
    assert reasons["availability"]["detail"] == "No station serves this ZIP code"


def test_a_switched_off_station_is_not_routed_to(san_jose):
    san_jose.active = False
    san_jose.save()
    assert capture(zip_code="95110")[0].station is None


def test_an_owner_routes_an_unassigned_lead(world, owner, san_jose):
    lead, _ = capture(zip_code="10001")
    routed = services.lead_route(lead=lead, station=san_jose, actor=Actor.of(owner))
    assert routed.station == san_jose
    with pytest.raises(Conflict):
        services.lead_route(lead=routed, station=san_jose, actor=Actor.of(owner))


# --- Dedupe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "second",
    [
        {"email": "other@example.com"},  # same phone
        {"phone": "+14085550199", "email": "kim@example.com"},  # same e-mail
    ],
)
def test_the_same_person_again_merges_into_the_open_lead(san_jose, second):
    first, created = capture(guests=None)
    again, created_again = capture(guests=20, message="Actually 20 people", **second)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Lead.objects.count() == 1
    again.refresh_from_db()
    assert again.guests == 20  # filled what the lead lacked
    assert "Actually 20 people" in again.message
    merge = again.activities.get(kind=ActivityKind.MERGED)
    assert merge.data["filled"] == {"guests": "20"}


def test_a_merge_never_overwrites_what_the_lead_says(san_jose):
    first, _ = capture(guests=12)
    capture(guests=40, name="Somebody Else")
    first.refresh_from_db()
    assert (first.guests, first.name) == (12, "Kim Lee")


def test_a_closed_lead_or_another_station_is_not_merged_into(san_jose, sacramento, sj_agent):
    first, _ = capture()
    services.lead_set_status(
        lead=first, status=LeadStatus.LOST, reason="went elsewhere", actor=Actor.of(sj_agent)
    )
    second, created = capture()
    assert created
    assert second.pk != first.pk
    third, created = capture(station=sacramento, zip_code="95811")
    assert created
    assert third.station == sacramento


def test_a_lead_from_a_known_customer_links_to_them_and_changes_nothing(san_jose):
    customer = CustomerFactory(
        station=san_jose, name="Kim L.", email="kim@example.com", phone="+14085550100"
    )
    before = Customer.objects.filter(pk=customer.pk).values().get()
    lead, _ = capture(name="Kimberly Lee", phone="+14085550177")
    assert lead.customer == customer
    assert Customer.objects.filter(pk=customer.pk).values().get() == before


def test_concurrent_captures_of_one_person_make_one_lead(transactional_db, world):
    """Real threads, real PostgreSQL: the advisory locks serialise them."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def one(i):
        try:
            return services.lead_capture(data=lead_input(message=f"try {i}"), first_reply=False)[
                0
            ].pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(one, range(16)))
    assert len(ids) == 1
    lead = Lead.objects.get()
    assert lead.activities.filter(kind=ActivityKind.MERGED).count() == 15


# --- Scoring ---------------------------------------------------------------------------------


def reasons_of(lead) -> dict:
    return {r["factor"]: (r["points"], r["detail"]) for r in lead.score_reasons}


def test_a_complete_lead_scores_with_a_reason_for_every_point(san_jose):
    lead, _ = capture(budget_cents=500_000, source="referral")
    reasons = reasons_of(lead)
    assert lead.score == sum(points for points, _ in reasons.values())
    assert reasons["guests"] == (16, "12 guests")
    assert reasons["timing"] == (20, "In 38 days: ready to book")
    assert reasons["availability"][0] == 15
    assert reasons["availability"][1].startswith("Sat 11 Apr: ")
    assert reasons["completeness"] == (15, "Complete")
    assert reasons["budget"][0] == 15
    assert "covers the quote" in reasons["budget"][1]
    assert reasons["source"] == (10, "Came in by referral")
    assert reasons["engagement"] == (0, "No reply to our first contact yet")
    assert lead.score == 91


def test_a_thin_lead_scores_low_and_says_what_is_missing(san_jose):
    lead, _ = capture(event_date=None, guests=None, zip_code="", email="", source="import")
    reasons = reasons_of(lead)
    assert reasons["completeness"] == (3, "Missing: e-mail, date, guests, ZIP served")
    assert reasons["timing"] == (0, "No event date yet")
    assert lead.score < 20


def test_a_budget_under_the_quote_costs_points(san_jose):
    lead, _ = capture(budget_cents=10_000)
    points, detail = reasons_of(lead)["budget"]
    assert points == 0
    assert "well under the quote" in detail


def test_a_fully_booked_date_costs_the_availability_points(san_jose):
    for chef in Chef.objects.filter(station=san_jose, active=True):
        make_booking(san_jose, days=(EVENT - date(2026, 3, 4)).days, chef=chef, start="12:00")
        make_booking(san_jose, days=(EVENT - date(2026, 3, 4)).days, chef=chef, start="18:00")
    lead, _ = capture()
    assert reasons_of(lead)["availability"] == (0, "Sat 11 Apr: no chef free for this party")


def test_a_lead_is_rescored_when_it_changes(san_jose, sj_agent):
    lead, _ = capture(guests=None)
    before = lead.score
    updated = services.lead_update(lead=lead, changes={"guests": 25}, actor=Actor.of(sj_agent))
    assert reasons_of(updated)["guests"] == (20, "25 guests")
    assert updated.score == before + 20 + 3  # party size and completeness
    assert kinds(updated)[-1] == ActivityKind.UPDATED


def test_a_date_in_the_past_scores_no_timing(san_jose):
    lead, _ = capture(event_date=date(2026, 3, 1))
    assert reasons_of(lead)["timing"] == (0, "The date (01 Mar) has passed")


# --- Pipeline --------------------------------------------------------------------------------


def test_lost_needs_a_reason_and_won_comes_only_from_a_conversion(san_jose, sj_agent):
    lead, _ = capture()
    actor = Actor.of(sj_agent)
    with pytest.raises(ApiError) as refused:
        services.lead_set_status(lead=lead, status=LeadStatus.LOST, actor=actor, reason=" ")
    assert refused.value.fields == {"reason": ["Say why the lead was lost."]}
    with pytest.raises(Conflict):
        services.lead_set_status(lead=lead, status=LeadStatus.WON, actor=actor)
    services.lead_set_status(lead=lead, status=LeadStatus.QUALIFIED, actor=actor)
    lost = services.lead_set_status(lead=lead, status=LeadStatus.LOST, actor=actor, reason="price")
    assert (lost.status, lost.lost_reason) == ("lost", "price")
    statuses = [a.data for a in lost.activities.filter(kind=ActivityKind.STATUS)]
    assert statuses == [{"from": "new", "to": "qualified"}, {"from": "qualified", "to": "lost"}]


def test_logging_a_call_is_human_contact_and_moves_a_new_lead_on(san_jose, sj_agent, clock):
    lead, _ = capture()
    clock.shift(timedelta(minutes=7))
    services.lead_log(lead=lead, kind="call", body="Left a voicemail", actor=Actor.of(sj_agent))
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONTACTED
    assert lead.first_human_contact_at == NOW + timedelta(minutes=7)
    assert services.lead_log(lead=lead, kind="note", body="x", actor=Actor.of(sj_agent))
    with pytest.raises(ApiError):
        services.lead_log(lead=lead, kind="status", body="x", actor=Actor.of(sj_agent))


def test_a_lead_is_assigned_only_to_a_member_of_its_station(san_jose, sj_agent, sac_manager):
    lead, _ = capture()
    services.lead_assign(lead=lead, assignee=sj_agent, actor=Actor.of(sj_agent))
    with pytest.raises(ApiError):
        services.lead_assign(lead=lead, assignee=sac_manager, actor=Actor.of(sj_agent))
    lead.refresh_from_db()
    assert lead.assignee == sj_agent


# --- First reply -----------------------------------------------------------------------------


@pytest.fixture
def channels(world):
    inbox_demo.build_channels(password="x")


def test_the_first_reply_goes_once_through_the_inbox(san_jose, channels):
    lead, _ = capture(phone="")  # e-mail only: e-mails are agreed by default
    assert services.lead_first_reply(lead_id=lead.pk) == "sent"
    assert services.lead_first_reply(lead_id=lead.pk) == "done before"
    message = Message.objects.get(idempotency_key=f"lead-first-reply-{lead.pk}")
    assert message.body.startswith("Hi Kim, thanks for asking San Jose about a hibachi party!")
    assert message.channel.kind == "email"
    assert message.automated
    lead.refresh_from_db()
    assert lead.customer == message.conversation.customer
    assert lead.first_reply_at == NOW
    assert lead.first_human_contact_at is None  # an automatic reply is not a person


def test_no_first_reply_without_consent_and_the_refusal_is_recorded(san_jose, channels):
    CustomerFactory(
        station=san_jose, name="Kim", email="kim@example.com", email_opt_in=False, phone=""
    )
    lead, _ = capture(phone="")
    assert services.lead_first_reply(lead_id=lead.pk) == "refused"
    message = Message.objects.get(idempotency_key=f"lead-first-reply-{lead.pk}")
    assert message.status == "not_sent"
    activity = lead.activities.get(kind=ActivityKind.FIRST_REPLY)
    assert activity.body == "Not sent: the customer has not agreed to e-mails."


def test_a_station_may_switch_the_first_reply_off(san_jose, channels):
    san_jose.lead_auto_first_reply = False
    san_jose.save()
    lead, _ = capture()
    assert services.lead_first_reply(lead_id=lead.pk) == "not wanted"
    assert not Message.objects.exists()


def test_capture_queues_the_first_reply_after_commit(
    san_jose, channels, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead, _ = services.lead_capture(data=lead_input(phone=""))
    assert Message.objects.filter(idempotency_key=f"lead-first-reply-{lead.pk}").count() == 1


def test_the_sweep_finds_a_first_reply_the_broker_lost(san_jose, channels, clock):
    lead, _ = capture()  # first_reply=False: as if the task never ran
    assert services.first_replies_due() == []  # not before a minute has passed
    clock.shift(timedelta(minutes=2))
    assert services.first_replies_due() == [lead.pk]
    clock.shift(timedelta(days=1))
    assert services.first_replies_due() == []  # a day late is too late


# --- Inbound messages from unknown senders ---------------------------------------------------


def inbound(channel, sender_phone, body):
    from inbox.services import SenderInfo, inbound_receive

    return inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=sender_phone, phone=sender_phone),
        provider_message_id=f"SM-{sender_phone}-{body}",
        body=body,
        received_at=timezone.now(),
    )


def test_an_unknown_senders_first_message_becomes_a_lead_once(san_jose, channels):
    from inbox.models import Channel

    sms = Channel.objects.get(station=san_jose, kind="sms_twilio")
    message = inbound(sms, "+14085550123", "How much for 15 people?")
    lead = services.lead_from_inbound(message_id=message.pk)
    assert (lead.station, lead.source, lead.phone) == (san_jose, "sms", "+14085550123")
    assert lead.message == "How much for 15 people?"
    assert lead.customer == message.conversation.customer
    assert services.lead_from_inbound(message_id=message.pk) == lead  # a retry
    assert not lead.activities.filter(kind=ActivityKind.MESSAGE).exists()
    later = inbound(sms, "+14085550123", "Hello?")
    assert services.lead_from_inbound(message_id=later.pk) == lead  # joins its timeline
    assert Lead.objects.count() == 1


def test_a_customer_with_a_booking_or_a_stop_word_is_not_a_lead(san_jose, channels):
    from inbox.models import Channel

    sms = Channel.objects.get(station=san_jose, kind="sms_twilio")
    booking = make_booking(san_jose, customer__phone="+14085550124")
    known = inbound(sms, booking.customer.phone, "Running late?")
    stop = inbound(sms, "+14085550125", "STOP")
    assert services.lead_from_inbound(message_id=known.pk) is None
    assert services.lead_from_inbound(message_id=stop.pk) is None
    assert not Lead.objects.exists()


# --- Speed to lead ---------------------------------------------------------------------------


def test_a_lead_nobody_contacts_reminds_the_assignee_then_the_managers(
    san_jose, sj_agent, sj_manager, owner, clock
):
    lead, _ = capture()
    services.lead_assign(lead=lead, assignee=sj_agent, actor=Actor.of(sj_manager))
    clock.shift(timedelta(minutes=14))
    assert services.leads_escalate_stale() == 0
    clock.shift(timedelta(minutes=2))  # 16 minutes: past the 15-minute target
    assert services.leads_escalate_stale() == 1
    assert services.leads_escalate_stale() == 0  # once per level
    reminder = lead.activities.get(kind=ActivityKind.REMINDER)
    assert reminder.data == {"level": 1, "to": ["sj-agent"]}
    clock.shift(timedelta(minutes=15))  # 31 minutes: twice the target
    assert services.leads_escalate_stale() == 1
    level_two = lead.activities.filter(kind=ActivityKind.REMINDER).last()
    assert level_two.data["level"] == 2
    assert set(level_two.data["to"]) == {"sj-manager", "demo-owner"}
    clock.shift(timedelta(hours=5))
    assert services.leads_escalate_stale() == 0


def test_the_reminder_e_mail_goes_after_commit(
    san_jose, sj_agent, clock, django_capture_on_commit_callbacks
):
    sj_agent.email = "alex@example.com"
    sj_agent.save()
    lead, _ = capture()
    services.lead_assign(lead=lead, assignee=sj_agent, actor=Actor.of(sj_agent))
    clock.shift(timedelta(minutes=20))
    with django_capture_on_commit_callbacks(execute=True):
        services.leads_escalate_stale()
    assert [m.to for m in mail.outbox] == [["alex@example.com"]]
    assert "Kim Lee" in mail.outbox[0].subject


def test_human_contact_stops_the_reminders(san_jose, sj_agent, clock):
    lead, _ = capture()
    clock.shift(timedelta(minutes=10))
    services.lead_log(lead=lead, kind="call", body="Booked a call back", actor=Actor.of(sj_agent))
    clock.shift(timedelta(hours=3))
    assert services.leads_escalate_stale() == 0
    assert not lead.activities.filter(kind=ActivityKind.REMINDER).exists()


def test_a_lead_that_comes_in_at_night_is_due_after_opening(san_jose, clock):
    clock.move_to(datetime(2026, 3, 5, 7, 30, tzinfo=UTC))  # 23:30 in California
    lead, _ = capture()
    clock.move_to(datetime(2026, 3, 5, 16, 0, tzinfo=UTC))  # 08:00: not open yet
    assert services.leads_escalate_stale() == 0
    clock.move_to(datetime(2026, 3, 5, 17, 14, tzinfo=UTC))  # 09:14
    assert services.leads_escalate_stale() == 0
    clock.move_to(datetime(2026, 3, 5, 17, 16, tzinfo=UTC))  # 09:16
    assert services.leads_escalate_stale() == 1
    assert lead.activities.filter(kind=ActivityKind.REMINDER).count() == 1


# --- Conversion ------------------------------------------------------------------------------

ADDRESS = {
    "line1": "1 Main St",
    "line2": "",
    "city": "San Jose",
    "state": "CA",
    "zip_code": "95110",
}


def convert(lead, user, **fields):
    values = {
        "event_date": EVENT,
        "start_time": time(17, 0),
        "adults": 12,
        "children": 0,
        "addon_codes": [],
        "address": ADDRESS,
        "actor": Actor.of(user),
    }
    values.update(fields)
    return services.lead_convert(lead=lead, **values)


def test_converting_books_through_the_bookings_service_and_wins_the_lead(san_jose, sj_agent):
    lead, _ = capture()
    won = convert(lead, sj_agent)
    booking = won.converted_booking
    assert won.status == LeadStatus.WON
    assert booking.source == "lead"
    assert booking.status == BookingStatus.PENDING_DEPOSIT
    assert (booking.customer.email, booking.adults, booking.event_date) == (
        "kim@example.com",
        12,
        EVENT,
    )
    assert won.customer == booking.customer
    assert kinds(won)[-1] == ActivityKind.CONVERTED
    with pytest.raises(Conflict) as again:
        convert(won, sj_agent)
    assert again.value.error_code == "lead_converted"


def test_a_slot_that_is_gone_is_409_and_changes_nothing(san_jose, sj_agent):
    days = (EVENT - date(2026, 3, 4)).days
    for _chef in Chef.objects.filter(station=san_jose, active=True):
        make_booking(san_jose, days=days, start="17:00")
    lead, _ = capture()
    activities = LeadActivity.objects.count()
    with pytest.raises(Conflict) as gone:
        convert(lead, sj_agent)
    assert gone.value.error_code == "slot_unavailable"
    lead.refresh_from_db()
    assert (lead.status, lead.converted_booking) == (LeadStatus.NEW, None)
    assert LeadActivity.objects.count() == activities
    assert not Customer.objects.filter(email="kim@example.com").exists()


def test_an_unrouted_lead_cannot_be_converted(world, owner):
    lead, _ = capture(zip_code="10001")
    with pytest.raises(Conflict) as refused:
        convert(lead, owner)
    assert refused.value.error_code == "lead_unrouted"


def test_the_inbox_task_makes_the_lead_after_processing_the_message(san_jose, channels):
    from inbox.models import Channel
    from inbox.tasks import process_inbound

    sms = Channel.objects.get(station=san_jose, kind="sms_twilio")
    message = inbound(sms, "+14085550126", "Do you do Sunday parties?")
    process_inbound(message.pk)
    process_inbound(message.pk)  # a retried task
    lead = Lead.objects.get()
    assert (lead.phone, lead.import_key) == ("+14085550126", f"message-{message.pk}")


def test_a_staff_reply_in_the_inbox_is_human_contact(san_jose, channels, sj_agent, clock):
    from inbox.outbound import reply_send

    lead, _ = capture(phone="")
    services.lead_first_reply(lead_id=lead.pk)  # automatic: not a person
    lead.refresh_from_db()
    clock.shift(timedelta(minutes=6))
    reply_send(conversation=conversation_for(lead.customer), author=sj_agent, body="Hi Kim!")
    clock.shift(timedelta(minutes=30))
    assert services.leads_escalate_stale() == 0
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONTACTED
    assert lead.first_human_contact_at == NOW + timedelta(minutes=6)
    assert not lead.activities.filter(kind=ActivityKind.REMINDER).exists()


def test_a_message_from_a_lead_joins_its_timeline_and_rescores_it(san_jose, channels, clock):
    from inbox.models import Channel

    sms = Channel.objects.get(station=san_jose, kind="sms_twilio")
    first = inbound(sms, "+14085550127", "Price for 10?")
    lead = services.lead_from_inbound(message_id=first.pk)
    services.lead_log(lead=lead, kind="call", body="called", actor=Actor(label="sj-agent"))
    clock.shift(timedelta(minutes=3))
    reply = inbound(sms, "+14085550127", "Thanks! Saturday works")
    services.lead_from_inbound(message_id=reply.pk)
    services.lead_from_inbound(message_id=reply.pk)  # a retried task
    lead.refresh_from_db()
    heard = lead.activities.filter(kind=ActivityKind.MESSAGE, data__direction="in")
    assert [a.body for a in heard] == ["Thanks! Saturday works"]
    assert reasons_of(lead)["engagement"] == (5, "Wrote back after our first contact")
