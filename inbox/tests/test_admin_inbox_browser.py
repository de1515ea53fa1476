"""In a real browser: an agent opens the inbox, opens the unread conversation, answers it with a
canned reply, assigns it to themself and closes it (issue 13's "done when"). Screenshots:
inbox-list, inbox-conversation."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from inbox import services
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageTemplate,
    TemplateKind,
)
from inbox.services import SenderInfo
from testing.factories import CustomerFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.date_sensitive,
    pytest.mark.django_db(transaction=True),
]

CANNED = "Thanks for writing! A chef is free that evening; shall I hold it for you?"


def _receive(channel, number, body, ago):
    return services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=number),
        provider_message_id=f"SM-{number}-{ago.seconds}",
        body=body,
        received_at=timezone.now() - ago,
    )


def test_agent_answers_the_unread_conversation_with_a_canned_reply_assigns_and_closes(
    browser, san_jose, sj_agent, settings
):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""  # the channel is offline
    sms = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )
    MessageTemplate.objects.create(
        station=san_jose, kind=TemplateKind.CANNED, name="Date is free", body=CANNED
    )
    CustomerFactory(station=san_jose, name="Dana Whitfield", phone="+14085550177")
    CustomerFactory(station=san_jose, name="Old Thread", phone="+14085550155")
    read = _receive(sms, "+14085550155", "Thanks, see you then!", timedelta(hours=3))
    services.conversation_mark_read(conversation=read.conversation)
    unread = _receive(
        sms, "+14085550177", "Hi! Is Saturday June 6 free for 12 people?", timedelta(minutes=12)
    )
    conversation = Conversation.objects.get(pk=unread.conversation_id)

    browser.login("sj-agent", PASSWORD)
    browser.get(reverse("admin:inbox_conversation_changelist"))
    browser.wait_for_text("Dana Whitfield")
    rows = [row.text for row in browser.all_css("#result_list tbody tr")]
    assert rows[0].startswith("Dana Whitfield")  # unread first
    assert "NEW" in rows[0].upper()
    assert "12 min" in rows[0]
    assert "SMS" in rows[0]
    assert "Old Thread" in rows[1]
    browser.screenshot("inbox-list")

    browser.click_text("Dana Whitfield", tag="strong")
    browser.wait_for_css("#reply-form")
    assert "Hi! Is Saturday June 6 free for 12 people?" in browser.css("#thread").text
    conversation.refresh_from_db()
    assert not conversation.unread

    from selenium.webdriver.support.ui import Select

    Select(browser.css("#reply-canned")).select_by_visible_text("Date is free")
    assert browser.css("#reply-body").get_attribute("value") == CANNED
    browser.css("#send-reply").click()
    browser.wait_for_text("Reply queued")
    last = browser.all_css("#thread li.msg")[-1].text
    assert CANNED in last
    assert "Alex Agent" in last
    assert "queued" in last or "not sent: channel offline" in last
    reply = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    assert reply.body == CANNED

    browser.css("#assign-me").click()
    browser.wait_for_text("Assigned to Alex Agent")
    assert browser.css("#conversation-assignee").text == "Alex Agent"

    browser.css("#close").click()
    browser.wait_for_text("Conversation closed")
    assert browser.css("#conversation-status").text == "closed"
    assert browser.css("#reopen").is_displayed()
    browser.screenshot("inbox-conversation")

    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.assignee == sj_agent
