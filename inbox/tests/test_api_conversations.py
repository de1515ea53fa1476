"""Staff conversations API: scoped to the user's stations, chefs kept out, the list's filters,
order and constant cost, the detail with its customer, and what staff do to a conversation."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox import services
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Message,
    MessageStatus,
)
from inbox.services import SenderInfo
from testing.factories import CustomerFactory, make_booking

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/staff/conversations/"
T0 = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


@pytest.fixture
def sj_sms(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


@pytest.fixture
def sj_email(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.EMAIL, address="sanjose@example.com"
    )


@pytest.fixture
def sac_sms(sacramento):
    return Channel.objects.create(
        station=sacramento, kind=ChannelKind.SMS_TWILIO, address="+19165550100"
    )


def receive(channel, external_id, pid, body="hello", at=T0, **sender) -> Message:
    return services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=external_id, **sender),
        provider_message_id=pid,
        body=body,
        received_at=at,
    )


def thread(channel, phone, pid="SM1", **kwargs) -> Conversation:
    return receive(channel, phone, pid, **kwargs).conversation


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# --- Who sees what -------------------------------------------------------------------------------


def test_the_list_shows_the_users_stations_only(staff_client, sj_agent, sj_sms, sac_sms):
    mine = thread(sj_sms, "+14085550177")
    thread(sac_sms, "+19165550177")

    assert ids(staff_client(sj_agent).get(CONVERSATIONS)) == [mine.pk]


def test_another_stations_conversation_is_not_found(staff_client, sj_agent, sac_sms):
    theirs = thread(sac_sms, "+19165550177")
    client = staff_client(sj_agent)

    assert client.get(f"{CONVERSATIONS}{theirs.pk}/").status_code == 404
    assert client.get(f"{CONVERSATIONS}{theirs.pk}/messages").status_code == 404
    for action, body in [
        ("reply", {"body": "hi"}),
        ("notes", {"body": "note"}),
        ("assign", {"assignee": None}),
        ("close", None),
        ("reopen", None),
        ("read", None),
        ("snooze", {"until": "2099-01-01T00:00:00Z"}),
    ]:
        response = client.post(f"{CONVERSATIONS}{theirs.pk}/{action}", body)
        assert response.status_code == 404, action
        assert response.json()["error"] == "not_found"
    theirs.refresh_from_db()
    assert (theirs.status, theirs.unread) == (ConversationStatus.OPEN, True)
    assert Message.objects.filter(conversation=theirs).count() == 1


def test_chefs_have_no_inbox(staff_client, sj_chef, sj_sms):
    conversation = thread(sj_sms, "+14085550177")
    client = staff_client(sj_chef)

    assert client.get(CONVERSATIONS).status_code == 403
    assert client.get(f"{CONVERSATIONS}{conversation.pk}/").status_code == 404
    response = client.post(f"{CONVERSATIONS}{conversation.pk}/reply", {"body": "hi"})
    assert response.status_code == 404  # as any conversation not theirs
    assert not Message.objects.filter(direction="out").exists()


def test_anonymous_requests_are_refused(api_client, sj_sms):
    conversation = thread(sj_sms, "+14085550177")

    assert api_client.get(CONVERSATIONS).status_code == 401
    assert api_client.post(f"{CONVERSATIONS}{conversation.pk}/close").status_code == 401


@pytest.mark.parametrize("who", ["sj_agent", "sj_manager", "owner", "superuser"])
def test_agents_managers_and_owners_may_act(request, staff_client, who, sj_sms):
    conversation = thread(sj_sms, "+14085550177")

    response = staff_client(request.getfixturevalue(who)).post(
        f"{CONVERSATIONS}{conversation.pk}/close"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "closed"


# --- The list ------------------------------------------------------------------------------------


def test_unread_first_then_newest(staff_client, sj_agent, sj_sms):
    old_unread = thread(sj_sms, "+14085550101", "SM1", at=T0)
    new_read = thread(sj_sms, "+14085550102", "SM2", at=T0 + timedelta(hours=2))
    new_unread = thread(sj_sms, "+14085550103", "SM3", at=T0 + timedelta(hours=1))
    services.conversation_mark_read(conversation=new_read)

    assert ids(staff_client(sj_agent).get(CONVERSATIONS)) == [
        new_unread.pk,
        old_unread.pk,
        new_read.pk,
    ]


def test_filters(staff_client, owner, sj_agent, sj_manager, sj_sms, sj_email, sac_sms):
    texted = thread(sj_sms, "+14085550101", "SM1", name="Kim Lee")
    emailed = thread(sj_email, "ann@example.com", "<m1@example.com>", name="Ann Diaz")
    sac = thread(sac_sms, "+19165550177", "SM2")
    services.conversation_assign(conversation=texted, assignee=sj_agent, actor=sj_manager)
    services.conversation_set_status(conversation=emailed, status="closed")
    services.conversation_mark_read(conversation=sac)
    client = staff_client(owner)
    agent = staff_client(sj_agent)

    def listed(**query):
        return sorted(ids(client.get(CONVERSATIONS, query)))

    assert listed(station="san-jose") == sorted([texted.pk, emailed.pk])
    assert listed(status="closed") == [emailed.pk]
    assert listed(status=["open", "closed"]) == sorted([texted.pk, emailed.pk, sac.pk])
    assert listed(channel="email") == [emailed.pk]
    assert listed(channel="sms_twilio") == sorted([texted.pk, sac.pk])
    assert listed(assignee=str(sj_agent.pk)) == [texted.pk]
    assert listed(assignee="none") == sorted([emailed.pk, sac.pk])
    assert ids(agent.get(CONVERSATIONS, {"assignee": "me"})) == [texted.pk]
    assert listed(unread="false") == [sac.pk]
    assert listed(unread="true") == sorted([texted.pk, emailed.pk])
    assert listed(q="kim") == [texted.pk]
    assert listed(q="ANN@example") == [emailed.pk]
    assert listed(q="(408) 555-0101") == [texted.pk]  # typed as people write it
    assert listed(q="5550101") == [texted.pk]
    assert listed(q="nobody") == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("assignee", "someone"),
        ("assignee", "-1"),
        ("unread", "yes"),
        ("status", "archived"),
        ("channel", "fax"),
        ("page", "0"),
        ("page_size", "abc"),
    ],
)
def test_a_bad_filter_is_400(staff_client, sj_agent, name, value):
    response = staff_client(sj_agent).get(CONVERSATIONS, {name: value})

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert name in response.json()["fields"]


def test_an_assignee_id_past_bigint_finds_nothing(staff_client, sj_agent, sj_sms):
    thread(sj_sms, "+14085550177")

    assert ids(staff_client(sj_agent).get(CONVERSATIONS, {"assignee": "9" * 19})) == []


def test_the_list_costs_the_same_whatever_the_page_size(staff_client, sj_agent, sj_sms, sj_manager):
    for n in range(12):
        conversation = thread(sj_sms, f"+1408555{n:04d}", f"SM{n}", at=T0 + timedelta(minutes=n))
        if n % 2:
            services.conversation_assign(
                conversation=conversation, assignee=sj_agent, actor=sj_manager
            )
    client = staff_client(sj_agent)

    counts = []
    for size in (1, 12):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(CONVERSATIONS, {"page_size": size})
        assert len(ids(response)) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_list_row(staff_client, sj_agent, sj_sms):
    conversation = thread(sj_sms, "+14085550177", body="Do you cater on Sundays?", name="Kim")

    row = staff_client(sj_agent).get(CONVERSATIONS).json()["results"][0]

    assert row["id"] == conversation.pk
    assert row["station"] == "san-jose"
    assert row["customer"]["phone"] == "+14085550177"
    assert row["last_message_preview"] == "Do you cater on Sundays?"
    assert row["last_inbound_channel"] == {
        "id": sj_sms.pk,
        "kind": "sms_twilio",
        "name": "",
        "address": "+14085550100",
    }
    assert row["unread"] is True
    assert row["waiting_since"] == "2026-03-04T18:00:00Z"
    assert row["assignee"] is None
    assert "credentials_sealed" not in str(row)


# --- The detail ----------------------------------------------------------------------------------


def test_the_detail_has_the_customer_beside_the_thread(staff_client, sj_agent, sj_sms, san_jose):
    customer = CustomerFactory(station=san_jose, phone="+14085550177", name="Kim Lee")
    booking = make_booking(san_jose, customer=customer)
    conversation = thread(sj_sms, "+14085550177")

    response = staff_client(sj_agent).get(f"{CONVERSATIONS}{conversation.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["customer"]["id"] == customer.pk
    assert body["customer"]["name"] == "Kim Lee"
    assert [i["kind"] for i in body["customer"]["identities"]] == ["sms"]
    assert body["customer"]["identities"][0]["external_id"] == "+14085550177"
    assert [b["reference"] for b in body["customer"]["recent_bookings"]] == [booking.reference]
    assert body["customer"]["recent_bookings"][0]["total_cents"] == booking.total_cents


def test_an_id_past_any_row_is_404(staff_client, sj_agent):
    response = staff_client(sj_agent).get(f"{CONVERSATIONS}{'9' * 30}/")

    assert response.status_code == 404


# --- Acting on a conversation --------------------------------------------------------------------


def test_a_note_is_private_and_answers_nobody(staff_client, sj_agent, sj_sms):
    conversation = thread(sj_sms, "+14085550177")

    response = staff_client(sj_agent).post(
        f"{CONVERSATIONS}{conversation.pk}/notes", {"body": "VIP, call back"}
    )

    assert response.status_code == 201
    note = response.json()
    assert (note["is_note"], note["status"], note["body"]) == (True, "note", "VIP, call back")
    assert note["author"] == sj_agent.pk
    assert note["author_name"] == (sj_agent.get_full_name() or sj_agent.username)
    conversation.refresh_from_db()
    assert conversation.waiting_since == T0  # a note does not answer the customer


@pytest.mark.parametrize("body", [{"body": "   "}, {}, {"body": 5}, {"body": "x" * 5001}])
def test_an_empty_or_bad_note_is_400(staff_client, sj_agent, sj_sms, body):
    conversation = thread(sj_sms, "+14085550177")

    response = staff_client(sj_agent).post(f"{CONVERSATIONS}{conversation.pk}/notes", body)

    assert response.status_code == 400
    assert "body" in response.json()["fields"]
    assert not Message.objects.filter(is_note=True).exists()


def test_assigning_and_unassigning(staff_client, sj_manager, sj_agent, sj_sms):
    conversation = thread(sj_sms, "+14085550177")
    client = staff_client(sj_manager)
    url = f"{CONVERSATIONS}{conversation.pk}/assign"

    assigned = client.post(url, {"assignee": sj_agent.pk})
    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == {"id": sj_agent.pk, "name": sj_agent.get_full_name()}
    assert client.post(url, {"assignee": None}).json()["assignee"] is None
    conversation.refresh_from_db()
    assert conversation.assignee is None


@pytest.mark.parametrize("who", ["sac_manager", "sj_chef", "nobody"])
def test_only_the_stations_staff_can_be_assigned(request, staff_client, sj_manager, sj_sms, who):
    conversation = thread(sj_sms, "+14085550177")
    assignee = 10**12 if who == "nobody" else request.getfixturevalue(who).pk

    response = staff_client(sj_manager).post(
        f"{CONVERSATIONS}{conversation.pk}/assign", {"assignee": assignee}
    )

    assert response.status_code == 400
    assert "assignee" in response.json()["fields"]
    conversation.refresh_from_db()
    assert conversation.assignee is None


def test_snooze_until_a_time_then_wake(staff_client, sj_agent, sj_sms):
    conversation = thread(sj_sms, "+14085550177")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        response = staff_client(sj_agent).post(
            f"{CONVERSATIONS}{conversation.pk}/snooze", {"until": "2026-03-05T09:00:00-08:00"}
        )

        assert response.status_code == 200
        assert response.json()["status"] == "snoozed"
        assert response.json()["snoozed_until"] == "2026-03-05T17:00:00Z"
    services.conversations_wake(now=datetime(2026, 3, 5, 17, 0, tzinfo=UTC))
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


@pytest.mark.parametrize(
    "until",
    [
        "2026-03-04T18:59:00Z",  # the past
        "2026-03-05T09:00:00",  # no offset: which zone?
        "2026-03-05",
        "tomorrow",
        "9999-12-31T23:59:59-23:59",  # past the last instant there is
        "9999-12-31T12:00:00Z",  # the calendar's last day: no station's zone could show it
        "2026-02-30T10:00:00Z",
        5,
        None,
    ],
)
def test_a_bad_snooze_is_400(staff_client, sj_agent, sj_sms, until):
    conversation = thread(sj_sms, "+14085550177")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        response = staff_client(sj_agent).post(
            f"{CONVERSATIONS}{conversation.pk}/snooze", {"until": until}, format="json"
        )

    assert response.status_code == 400
    assert "until" in response.json()["fields"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_close_reopen_and_read(staff_client, sj_agent, sj_sms):
    conversation = thread(sj_sms, "+14085550177")
    client = staff_client(sj_agent)
    base = f"{CONVERSATIONS}{conversation.pk}"

    assert client.post(f"{base}/close").json()["status"] == "closed"
    assert client.post(f"{base}/reopen").json()["status"] == "open"
    assert client.post(f"{base}/read").json()["unread"] is False
    conversation.refresh_from_db()
    assert (conversation.status, conversation.unread) == (ConversationStatus.OPEN, False)


def test_the_schema_describes_the_conversation_api(api_client, db):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    reply = paths["/api/v1/staff/conversations/{id}/reply/"]["post"]
    assert {"201", "400", "404", "409", "422"} <= set(reply["responses"])
    assert "send_refused" in reply["responses"]["409"]["description"]
    assert any(p["name"] == "Idempotency-Key" for p in reply["parameters"])
    messages = paths["/api/v1/staff/conversations/{id}/messages/"]["get"]
    assert {p["name"] for p in messages["parameters"]} >= {"cursor", "page_size"}
    listed = paths["/api/v1/staff/conversations/"]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {
        "station",
        "status",
        "channel",
        "assignee",
        "unread",
        "q",
    }
    for path in ("/api/v1/staff/customers/merge/", "/api/v1/staff/conversations/merge-customers/"):
        assert {"200", "400", "404"} <= set(paths[path]["post"]["responses"])
    assert MessageStatus.NOT_SENT in schema["components"]["schemas"]["MessageStatusEnum"]["enum"]
