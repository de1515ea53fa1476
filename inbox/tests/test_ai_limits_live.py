"""The rate limit holds across worker processes (issue 14: "the 51st call in one minute is not
made, across two workers"): two real processes, each a Django process calling the gateway 30
times at once against the local model server, with the shared Redis counting for both.

Run as a module, this file is one of those workers:
`python -m inbox.tests.test_ai_limits_live <station id> <calls> <moment>`."""

import json
import subprocess
import sys

import pytest

from config.tests.processes import ROOT, service_env
from testing import fake_openai

pytestmark = pytest.mark.live

# Both workers run with their clocks moved to the same moment (ticking), five seconds into a
# minute: their calls fall in one rate-limit window whenever the test runs.
MOMENT = "2031-01-06T10:00:05+00:00"
CALLS_EACH = 30


@pytest.mark.django_db(transaction=True)
def test_two_workers_make_exactly_the_station_s_fifty_calls_a_minute(settings):
    from inbox.models import AIInteraction, AIOutcome
    from testing.factories import StationFactory

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: the limit is shared through Redis")
    station = StationFactory(ai_rate_limit_per_minute=50, ai_monthly_budget_cents=5000)
    with fake_openai.serve(fake_openai.FakeOpenAI(delay=0.02)) as fake:
        env = service_env(
            DJANGO_SETTINGS_MODULE="config.settings",
            **fake_openai.settings_for(fake),
            OPENAI_TIMEOUT_SECONDS="10",
        )
        workers = [
            subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [sys.executable, "-m", __name__, str(station.pk), str(CALLS_EACH), MOMENT],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for worker in workers:  # both set up, then both start together
                assert worker.stdout.readline().strip() == "ready", worker.stderr.read()[-3000:]
            for worker in workers:
                worker.stdin.write("go\n")
                worker.stdin.flush()
            results = []
            for worker in workers:
                out, err = worker.communicate(timeout=120)
                assert worker.returncode == 0, err[-3000:]
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(timeout=10)
        reached = len(fake.completions())

    assert reached == 50
    assert sum(r["made"] for r in results) == 50
    assert sum(r["refused"] for r in results) == 10
    assert all(r["made"] >= 20 for r in results)  # both workers called; neither had it alone
    rows = AIInteraction.objects.filter(station=station)
    assert rows.filter(outcome=AIOutcome.OK).count() == 50
    assert rows.filter(outcome=AIOutcome.RATE_LIMITED).count() == 10
    assert not rows.exclude(outcome__in=[AIOutcome.OK, AIOutcome.RATE_LIMITED]).exists()


def _worker(station_id: int, calls: int, moment: str) -> None:
    import django

    django.setup()
    import time_machine

    from inbox.ai.gateway import AIUnavailable, complete
    from stations.models import Station

    station = Station.objects.get(pk=station_id)
    print("ready", flush=True)
    sys.stdin.readline()
    made = refused = 0
    with time_machine.travel(moment, tick=True):
        for n in range(calls):
            try:
                complete(
                    station=station,
                    purpose="draft",
                    instructions="Answer the customer.",
                    data=f"Question {n}: how much for 20 adults?",
                )
                made += 1
            except AIUnavailable as exc:
                if exc.outcome != "rate_limited":
                    raise
                refused += 1
    print(json.dumps({"made": made, "refused": refused}), flush=True)


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
