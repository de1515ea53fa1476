"""
What a station may spend on AI, checked before every model call (DESIGN.md §7; the gateway is
the only caller).

- Monthly budget: the cost of this calendar month's calls (in the station's time zone), summed
  from the audit trail (AIInteraction.cost_millicents), against `ai_monthly_budget_cents`. Calls
  already under way when the budget runs out still finish, so a month can end a few calls over.
- Rate limit: `ai_rate_limit_per_minute` calls per station per clock minute, counted in Redis
  (one atomic INCR per call, shared by every worker process): a fixed window, like
  config.throttling. Without Redis the limit cannot be checked and no call is made (fail
  closed: the message becomes a human task), unlike the web throttles, which count per process.

Cost: AI_PRICES gives cents per million tokens [input, output] per model; a model not listed
costs AI_PRICES["*"]. Costs are kept in thousandths of a cent, rounded up.
"""

import math
import time
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import caches
from django.db.models import Sum
from django.utils import timezone

from config.cache import fail_soft
from config.money import format_money
from inbox.models import AIInteraction, AIOutcome
from stations.models import Station

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Refusal:
    """Why no call may be made now: an AIOutcome value and a sentence staff read."""

    outcome: str
    reason: str


# --- Cost -------------------------------------------------------------------------------------


def price_of(model: str) -> tuple[Fraction, Fraction]:
    """Cents per million tokens [input, output] of `model`: its own entry, else the entry of the
    longest listed name it is a dated version of ("gpt-4o-2024-08-06" → "gpt-4o"), else "*"."""
    prices = settings.AI_PRICES
    entry = prices.get(model)
    if entry is None:
        versions = [name for name in prices if name != "*" and model.startswith(f"{name}-")]
        entry = prices[max(versions, key=len)] if versions else prices["*"]
    return Fraction(str(entry[0])), Fraction(str(entry[1]))


def cost_millicents(model: str, tokens_in: int, tokens_out: int) -> int:
    """Thousandths of a cent for one call (rounded up: never under-counted)."""
    price_in, price_out = price_of(model)
    # cents = tokens * price / 1e6; millicents = cents * 1000
    return math.ceil((tokens_in * price_in + tokens_out * price_out) / 1000)


# --- Budget -----------------------------------------------------------------------------------


def month_start(station: Station, now: datetime | None = None) -> datetime:
    """Midnight on the first of this month in the station's time zone."""
    local = (now or timezone.now()).astimezone(ZoneInfo(station.timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_millicents(station: Station, now: datetime | None = None) -> int:
    """What the station's AI calls have cost this month, in thousandths of a cent."""
    total = AIInteraction.objects.filter(
        station=station, created_at__gte=month_start(station, now)
    ).aggregate(total=Sum("cost_millicents"))["total"]
    return total or 0


def over_budget(station: Station, now: datetime | None = None) -> Refusal | None:
    budget = station.ai_monthly_budget_cents
    if spent_millicents(station, now) < budget * 1000:
        return None
    return Refusal(
        AIOutcome.OVER_BUDGET,
        f"monthly AI budget spent ({format_money(budget, station.currency)}); no AI call was made",
    )


# --- Rate -------------------------------------------------------------------------------------


def _window(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // WINDOW_SECONDS)


def _key(station: Station, window: int) -> str:
    return f"ai-rate:{station.pk}:{window}"


def rate_take(station: Station, at: float | None = None) -> Refusal | None:
    """Count one call against the station's rate limit: None when it may be made."""
    limit = station.ai_rate_limit_per_minute
    key = _key(station, _window(at))
    try:
        count = fail_soft.incr(key)
    except ValueError:  # the window's first call
        fail_soft.add(key, 0, WINDOW_SECONDS + 5)
        try:
            count = fail_soft.incr(key)
        except ValueError:  # evicted at once: the count cannot be trusted
            count = None
    if count is None:
        return Refusal(
            AIOutcome.RATE_LIMITED,
            "the AI rate limit could not be checked (the shared counter is unreachable); "
            "no AI call was made",
        )
    if count > limit:
        return Refusal(
            AIOutcome.RATE_LIMITED,
            f"AI rate limit reached ({limit} calls a minute); no AI call was made",
        )
    return None


def rate_used(station: Station, at: float | None = None) -> int:
    """Calls counted in the current window (for the admin and tests)."""
    return int(caches["default"].get(_key(station, _window(at))) or 0)


# --- Both -------------------------------------------------------------------------------------


def check(station: Station, now: datetime | None = None) -> Refusal | None:
    """Before one model call: the budget (which takes nothing), then the rate limit (which takes
    one call of this minute). None: the call may be made."""
    return over_budget(station, now) or rate_take(station)
