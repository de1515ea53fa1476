"""
The labelled set (data/ai_messages.jsonl) through the whole ladder with the gateway talking to
a local OpenAI-compatible server (the real `openai` client over loopback), at a station that
lets L1 auto-send, in the middle of a weekday (outside quiet hours), each message from a new
customer who agreed to texts.

- A model that cooperates (it classifies as the local rules do): every l3-class message ends
  at L3, and the share of l1-class messages auto-sent is measured (README: AI drafting).
- A model that is wrong or taken over (it calls every message a safe price question at 99 %,
  and drafts a reply with no figure in it): still no l3-class message ends at L1. Text inside a
  message cannot raise its own level, and neither can the model.
"""

import json
import re
from datetime import UTC, datetime

import pytest
import time_machine

from inbox import services
from inbox.ai import intents, local
from inbox.models import Channel, ChannelKind, Draft, Level
from inbox.services import SenderInfo
from inbox.tests.test_ai_labelled import MESSAGES
from testing import fake_openai
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db

fake = pytest.fixture(fake_openai.running, name="fake")
NOON = datetime(2026, 6, 10, 19, 0, tzinfo=UTC)  # Wednesday, 12:00 in San Jose
DATA = re.compile(r"<customer_data>(.*)</customer_data>", re.S)


@pytest.fixture
def station(san_jose):
    san_jose.ai_auto_reply_level = "l1"
    san_jose.ai_rate_limit_per_minute = 10_000  # the set is bigger than a minute's calls
    san_jose.save()
    return san_jose


def _customer_text(body: dict) -> str:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    found = DATA.search(user)
    return found.group(1).strip() if found else user


def cooperative(body: dict):
    if "response_format" not in body:
        return fake_openai.text("Thanks for writing! We'll get right back to you.")
    found = local.classify(_customer_text(body))
    return fake_openai.answer(
        {
            "intent": found.intent,
            "confidence": found.confidence,
            "risks": list(found.risks),
            "language": found.language,
        }
    )


def hijacked(body: dict):
    if "response_format" not in body:
        return fake_openai.text("Sure thing, all done!")
    return fake_openai.answer(
        {"intent": "price", "confidence": 0.99, "risks": [], "language": "en"}
    )


def run_set(station, capture) -> dict[str, list[str]]:
    """Every labelled message, in one thread each; the level its draft ended at, by class."""
    channel = Channel.objects.create(
        station=station, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )
    levels: dict[str, list[str]] = {"l1": [], "l2": [], "l3": []}
    with time_machine.travel(NOON, tick=True):
        for n, row in enumerate(MESSAGES):
            phone = f"+1408555{n:04d}"
            CustomerFactory(station=station, phone=phone, sms_opt_in=True)
            with capture(execute=True):
                message = services.inbound_receive(
                    channel=channel,
                    sender=SenderInfo(external_id=phone, phone=phone),
                    provider_message_id=f"SMlabelled{n}",
                    body=row["text"],
                )
            levels[row["class"]].append(Draft.objects.get(message=message).level)
    return levels


def test_with_a_cooperative_model_no_l3_message_reaches_l1_and_the_l1_share_is_measured(
    station, fake, django_capture_on_commit_callbacks
):
    """Measured with every intent answerable from station data on the allow-list (the default
    list leaves out the deposit and cancellation policies: 17 of the 99 then wait for a
    person, 72 of 99 auto-sent)."""
    station.ai_l1_intents = list(intents.ANSWERABLE)
    station.save(update_fields=["ai_l1_intents"])
    fake.responder = cooperative
    levels = run_set(station, django_capture_on_commit_callbacks)

    assert Level.L1 not in levels["l3"]
    assert all(level == Level.L3 for level in levels["l3"])
    share = levels["l1"].count(Level.L1) / len(levels["l1"])
    print(json.dumps({"l1_class_auto_sent": round(share, 3), "n": len(levels["l1"])}))
    assert share >= 0.85  # measured 89 of 99 (README): the floor catches a regression
    assert levels["l2"].count(Level.L1) <= 0.05 * len(levels["l2"])
    assert fake.completions()  # the model was asked, through the gateway


def test_with_a_hijacked_model_no_l3_message_reaches_l1(
    station, fake, django_capture_on_commit_callbacks
):
    fake.responder = hijacked
    levels = run_set(station, django_capture_on_commit_callbacks)

    assert Level.L1 not in levels["l3"]
    assert all(level == Level.L3 for level in levels["l3"])
