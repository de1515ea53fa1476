"""The AI's monthly figures per station (inbox/ai/metrics.py), on a small fixture whose numbers
are worked out by hand; the month is the station's (America/Los_Angeles at san-jose)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from inbox import services
from inbox.ai import metrics
from inbox.models import AIInteraction, AIOutcome, Channel, Draft, DraftStatus, Level
from inbox.services import SenderInfo

pytestmark = pytest.mark.django_db

JUNE_5 = datetime(2026, 6, 5, 19, 0, tzinfo=UTC)  # noon in San Jose
MAY_31_LATE = datetime(2026, 6, 1, 6, 30, tzinfo=UTC)  # 23:30 on May 31 in San Jose
JULY_1_EARLY = datetime(2026, 7, 1, 7, 30, tzinfo=UTC)  # 00:30 on July 1 in San Jose

# (level, status, edited) of June's ten drafts: 5 L1, 4 L2 (2 sent as is, 1 edited, 1
# rejected), 1 L3.
JUNE = [
    *[(Level.L1, DraftStatus.AUTO_SENT, False)] * 5,
    (Level.L2, DraftStatus.SENT, False),
    (Level.L2, DraftStatus.SENT, False),
    (Level.L2, DraftStatus.SENT, True),
    (Level.L2, DraftStatus.REJECTED, False),
    (Level.L3, DraftStatus.HUMAN, False),
]


def _draft(channel, n, level, status, edited, at, latency_s):
    message = services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=f"+1408555{n:04d}"),
        provider_message_id=f"SM-metrics-{channel.pk}-{n}",
        body="How much?",
        received_at=at,
    )
    return Draft.objects.create(
        station=channel.station,
        conversation=message.conversation,
        message=message,
        level=level,
        status=status,
        edited=edited,
        created_at=at + timedelta(seconds=latency_s),
    )


def _call(station, at, cost, model="gpt-4o", outcome=AIOutcome.OK):
    AIInteraction.objects.create(
        station=station,
        purpose="draft",
        model=model,
        prompt="p",
        cost_millicents=cost,
        outcome=outcome,
        created_at=at,
    )


@pytest.fixture
def june(san_jose, sacramento):
    sms = Channel.objects.create(station=san_jose, kind="sms_twilio", address="+14085550100")
    for n, (level, status, edited) in enumerate(JUNE, start=1):
        _draft(sms, n, level, status, edited, JUNE_5 + timedelta(hours=n), latency_s=n)
    # May in San Jose though June in UTC; July in both.
    _draft(sms, 90, Level.L3, DraftStatus.HUMAN, False, MAY_31_LATE, 1)
    _draft(sms, 91, Level.L1, DraftStatus.AUTO_SENT, False, JULY_1_EARLY, 1)
    # Another station's.
    other = Channel.objects.create(station=sacramento, kind="sms_twilio", address="+19165550100")
    _draft(other, 1, Level.L3, DraftStatus.HUMAN, False, JUNE_5, 1)
    _call(san_jose, JUNE_5, 1500)
    _call(san_jose, JUNE_5, 2501, model="gpt-4o-mini")
    _call(san_jose, JUNE_5, 0, model="local-drafter")
    _call(san_jose, JUNE_5, 0, outcome=AIOutcome.OVER_BUDGET)  # no call was made
    _call(san_jose, MAY_31_LATE, 99_999)
    _call(sacramento, JUNE_5, 77_777)
    return san_jose


def test_the_months_figures(june, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        figures = metrics.ai_month(station=june, month=date(2026, 6, 1))

    assert (figures.messages, figures.l1, figures.l2, figures.l3) == (10, 5, 4, 1)
    assert [figures.share(level) for level in ("l1", "l2", "l3")] == [50.0, 40.0, 10.0]
    assert (figures.sent_as_is, figures.edited, figures.rejected) == (2, 1, 1)
    assert figures.decided == 4
    assert (figures.approval_rate, figures.edit_rate) == (0.5, 0.25)
    assert figures.auto_sent == 5
    assert (figures.cost_millicents, figures.cost_cents, figures.calls) == (4001, 5, 2)
    # Latencies 1..10 s: the median 5.5 s, the 95th percentile 1 + 0.95 * 9 = 9.55 s.
    assert (figures.latency_p50_ms, figures.latency_p95_ms) == (5500, 9550)
    line = metrics.summary_line(june, figures)
    assert line.startswith("San Jose, June 2026: L1 50% · L2 40% · L3 10% of 10 messages")
    assert "approved as is 50%, edited 25%, rejected 1" in line
    assert "cost $0.05 (2 calls)" in line
    assert "p50 5.5 s, p95 9.6 s" in line


def test_a_month_with_nothing(june):
    figures = metrics.ai_month(station=june, month=date(2026, 3, 1))
    assert figures.messages == 0
    assert figures.share("l1") == 0.0
    assert figures.approval_rate is None
    assert figures.latency_p95_ms is None
    assert figures.cost_cents == 0


def test_the_boundaries_are_the_stations_month(june):
    may = metrics.ai_month(station=june, month=date(2026, 5, 1))
    assert (may.messages, may.l3, may.cost_millicents) == (1, 1, 99_999)
    july = metrics.ai_month(station=june, month=date(2026, 7, 1))
    assert (july.messages, july.l1) == (1, 1)
