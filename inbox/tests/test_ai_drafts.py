"""Deciding AI drafts (inbox/ai/drafts.py) through the staff API (`drafts`) and the conversation
page: managers and owners approve, edit and send, or reject; agents read; another station's
draft is not found; nothing is answered twice."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from inbox import outbound, services
from inbox.models import (
    AIInteraction,
    Channel,
    ChannelKind,
    Direction,
    Draft,
    DraftStatus,
    Level,
    Message,
    Sender,
)
from inbox.services import SenderInfo
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 6, 10, 19, 0, tzinfo=UTC)  # Wednesday, 12:00 in San Jose
PHONE = "+14085550142"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOON, tick=True):
        yield


@pytest.fixture
def sms(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


@pytest.fixture
def customer(san_jose):
    return CustomerFactory(station=san_jose, name="Jordan Reyes", phone=PHONE, sms_opt_in=True)


def receive(sms, body, pid, capture):
    with capture(execute=True):
        return services.inbound_receive(
            channel=sms,
            sender=SenderInfo(external_id=PHONE, phone=PHONE),
            provider_message_id=pid,
            body=body,
        )


@pytest.fixture
def draft(sms, customer, django_capture_on_commit_callbacks) -> Draft:
    """An L2 draft waiting for approval (L1 is off at san-jose)."""
    message = receive(sms, "How much for 12 adults?", "SM1", django_capture_on_commit_callbacks)
    draft = Draft.objects.get(message=message)
    assert (draft.level, draft.status) == (Level.L2, DraftStatus.PROPOSED)
    assert draft.body
    return draft


@pytest.fixture
def l3_draft(sms, customer, django_capture_on_commit_callbacks) -> Draft:
    message = receive(
        sms, "The food was cold and I want a refund.", "SM9", django_capture_on_commit_callbacks
    )
    return Draft.objects.get(message=message)


def api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def url(draft, action=None):
    if action is None:
        return reverse("staff-draft-detail", args=[draft.pk])
    return reverse(f"staff-draft-{action}", args=[draft.pk])


def outbound_of(draft):
    return Message.objects.filter(
        conversation_id=draft.conversation_id, direction=Direction.OUTBOUND
    )


# --- The API ---------------------------------------------------------------------------------


def test_a_manager_approves_and_the_draft_is_sent_as_theirs(draft, sj_manager):
    answer = api(sj_manager).post(url(draft, "approve"), {}, format="json")

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["status"], body["edited"], body["decided_by"]) == ("sent", False, sj_manager.pk)
    [sent] = outbound_of(draft)
    assert (sent.sender, sent.author_id, sent.body) == (Sender.USER, sj_manager.pk, draft.body)
    assert sent.idempotency_key == f"draft-{draft.pk}"
    assert body["sent_message"] == sent.pk
    # The audit leads from the model's calls to the decision and the message sent.
    rows = AIInteraction.objects.filter(draft=draft)
    assert {r.purpose for r in rows} == {"classify", "draft"}
    assert all(r.draft.decided_by == sj_manager and r.draft.sent_message == sent for r in rows)


def test_approving_twice_sends_one_message(draft, sj_manager, owner):
    assert api(sj_manager).post(url(draft, "approve"), {}, format="json").status_code == 200
    again = api(owner).post(url(draft, "approve"), {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"] == "draft_decided"
    assert outbound_of(draft).count() == 1


def test_edit_and_send_records_the_edit(draft, owner):
    answer = api(owner).post(
        url(draft, "edit-and-send"), {"body": "Hi Jordan! It's $600 for 12."}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["status"], answer.json()["edited"]) == ("sent", True)
    [sent] = outbound_of(draft)
    assert sent.body == "Hi Jordan! It's $600 for 12."
    assert sent.author_id == owner.pk


def test_edit_and_send_with_the_same_text_is_not_an_edit(draft, sj_manager):
    answer = api(sj_manager).post(
        url(draft, "edit-and-send"), {"body": f"  {draft.body} "}, format="json"
    )
    assert (answer.status_code, answer.json()["edited"]) == (200, False)


def test_reject_needs_a_reason_and_sends_nothing(draft, sj_manager):
    client = api(sj_manager)
    blank = client.post(url(draft, "reject"), {"reason": "  "}, format="json")
    assert blank.status_code == 400
    assert blank.json()["error"] == "validation_error"
    answer = client.post(url(draft, "reject"), {"reason": "Quote the weekend price"}, format="json")
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["reject_reason"]) == (
        "rejected",
        "Quote the weekend price",
    )
    assert not outbound_of(draft).exists()
    assert client.post(url(draft, "approve"), {}, format="json").status_code == 409


def test_an_agent_reads_drafts_but_cannot_decide(draft, sj_agent):
    client = api(sj_agent)
    assert client.get(url(draft)).status_code == 200
    listed = client.get(reverse("staff-draft-list"), {"status": "proposed"})
    assert [row["id"] for row in listed.json()["results"]] == [draft.pk]
    for action, data in (
        ("approve", {}),
        ("edit-and-send", {"body": "Hi"}),
        ("reject", {"reason": "no"}),
    ):
        answer = client.post(url(draft, action), data, format="json")
        assert answer.status_code == 403, action
        assert answer.json()["error"] == "permission_denied"
    draft.refresh_from_db()
    assert draft.status == DraftStatus.PROPOSED
    assert not outbound_of(draft).exists()


def test_another_stations_draft_is_not_found(draft, sac_manager, sj_chef):
    client = api(sac_manager)
    assert client.get(url(draft)).status_code == 404
    assert client.post(url(draft, "approve"), {}, format="json").status_code == 404
    assert client.get(reverse("staff-draft-list")).json()["results"] == []
    chef = api(sj_chef)
    assert chef.get(reverse("staff-draft-list")).status_code == 403
    assert chef.post(url(draft, "approve"), {}, format="json").status_code == 404
    assert outbound_of(draft).count() == 0


def test_a_draft_a_person_already_answered_is_superseded(draft, sj_manager, sj_agent):
    outbound.reply_send(conversation=draft.conversation, author=sj_agent, body="Let me check!")
    answer = api(sj_manager).post(url(draft, "approve"), {}, format="json")
    assert answer.status_code == 409
    assert answer.json()["error"] == "draft_superseded"
    draft.refresh_from_db()
    assert draft.status == DraftStatus.SUPERSEDED
    assert list(outbound_of(draft).values_list("body", flat=True)) == ["Let me check!"]


def test_a_reply_landing_while_the_draft_is_approved_supersedes_it(
    draft, sj_manager, sj_agent, monkeypatch
):
    """A person answers between the approval's first look and its claim (here: while the
    approval asks compliance): the approval, under the conversation's lock, sees the reply and
    sends nothing; the customer gets one answer."""
    from inbox import compliance

    asked = compliance.send_refusal
    answered = []

    def a_person_answers_meanwhile(**kwargs):
        if not answered:  # (the person's reply asks compliance too)
            answered.append(True)
            outbound.reply_send(conversation=draft.conversation, author=sj_agent, body="On it!")
        return asked(**kwargs)

    monkeypatch.setattr(compliance, "send_refusal", a_person_answers_meanwhile)
    answer = api(sj_manager).post(url(draft, "approve"), {}, format="json")
    assert (answer.status_code, answer.json()["error"]) == (409, "draft_superseded")
    draft.refresh_from_db()
    assert draft.status == DraftStatus.SUPERSEDED
    assert list(outbound_of(draft).values_list("body", flat=True)) == ["On it!"]


def test_compliance_refuses_and_the_draft_stays(
    draft, sj_manager, sms, django_capture_on_commit_callbacks
):
    receive(sms, "STOP", "SM2", django_capture_on_commit_callbacks)
    answer = api(sj_manager).post(url(draft, "approve"), {}, format="json")
    assert answer.status_code == 409
    assert answer.json()["error"] == "send_refused"
    assert "STOP" in answer.json()["detail"]
    draft.refresh_from_db()
    assert draft.status == DraftStatus.PROPOSED
    assert not outbound_of(draft).filter(sender=Sender.USER).exists()


def test_an_l3_task_has_nothing_to_approve(l3_draft, sj_manager):
    assert (l3_draft.level, l3_draft.status) == (Level.L3, DraftStatus.HUMAN)
    answer = api(sj_manager).post(url(l3_draft, "approve"), {}, format="json")
    assert (answer.status_code, answer.json()["error"]) == (409, "draft_decided")


def test_the_list_filters_by_conversation_and_level(draft, l3_draft, sj_agent):
    client = api(sj_agent)
    rows = client.get(reverse("staff-draft-list"), {"level": "l3"}).json()["results"]
    assert [r["id"] for r in rows] == [l3_draft.pk]
    rows = client.get(reverse("staff-draft-list"), {"conversation": draft.conversation_id}).json()[
        "results"
    ]
    assert {r["id"] for r in rows} == {draft.pk, l3_draft.pk}
    assert client.get(reverse("staff-draft-list"), {"conversation": "x"}).status_code == 400


# --- The conversation page -------------------------------------------------------------------


def page(user, conversation_id):
    client = Client()
    client.force_login(user)
    return client, reverse("admin:inbox_conversation_change", args=[conversation_id])


def test_the_page_shows_the_draft_and_a_manager_approves_it(draft, sj_manager):
    client, page_url = page(sj_manager, draft.conversation_id)
    html = client.get(page_url).content.decode()
    assert 'id="ai-box"' in html
    assert 'id="ai-approve"' in html
    assert "L2: draft for approval" in html
    assert "Grounding:" in html
    decide = reverse("admin:inbox_conversation_draft", args=[draft.conversation_id])
    answer = client.post(decide, {"draft": draft.pk, "decision": "approve"})
    assert answer.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.decided_by) == (DraftStatus.SENT, sj_manager)
    assert outbound_of(draft).get().body == draft.body
    html = client.get(page_url).content.decode()
    assert 'id="ai-approve"' not in html
    assert "approved and sent" in html


def test_the_page_sends_an_edit_and_rejects_with_a_reason(
    draft, owner, sms, django_capture_on_commit_callbacks
):
    client, _ = page(owner, draft.conversation_id)
    decide = reverse("admin:inbox_conversation_draft", args=[draft.conversation_id])
    client.post(decide, {"draft": draft.pk, "decision": "edit", "body": "See you then!"})
    draft.refresh_from_db()
    assert (draft.status, draft.edited) == (DraftStatus.SENT, True)
    assert outbound_of(draft).get().body == "See you then!"

    second = receive(sms, "What's on the menu?", "SM3", django_capture_on_commit_callbacks)
    other = Draft.objects.get(message=second)
    client.post(decide, {"draft": other.pk, "decision": "reject", "reason": "Too long"})
    other.refresh_from_db()
    assert (other.status, other.reject_reason, other.decided_by) == (
        DraftStatus.REJECTED,
        "Too long",
        owner,
    )


def test_an_agent_sees_the_draft_without_the_buttons_and_cannot_post(draft, sj_agent):
    client, page_url = page(sj_agent, draft.conversation_id)
    html = client.get(page_url).content.decode()
    assert 'id="ai-body-text"' in html
    assert 'id="ai-approve"' not in html
    decide = reverse("admin:inbox_conversation_draft", args=[draft.conversation_id])
    assert client.post(decide, {"draft": draft.pk, "decision": "approve"}).status_code == 403
    draft.refresh_from_db()
    assert draft.status == DraftStatus.PROPOSED


def test_another_stations_manager_cannot_reach_the_draft(draft, sac_manager):
    client, _ = page(sac_manager, draft.conversation_id)
    decide = reverse("admin:inbox_conversation_draft", args=[draft.conversation_id])
    answer = client.post(decide, {"draft": draft.pk, "decision": "approve"})
    assert answer.status_code == 404
    assert not outbound_of(draft).exists()


def test_an_l3_message_says_for_a_person(l3_draft, sj_manager):
    client, page_url = page(sj_manager, l3_draft.conversation_id)
    html = client.get(page_url).content.decode()
    assert 'id="ai-for-person"' in html
    assert "For a person:" in html
    assert 'id="ai-approve"' not in html


def test_the_ai_lists_are_read_only_with_the_months_line(draft, sj_agent):
    client = Client()
    client.force_login(sj_agent)
    for name in ("inbox_draft", "inbox_aiinteraction"):
        listing = client.get(reverse(f"admin:{name}_changelist"))
        assert listing.status_code == 200
        html = listing.content.decode()
        assert 'id="ai-month"' in html
        assert "L1 0% · L2 100% · L3 0% of 1 messages (target 80/15/5)" in html
    assert client.get(reverse("admin:inbox_draft_change", args=[draft.pk])).status_code == 200
    row = AIInteraction.objects.filter(draft=draft).first()
    detail = client.get(reverse("admin:inbox_aiinteraction_change", args=[row.pk]))
    assert detail.status_code == 200
    change = reverse("admin:inbox_aiinteraction_change", args=[row.pk])
    assert client.post(change, {}).status_code == 403
