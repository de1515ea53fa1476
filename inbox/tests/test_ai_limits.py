"""A station's AI limits (inbox/ai/limits.py): cost from the price table, the monthly budget in
the station's time zone, the per-minute rate limit in the shared cache."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from inbox.ai import limits
from inbox.models import AIInteraction, AIOutcome
from testing.factories import StationFactory

LA = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def station(db):
    return StationFactory(ai_monthly_budget_cents=100, ai_rate_limit_per_minute=3)


def _spend(station, millicents: int, at: datetime) -> AIInteraction:
    return AIInteraction.objects.create(
        station=station,
        purpose="draft",
        model="gpt-4o",
        prompt="p",
        cost_millicents=millicents,
        outcome=AIOutcome.OK,
        created_at=at,
    )


# --- Cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "tokens_in", "tokens_out", "millicents"),
    [
        ("gpt-4o", 1000, 200, 450),  # (1000 x 250 + 200 x 1000) / 1000
        ("gpt-4o", 1_000_000, 0, 250_000),  # a million input tokens: 250 cents
        ("gpt-4o-mini", 1, 0, 1),  # 0.015 thousandths of a cent, rounded up
        ("gpt-4o-mini", 10_000, 1_000, 210),  # 150 + 60
        ("gpt-4o-2024-08-06", 1000, 0, 250),  # a dated version: its family's price
        ("gpt-4o-mini-2024-07-18", 1000, 0, 15),  # the longest family that matches
        ("llama-3.1-70b", 50_000, 5_000, 0),  # not listed: "*"
        ("gpt-4o", 0, 0, 0),
    ],
)
def test_cost_from_the_price_table(model, tokens_in, tokens_out, millicents):
    assert limits.cost_millicents(model, tokens_in, tokens_out) == millicents


def test_prices_may_be_fractional_and_the_default_is_used(settings):
    settings.AI_PRICES = {"small": [7.5, 30], "*": [100, 100]}
    assert limits.cost_millicents("small", 1000, 100) == 11  # 7.5 + 3
    assert limits.cost_millicents("other", 10, 10) == 2  # 2 cents a million x 20 tokens: 2


# --- Budget -----------------------------------------------------------------------------------


def test_the_month_is_the_station_s_calendar_month(station):
    now = datetime(2027, 3, 1, 0, 30, tzinfo=LA)
    _spend(station, 40_000, datetime(2027, 2, 28, 23, 30, tzinfo=LA))  # Mar 1 07:30 UTC
    _spend(station, 30_000, datetime(2027, 3, 1, 0, 10, tzinfo=LA))
    _spend(station, 5_000, datetime(2027, 3, 1, 0, 20, tzinfo=LA))

    assert limits.month_start(station, now) == datetime(2027, 3, 1, tzinfo=LA)
    assert limits.spent_millicents(station, now) == 35_000

    station.timezone = "Asia/Tokyo"  # March began earlier there: all three count
    assert limits.month_start(station, now) == datetime(2027, 3, 1, tzinfo=TOKYO)
    assert limits.spent_millicents(station, now) == 75_000


def test_other_stations_spending_does_not_count(station):
    now = datetime(2027, 3, 10, 12, 0, tzinfo=LA)
    other = StationFactory()
    _spend(other, 500_000, datetime(2027, 3, 10, 9, 0, tzinfo=LA))
    assert limits.over_budget(station, now) is None


def test_over_budget_at_the_budget_not_before(station):
    now = datetime(2027, 3, 10, 12, 0, tzinfo=LA)
    _spend(station, 99_999, datetime(2027, 3, 10, 9, 0, tzinfo=LA))  # budget 100 cents
    assert limits.over_budget(station, now) is None

    _spend(station, 1, datetime(2027, 3, 10, 9, 1, tzinfo=LA))
    refusal = limits.over_budget(station, now)
    assert refusal.outcome == AIOutcome.OVER_BUDGET
    assert refusal.reason == "monthly AI budget spent ($1.00); no AI call was made"
    # Next month the budget is whole again.
    assert limits.over_budget(station, datetime(2027, 4, 1, 0, 0, tzinfo=LA)) is None


def test_a_budget_of_zero_switches_the_model_off(station):
    station.ai_monthly_budget_cents = 0
    assert limits.over_budget(station).outcome == AIOutcome.OVER_BUDGET


# --- Rate -------------------------------------------------------------------------------------

AT = datetime(2027, 3, 10, 12, 0, 5, tzinfo=LA).timestamp()


def test_the_rate_limit_per_station_per_minute(station):
    assert [limits.rate_take(station, AT + i) for i in range(3)] == [None, None, None]
    refusal = limits.rate_take(station, AT + 3)
    assert refusal.outcome == AIOutcome.RATE_LIMITED
    assert refusal.reason == "AI rate limit reached (3 calls a minute); no AI call was made"
    assert limits.rate_used(station, AT) == 4

    other = StationFactory(ai_rate_limit_per_minute=3)
    assert limits.rate_take(other, AT + 4) is None  # a counter of its own
    assert limits.rate_take(station, AT + 60) is None  # the next minute starts again


def test_an_unreachable_counter_refuses(station, dead_cache):
    refusal = limits.rate_take(station, AT)
    assert refusal.outcome == AIOutcome.RATE_LIMITED
    assert "could not be checked" in refusal.reason


@time_machine.travel(datetime(2027, 3, 10, 12, 0, 5, tzinfo=LA), tick=True)
def test_check_over_budget_takes_no_call_of_the_minute(station):
    station.ai_monthly_budget_cents = 0
    assert limits.check(station).outcome == AIOutcome.OVER_BUDGET
    assert limits.rate_used(station) == 0

    station.ai_monthly_budget_cents = 100
    assert limits.check(station) is None
    assert limits.rate_used(station) == 1
