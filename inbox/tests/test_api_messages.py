"""A thread's messages through the staff API: newest first by cursor, every kind of message with
the fields staff need, and a page whose cost does not depend on how many messages exist."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import outbound, services
from inbox.models import Channel, ChannelKind, Message, MessageStatus, Sender
from inbox.services import SenderInfo

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/staff/conversations/"
T0 = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


@pytest.fixture
def sms(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


def receive(channel, n: int, at=T0):
    return services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id="+14085550177"),
        provider_message_id=f"SM{n}",
        body=f"message {n}",
        received_at=at,
    )


def page(client, conversation, **query):
    response = client.get(f"{CONVERSATIONS}{conversation.pk}/messages", query)
    assert response.status_code == 200, response.json()
    return response.json()


def test_newest_first_and_next_leads_to_older(staff_client, sj_agent, sms):
    messages = [receive(sms, n, at=T0 + timedelta(minutes=n)) for n in range(5)]
    conversation = messages[0].conversation
    client = staff_client(sj_agent)

    first = page(client, conversation, page_size=2)
    assert [m["body"] for m in first["results"]] == ["message 4", "message 3"]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [m["body"] for m in second["results"]] == ["message 2", "message 1"]
    last = client.get(second["next"]).json()
    assert [m["body"] for m in last["results"]] == ["message 0"]
    assert last["next"] is None
    back = client.get(last["previous"]).json()
    assert [m["body"] for m in back["results"]] == ["message 2", "message 1"]


def test_messages_at_the_same_instant_are_each_listed_once(staff_client, sj_agent, sms):
    messages = [receive(sms, n, at=T0) for n in range(5)]
    conversation = messages[0].conversation
    client = staff_client(sj_agent)

    seen, url = [], f"{CONVERSATIONS}{conversation.pk}/messages?page_size=2"
    while url:
        body = client.get(url).json()
        seen += [m["id"] for m in body["results"]]
        url = body["next"]

    assert sorted(seen) == sorted(m.pk for m in messages)
    assert len(seen) == len(set(seen)) == 5


def test_each_kind_of_message_says_what_staff_need(staff_client, sj_agent, sms):
    inbound = receive(sms, 1)
    conversation = inbound.conversation
    note = services.note_add(conversation=conversation, author=sj_agent, body="call back")
    failed = outbound.message_queue(
        conversation=conversation, channel=sms, body="Hi!", sender=Sender.USER, author=sj_agent
    )
    Message.objects.filter(pk=failed.pk).update(
        status=MessageStatus.NOT_SENT, error="not sent: channel offline"
    )
    Message.objects.filter(pk=note.pk).update(created_at=timezone.now() + timedelta(seconds=1))

    rows = {m["id"]: m for m in page(staff_client(sj_agent), conversation)["results"]}

    assert rows[inbound.pk] | {"id": 0} == rows[inbound.pk] | {
        "id": 0,
        "direction": "in",
        "sender": "customer",
        "author": None,
        "author_name": None,
        "is_note": False,
        "channel": sms.pk,
        "channel_kind": "sms_twilio",
        "body": "message 1",
        "status": "received",
        "error": "",
        "created_at": "2026-03-04T18:00:00Z",
    }
    assert (rows[note.pk]["is_note"], rows[note.pk]["status"]) == (True, "note")
    assert rows[note.pk]["author_name"] == sj_agent.get_full_name()
    assert rows[note.pk]["channel_kind"] is None
    assert (rows[failed.pk]["status"], rows[failed.pk]["error"]) == (
        "not_sent",
        "not sent: channel offline",
    )
    assert "provider_message_id" not in rows[inbound.pk]
    assert "idempotency_key" not in rows[failed.pk]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"cursor": "bz14"}, 404),  # o=x
        ({"cursor": "cD1nYXJiYWdl"}, 400),  # p=garbage: not a time
        ({"cursor": "cD05OTk5OS0wMS0wMQ=="}, 400),  # p=99999-01-01
        ({"page_size": "0"}, 400),
        ({"page_size": "x"}, 400),
    ],
)
def test_a_bad_cursor_or_page_size_is_refused(staff_client, sj_agent, sms, query, status):
    conversation = receive(sms, 1).conversation

    response = staff_client(sj_agent).get(f"{CONVERSATIONS}{conversation.pk}/messages", query)

    assert response.status_code == status
    assert set(response.json()) == {"error", "detail", "fields"}


def test_a_huge_page_size_gives_the_maximum(staff_client, sj_agent, sms):
    conversation = receive(sms, 1).conversation

    body = page(staff_client(sj_agent), conversation, page_size="9" * 40)

    assert len(body["results"]) == 1


def test_a_page_costs_the_same_whatever_its_size_and_counts_nothing(staff_client, sj_agent, sms):
    messages = [receive(sms, n, at=T0 + timedelta(seconds=n)) for n in range(30)]
    conversation = messages[0].conversation
    client = staff_client(sj_agent)

    counts = []
    for size in (1, 30):
        with CaptureQueriesContext(connection) as queries:
            assert len(page(client, conversation, page_size=size)["results"]) == size
        counts.append(len(queries))
        assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts[0] == counts[1]


def test_the_page_is_read_through_the_thread_index_among_many_messages(staff_client, sj_agent, sms):
    """A thread of 200,000 messages: its newest page, and the page after it, are read from the
    (conversation, created_at) index backwards, stopping after one page; nothing sorts or
    counts the thread."""
    conversation = receive(sms, 1).conversation
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO inbox_message (conversation_id, direction, sender, is_note, automated,
                opt_out_confirmation, subject, body, provider_message_id, status, status_rank,
                error, attempts, created_at)
            SELECT %s, 'in', 'customer', false, false, false, '', 'x', '', 'received', 0, '', 0,
                   %s::timestamptz - make_interval(secs => n)
            FROM generate_series(1, 200000) AS n
            """,
            [conversation.pk, T0],
        )
        cursor.execute("ANALYZE inbox_message")
    client = staff_client(sj_agent)
    with CaptureQueriesContext(connection) as queries:
        first = page(client, conversation, page_size=50)
        client.get(first["next"])
    selects = [q["sql"] for q in queries.captured_queries if "inbox_message" in q["sql"]]

    assert len(selects) == 2
    for select in selects:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {select}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Index Scan Backward using message_thread" in plan, plan
        assert "Seq Scan on inbox_message" not in plan, plan
        assert "  Sort  " not in plan, plan  # an incremental sort of ties only, if any
