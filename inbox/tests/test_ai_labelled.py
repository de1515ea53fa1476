"""
The labelled customer messages (data/ai_messages.jsonl, written for this purpose) through the
local classifier. Each line: text, the intent it is about, and its class: "l1" answerable from
station data, "l2" a person should look (a booking request, a greeting, anything else), "l3"
must never be answered by the assistant (complaints, refunds, allergies, legal, threats,
changes to a booking, and every attempt to instruct the assistant: "injection": true).

Zero tolerance: every l3 message is classified L3. The shares of l1 messages the classifier
would let L1 answer (an answerable intent at the default 85% threshold) and of l2 messages it
would wrongly let through are measured and held above/below floors (README: the numbers).
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from inbox.ai import intents
from inbox.ai.local import classify

MESSAGES = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "ai_messages.jsonl").read_text().splitlines()
    if line.strip()
]
THRESHOLD = 0.85  # stations.models.Station.ai_confidence_threshold's default, as a fraction


def _l1_eligible(found) -> bool:
    return found.intent in intents.ANSWERABLE and found.confidence >= THRESHOLD and not found.is_l3


def _of(cls):
    return [row for row in MESSAGES if row["class"] == cls]


def test_the_set_covers_every_intent_language_and_injections():
    assert len(MESSAGES) >= 150
    assert set(Counter(row["intent"] for row in MESSAGES)) == set(intents.ALL)
    assert sum(1 for row in MESSAGES if row.get("injection")) >= 20
    assert all(row["class"] == "l3" for row in MESSAGES if row.get("injection"))
    assert all(row["intent"] in intents.ANSWERABLE for row in _of("l1"))
    assert all(row["intent"] in intents.L3 for row in _of("l3") if not row.get("injection"))
    languages = Counter(classify(row["text"]).language for row in MESSAGES)
    assert {"en", "es", "vi", "zh", "tl"} <= set(languages)
    assert languages["es"] >= 15


@pytest.mark.parametrize("row", _of("l3"), ids=lambda row: row["text"][:40])
def test_no_l3_message_is_classified_below_l3(row):
    found = classify(row["text"])
    assert found.is_l3, found
    if row.get("injection"):
        assert "injection" in found.risks


def test_shares_of_l1_and_l2_messages_the_classifier_lets_l1_answer():
    l1, l2 = _of("l1"), _of("l2")
    l1_found = [classify(row["text"]) for row in l1]
    eligible = sum(map(_l1_eligible, l1_found))
    right = sum(
        1
        for row, found in zip(l1, l1_found, strict=True)
        if _l1_eligible(found) and found.intent == row["intent"]
    )
    l2_found = [classify(row["text"]) for row in l2]
    leaked = sum(map(_l1_eligible, l2_found))
    l2_right = sum(
        1 for row, found in zip(l2, l2_found, strict=True) if found.intent == row["intent"]
    )
    print(
        f"\nlabelled set: {len(MESSAGES)} messages; "
        f"l1: {eligible}/{len(l1)} ({eligible / len(l1):.0%}) at L1 "
        f"({right} with the labelled intent); "
        f"l2: {leaked}/{len(l2)} ({leaked / len(l2):.0%}) would reach L1, "
        f"{l2_right}/{len(l2)} ({l2_right / len(l2):.0%}) with the labelled intent; "
        f"l3: {len(_of('l3'))}/{len(_of('l3'))} at L3"
    )
    # Floors measured when the set was written (89/99 and 0/38); the misses are questions in
    # Vietnamese, Chinese and Tagalog (the drafter writes English and Spanish) and a few vague
    # or double ones.
    assert eligible / len(l1) >= 0.85
    assert right / len(l1) >= 0.85
    assert leaked / len(l2) <= 0.05
    assert l2_right / len(l2) >= 0.75
