"""The admin inbox (issue 13, point 6): the conversation list and the conversation page, through
the admin's own URLs with a signed-in client, as staff use them."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from inbox import selectors, sending, services
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    MessageTemplate,
    Sender,
    TemplateCategory,
    TemplateKind,
)
from inbox.services import SenderInfo
from testing.factories import CustomerFactory, PaymentFactory, make_booking

pytestmark = pytest.mark.django_db

LIST = "admin:inbox_conversation_changelist"


def page_url(conversation) -> str:
    return reverse("admin:inbox_conversation_change", args=[conversation.pk])


def action_url(conversation, action: str) -> str:
    return reverse(f"admin:inbox_conversation_{action}", args=[conversation.pk])


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def sms(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


@pytest.fixture
def whatsapp(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.WHATSAPP, address="100000000000001"
    )


@pytest.fixture
def sac_sms(sacramento):
    return Channel.objects.create(
        station=sacramento, kind=ChannelKind.SMS_TWILIO, address="+19165550100"
    )


@pytest.fixture
def canned(san_jose):
    return MessageTemplate.objects.create(
        station=san_jose,
        kind=TemplateKind.CANNED,
        name="Thanks",
        body="Thanks for writing! We'll confirm your date within the hour.",
    )


_ids = iter(range(1, 10**9))


def receive(channel, external_id, body="Hi, is June 6 free?", *, ago=timedelta(0), **sender):
    return services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=external_id, **sender),
        provider_message_id=f"SM{next(_ids):010d}",
        body=body,
        received_at=timezone.now() - ago,
    )


def conversation_of(message) -> Conversation:
    return Conversation.objects.select_related("customer").get(pk=message.conversation_id)


@pytest.fixture
def kim(sms, san_jose):
    CustomerFactory(station=san_jose, name="Kim Lee", phone="+14085550177", email="kim@ex.com")
    return conversation_of(receive(sms, "+14085550177", ago=timedelta(minutes=12)))


# --- The list ----------------------------------------------------------------------------------


def test_the_list_shows_unread_first_then_the_most_recent(sms, san_jose, sj_agent):
    old_read = conversation_of(receive(sms, "+14085550101", "old", ago=timedelta(hours=5)))
    services.conversation_mark_read(conversation=old_read)
    recent_read = conversation_of(receive(sms, "+14085550102", "recent", ago=timedelta(hours=1)))
    services.conversation_mark_read(conversation=recent_read)
    unread_old = conversation_of(receive(sms, "+14085550103", "unread", ago=timedelta(hours=3)))
    unread_new = conversation_of(receive(sms, "+14085550104", "newest", ago=timedelta(minutes=12)))

    response = signed_in(sj_agent).get(reverse(LIST))

    assert response.status_code == 200
    shown = [c.pk for c in response.context["cl"].result_list]
    assert shown == [unread_new.pk, unread_old.pk, recent_read.pk, old_read.pk]
    html = response.content.decode()
    assert 'class="ch-badge ch-sms"' in html
    assert "newest" in html  # the preview
    assert "12 min" in html  # waiting since, as people say it
    assert "unread-dot" in html


def test_the_last_message_time_is_in_the_stations_zone(sms, san_jose, sj_agent):
    at = datetime(2026, 1, 15, 18, 30, tzinfo=ZoneInfo("UTC"))
    services.inbound_receive(
        channel=sms,
        sender=SenderInfo(external_id="+14085550109"),
        provider_message_id="SMzone",
        body="hello",
        received_at=at,
    )
    html = signed_in(sj_agent).get(reverse(LIST)).content.decode()
    assert "Jan. 15, 10:30 a.m. PST" in html  # 18:30 UTC in San Jose


def test_another_stations_conversations_are_not_listed_and_do_not_exist(kim, sac_sms, sj_agent):
    theirs = conversation_of(receive(sac_sms, "+19165550177", "Sacramento question"))
    client = signed_in(sj_agent)

    listed = [c.pk for c in client.get(reverse(LIST)).context["cl"].result_list]
    assert listed == [kim.pk]
    page = client.get(page_url(theirs))  # as for any object that is not theirs: "doesn't exist"
    assert page.status_code == 302
    assert page["Location"] == reverse("admin:index")
    for action in ("reply", "assign", "status", "note"):
        assert client.post(action_url(theirs, action), {"status": "closed"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.unread
    assert theirs.status == ConversationStatus.OPEN


def test_chefs_have_no_inbox(kim, sj_chef):
    client = signed_in(sj_chef)
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(page_url(kim)).status_code == 403
    assert client.post(action_url(kim, "note"), {"note": "hi"}).status_code == 404
    assert not Message.objects.filter(is_note=True).exists()


def test_odd_ids_are_not_found(kim, sj_agent):
    client = signed_in(sj_agent)
    for odd in ("abc", "\u00b2", "99999999999999999999", "0"):
        url = reverse("admin:inbox_conversation_change", args=[odd])
        assert client.get(url).status_code in (404, 302)
        assert client.get(url.replace("/change/", "/reply/")).status_code in (404, 302)


def test_filters_by_channel_status_and_assignee(kim, sms, whatsapp, sj_agent, sj_manager):
    on_whatsapp = conversation_of(receive(whatsapp, "wa-1", phone="+14085550190", name="Ana"))
    closed = conversation_of(receive(sms, "+14085550105"))
    services.conversation_set_status(conversation=closed, status=ConversationStatus.CLOSED)
    services.conversation_assign(conversation=kim, assignee=sj_agent, actor=sj_agent)
    services.conversation_assign(conversation=on_whatsapp, assignee=sj_manager, actor=sj_agent)
    client = signed_in(sj_agent)

    def listed(**params):
        response = client.get(reverse(LIST), params)
        assert response.status_code == 200
        return {c.pk for c in response.context["cl"].result_list}

    assert listed(channel="whatsapp") == {on_whatsapp.pk}
    assert listed(channel="sms_twilio") == {kim.pk, closed.pk}
    assert listed(status="closed") == {closed.pk}
    assert listed(assignee="mine") == {kim.pk}
    assert listed(assignee="unassigned") == {closed.pk}
    assert listed(assignee=str(sj_manager.pk)) == {on_whatsapp.pk}
    assert listed(channel="nonsense", assignee="\u00b2") == {kim.pk, closed.pk, on_whatsapp.pk}


def test_search_by_name_email_and_a_phone_typed_any_way(kim, sms, whatsapp, sj_agent):
    other = conversation_of(receive(sms, "+14085550106", name="Someone Else"))
    # WhatsApp tells us the number; the customer record has none.
    by_wa = conversation_of(receive(whatsapp, "wa-77", phone="+14085550188", name="Wa Person"))
    client = signed_in(sj_agent)

    def found(term):
        response = client.get(reverse(LIST), {"q": term})
        assert response.status_code == 200
        return {c.pk for c in response.context["cl"].result_list}

    assert found("kim lee") == {kim.pk}
    assert found("KIM@ex.com") == {kim.pk}
    assert found("(408) 555-0177") == {kim.pk}
    assert found("408.555.0188") == {by_wa.pk}
    assert found("0106") == {other.pk}
    assert found("nobody-like-this") == set()
    found("a\x00b")  # a NUL the database cannot hold: no 500


def test_the_lists_query_count_does_not_grow_with_the_page(sms, sj_agent, monkeypatch):
    monkeypatch.setattr(admin.site._registry[Conversation], "list_per_page", 200)
    client = signed_in(sj_agent)

    def queries_for(total: int) -> int:
        have = Conversation.objects.count()
        for n in range(have, total):
            message = receive(sms, f"+1408555{n:04d}", f"message {n}")
            if n % 3 == 0:
                services.conversation_assign(
                    conversation=conversation_of(message), assignee=sj_agent, actor=sj_agent
                )
        client.get(reverse(LIST))  # warm: the session, the user's roles
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(LIST))
        assert len(response.context["cl"].result_list) == total
        return len(queries)

    assert queries_for(10) == queries_for(100)


# --- The conversation page -------------------------------------------------------------------


def _outbound(conversation, channel, body, status, error="", **fields):
    return Message.objects.create(
        conversation=conversation,
        channel=channel,
        direction=Direction.OUTBOUND,
        sender=Sender.USER,
        body=body,
        status=status,
        error=error,
        created_at=timezone.now() - timedelta(minutes=5),
        **fields,
    )


def test_the_page_shows_every_message_with_badges_ticks_authors_and_notes(
    kim, sms, sj_agent, sj_manager
):
    _outbound(kim, sms, "sent one", MessageStatus.SENT, author=sj_manager)
    _outbound(kim, sms, "delivered one", MessageStatus.DELIVERED, author=sj_manager)
    _outbound(kim, sms, "read one", MessageStatus.READ, author=sj_manager)
    _outbound(kim, sms, "failed one", MessageStatus.FAILED, "30003: Unreachable handset")
    _outbound(kim, sms, "offline one", MessageStatus.NOT_SENT, sending.OFFLINE)
    _outbound(kim, sms, "unknown one", MessageStatus.UNKNOWN)
    _outbound(kim, sms, "queued one", MessageStatus.QUEUED)
    services.note_add(conversation=kim, author=sj_manager, body="Called her back, no answer")

    response = signed_in(sj_agent).get(page_url(kim))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Hi, is June 6 free?") < html.index("sent one") < html.index("queued one")
    assert "Kim Lee" in html
    assert "Sam Manager" in html
    assert "sent ✓" in html
    assert "delivered ✓✓" in html
    assert "read ✓✓" in html
    assert "failed: 30003: Unreachable handset" in html
    assert "not sent: channel offline" in html
    assert "not sent: not sent" not in html  # the sender's reason already says it
    assert "delivery unknown" in html
    assert ">queued<" in html
    assert 'class="ch-badge ch-sms"' in html
    note = html[html.index("Called her back") - 600 : html.index("Called her back")]
    assert 'class="msg note"' in note
    assert "Private note" in note


def test_opening_the_conversation_marks_it_read(kim, sj_agent):
    assert kim.unread
    signed_in(sj_agent).get(page_url(kim))
    kim.refresh_from_db()
    assert not kim.unread


def test_a_long_thread_shows_its_newest_page_and_an_older_link(kim, sms, sj_agent):
    base = timezone.now() - timedelta(days=3)
    Message.objects.bulk_create(
        Message(
            conversation=kim,
            channel=sms,
            direction=Direction.INBOUND,
            sender=Sender.CUSTOMER,
            body=f"line {n:03d}",
            provider_message_id=f"SMbulk{n}",
            created_at=base + timedelta(minutes=n),
        )
        for n in range(120)
    )
    client = signed_in(sj_agent)

    latest = client.get(page_url(kim))
    rows = [row["message"].body for row in latest.context["thread"]]
    assert len(rows) == 50
    assert rows[-1] == "Hi, is June 6 free?"  # the newest, last
    assert rows[0] == "line 071"
    assert latest.context["older_url"]

    older = client.get(page_url(kim) + latest.context["older_url"])
    rows = [row["message"].body for row in older.context["thread"]]
    assert rows[0] == "line 021"
    assert rows[-1] == "line 070"
    oldest = client.get(page_url(kim) + older.context["older_url"])
    rows = [row["message"].body for row in oldest.context["thread"]]
    assert rows[0] == "line 000"
    assert rows[-1] == "line 020"
    assert not oldest.context["older_url"]


def test_the_page_costs_the_same_with_many_messages(kim, sms, sj_agent):
    client = signed_in(sj_agent)
    client.get(page_url(kim))
    with CaptureQueriesContext(connection) as few:
        client.get(page_url(kim))
    Message.objects.bulk_create(
        Message(
            conversation=kim,
            channel=sms,
            direction=Direction.INBOUND,
            sender=Sender.CUSTOMER,
            body=f"line {n}",
            provider_message_id=f"SMmany{n}",
            created_at=timezone.now() - timedelta(days=2, minutes=n),
        )
        for n in range(2_000)
    )
    with CaptureQueriesContext(connection) as many:
        client.get(page_url(kim))
    assert len(many) == len(few)


def test_the_customers_bookings_and_payments_are_beside_the_thread(kim, san_jose, sj_agent):
    booking = make_booking(san_jose, customer=kim.customer, status="confirmed")
    PaymentFactory(booking=booking, paid=True)
    other_customer = make_booking(san_jose)

    html = signed_in(sj_agent).get(page_url(kim)).content.decode()

    assert reverse("admin:bookings_booking_change", args=[booking.pk]) in html
    assert booking.reference in html
    booking.refresh_from_db()
    assert f"${booking.total_cents // 100:,}." in html
    payment = booking.payments.get()
    assert reverse("admin:payments_payment_change", args=[payment.pk]) in html
    assert "Deposit" in html
    assert other_customer.reference not in html


# --- Replying --------------------------------------------------------------------------------


def test_a_reply_is_queued_on_the_customers_last_channel_and_shown(kim, sms, canned, sj_agent):
    client = signed_in(sj_agent)
    page = client.get(page_url(kim))
    assert page.context["options"].default == sms
    # The canned reply, ready to fill the box.
    assert f'data-body="{escape(canned.body)}"' in page.content.decode()
    key = page.context["reply_form"]["key"].value()

    data = {"body": canned.body, "channel": sms.pk, "canned": canned.pk, "key": key}
    response = client.post(action_url(kim, "reply"), data)
    again = client.post(action_url(kim, "reply"), data)  # a double click

    assert response.status_code == again.status_code == 302
    reply = Message.objects.get(conversation=kim, direction=Direction.OUTBOUND)
    assert reply.body == canned.body
    assert (reply.channel, reply.author, reply.sender) == (sms, sj_agent, Sender.USER)
    html = client.get(page_url(kim)).content.decode()
    assert f'<div class="body">{escape(canned.body)}</div>' in html
    assert ">queued<" in html or "not sent: channel offline" in html
    kim.refresh_from_db()
    assert kim.waiting_since is None


def test_a_refused_reply_says_why_before_and_after_sending(kim, sms, sj_agent):
    receive(sms, "+14085550177", "STOP")
    client = signed_in(sj_agent)

    page = client.get(page_url(kim)).content.decode()
    assert "Free text is refused here: the customer texted STOP" in page

    response = client.post(
        action_url(kim, "reply"), {"body": "Are you still there?", "channel": sms.pk, "key": "k1"}
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("the customer texted STOP" in m for m in shown)
    assert "Are you still there?" in response.content.decode()  # the text is kept
    assert not Message.objects.filter(body="Are you still there?").exists()


def test_an_empty_reply_is_an_error_message_not_a_500(kim, sms, sj_agent):
    response = signed_in(sj_agent).post(action_url(kim, "reply"), {"body": "  ", "channel": sms.pk})
    assert response.status_code == 200
    assert any("Write the reply first" in str(m) for m in response.context["messages"])


def test_outside_the_whatsapp_window_only_an_approved_template_goes(whatsapp, san_jose, sj_agent):
    conversation = conversation_of(
        receive(whatsapp, "wa-5", phone="+447700900123", name="Olly", ago=timedelta(days=2))
    )
    approved = MessageTemplate.objects.create(
        station=san_jose,
        kind=TemplateKind.WHATSAPP,
        name="booking_followup",
        body="Hi {{1}}, still planning your party?",
        category=TemplateCategory.UTILITY,
        approved=True,
    )
    MessageTemplate.objects.create(
        station=san_jose,
        kind=TemplateKind.WHATSAPP,
        name="not_yet",
        body="pending review",
        category=TemplateCategory.UTILITY,
        approved=False,
    )
    client = signed_in(sj_agent)

    page = client.get(page_url(conversation))
    html = page.content.decode()
    assert "outside WhatsApp&#x27;s 24-hour customer-service window" in html
    assert [t.name for t in page.context["options"].whatsapp_templates] == ["booking_followup"]

    refused = client.post(
        action_url(conversation, "reply"), {"body": "Free text", "channel": whatsapp.pk}
    )
    assert refused.status_code == 200
    sent = client.post(
        action_url(conversation, "reply"),
        {"channel": whatsapp.pk, "whatsapp_template": approved.pk, "key": "wa1"},
    )
    assert sent.status_code == 302
    reply = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    assert reply.template == approved
    assert reply.body == approved.body


# --- Assign, snooze, close, reopen, notes ----------------------------------------------------


def test_assign_to_me_to_a_colleague_and_not_to_another_stations_staff(
    kim, sj_agent, sj_manager, sac_agent
):
    client = signed_in(sj_agent)

    client.post(action_url(kim, "assign"), {"assignee": "mine"})
    kim.refresh_from_db()
    assert kim.assignee == sj_agent

    client.post(action_url(kim, "assign"), {"assignee": str(sj_manager.pk)})
    kim.refresh_from_db()
    assert kim.assignee == sj_manager

    response = client.post(action_url(kim, "assign"), {"assignee": str(sac_agent.pk)}, follow=True)
    assert any("Pick someone on this station" in str(m) for m in response.context["messages"])
    kim.refresh_from_db()
    assert kim.assignee == sj_manager

    client.post(action_url(kim, "assign"), {"assignee": ""})
    kim.refresh_from_db()
    assert kim.assignee is None


def test_snooze_until_a_time_in_the_stations_zone(kim, sj_agent):
    client = signed_in(sj_agent)
    future = (timezone.now() + timedelta(days=30)).date()
    response = client.post(
        action_url(kim, "status"),
        {"status": "snoozed", "snoozed_until": f"{future.isoformat()}T09:00"},
        follow=True,
    )
    kim.refresh_from_db()
    assert kim.status == ConversationStatus.SNOOZED
    local = kim.snoozed_until.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local.date(), local.hour, local.minute) == (future, 9, 0)
    assert "snoozed until" in response.content.decode()

    for bad in ("yesterday", "2020-01-01T09:00", "", "2027-03-14T02:30"):
        response = client.post(
            action_url(kim, "status"), {"status": "snoozed", "snoozed_until": bad}, follow=True
        )
        assert response.status_code == 200
        assert [m.level_tag for m in response.context["messages"]] == ["error"]
    kim.refresh_from_db()
    assert kim.snoozed_until.astimezone(ZoneInfo("America/Los_Angeles")).date() == future


def test_close_and_reopen(kim, sj_agent):
    client = signed_in(sj_agent)
    closed = client.post(action_url(kim, "status"), {"status": "closed"}, follow=True)
    kim.refresh_from_db()
    assert kim.status == ConversationStatus.CLOSED
    assert 'id="conversation-status">closed<' in closed.content.decode()

    client.post(action_url(kim, "status"), {"status": "open"}, follow=True)
    kim.refresh_from_db()
    assert kim.status == ConversationStatus.OPEN

    bad = client.post(action_url(kim, "status"), {"status": "archived"}, follow=True)
    assert [m.level_tag for m in bad.context["messages"]] == ["error"]


def test_a_note_is_private_and_an_empty_one_is_refused(kim, sj_agent):
    client = signed_in(sj_agent)
    client.post(action_url(kim, "note"), {"note": "VIP: birthday party"})
    note = Message.objects.get(conversation=kim, is_note=True)
    assert (note.author, note.status, note.body) == (
        sj_agent,
        MessageStatus.NOTE,
        "VIP: birthday party",
    )

    response = client.post(action_url(kim, "note"), {"note": "   "})
    assert response.status_code == 200
    assert Message.objects.filter(is_note=True).count() == 1


def test_actions_need_a_post_with_the_csrf_token(kim, sj_agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(sj_agent)
    assert client.post(action_url(kim, "status"), {"status": "closed"}).status_code == 403
    assert client.get(action_url(kim, "status")).status_code == 302  # a GET goes to the page
    kim.refresh_from_db()
    assert kim.status == ConversationStatus.OPEN


def test_older_pages_neither_repeat_nor_skip_messages_written_at_the_same_moment(kim, sms):
    same = timezone.now() - timedelta(days=1)
    Message.objects.bulk_create(
        Message(
            conversation=kim,
            channel=sms,
            direction=Direction.INBOUND,
            sender=Sender.CUSTOMER,
            body=f"tie {n}",
            provider_message_id=f"SMtie{n}",
            created_at=same,
        )
        for n in range(75)
    )
    seen, before = [], None
    while True:
        page = selectors.thread_page(kim, before=before, size=20)
        seen = [m.pk for m in page.messages] + seen
        if page.older_than is None:
            break
        before = page.older_than
    assert sorted(seen) == sorted(
        Message.objects.filter(conversation=kim).values_list("pk", flat=True)
    )
    assert len(seen) == len(set(seen)) == 76
