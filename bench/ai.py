"""
The AI part of `make bench` (issue 14), against a local OpenAI-compatible server that answers
every call in a fixed 500 ms (testing/fake_openai.py):

- `python -m bench.ai overhead N`: N calls of the gateway (inbox.ai.gateway.complete) in one
  process, one after another; each call's wall time minus the server's 500 ms is the gateway's
  own overhead (limits, redaction, the audit row, the HTTP client and loopback). Prints one JSON
  line: p50, p95, max in ms.
- `python -m bench.ai latency IDS`: for the Twilio message ids given (comma-separated), how long
  from the message stored to its draft stored, once every one has a draft. Prints one JSON line.
- `python -m bench.ai prepare`: the bench station's AI limits out of the way (the rate limit
  would otherwise turn most messages into human tasks: that is measured by the tests, not here).
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db.models import Count  # noqa: E402

from bench.dataset import station_slug  # noqa: E402
from inbox.models import Draft, Message  # noqa: E402
from stations.models import Station  # noqa: E402

MODEL_WAIT_SECONDS = 0.5
QUESTION = (
    "Hi! How much for 12 adults and 3 kids on Saturday the 20th in 90001? Call me at 408-555-0199"
)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def prepare() -> dict:
    updated = Station.objects.filter(slug__startswith="bench-").update(
        ai_rate_limit_per_minute=30_000, ai_monthly_budget_cents=10**9
    )
    return {"stations": updated}


def overhead(calls: int) -> dict:
    from inbox.ai import gateway
    from testing.fake_openai import FakeOpenAI, serve, settings_for

    station = Station.objects.get(slug=station_slug(1))
    prepare()
    station.refresh_from_db()
    spent = []
    with serve(FakeOpenAI(delay=MODEL_WAIT_SECONDS)) as fake:
        for name, value in settings_for(fake).items():
            setattr(settings, name, value)
        for _ in range(calls):
            started = time.perf_counter()
            gateway.complete(
                station=station,
                purpose="bench",
                instructions="Answer the customer's question in one sentence.",
                data=QUESTION,
            )
            spent.append((time.perf_counter() - started - MODEL_WAIT_SECONDS) * 1000)
    return {
        "calls": calls,
        "p50_ms": _percentile(spent, 0.5),
        "p95_ms": _percentile(spent, 0.95),
        "max_ms": round(max(spent), 2),
    }


def latency(ids: list[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        drafted = Draft.objects.filter(message__provider_message_id__in=ids).count()
        if drafted >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    rows = Message.objects.filter(provider_message_id__in=ids, draft__isnull=False).values_list(
        "created_at", "draft__created_at"
    )
    waits = [(drafted_at - stored).total_seconds() * 1000 for stored, drafted_at in rows]
    return {
        "messages": len(ids),
        "drafted": len(waits),
        "p50_ms": _percentile(waits, 0.5),
        "p95_ms": _percentile(waits, 0.95),
        "levels": dict(
            Draft.objects.filter(message__provider_message_id__in=ids)
            .values_list("level")
            .annotate(n=Count("id"))
        ),
    }


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "overhead":
        print(json.dumps(overhead(int(sys.argv[2]))))
    elif command == "latency":
        print(json.dumps(latency(sys.argv[2].split(","), float(sys.argv[3]))))
    elif command == "prepare":
        print(json.dumps(prepare()))
    else:
        sys.exit(f"unknown command {command!r}")
