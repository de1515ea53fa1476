"""`python -m bench.drain`: apply every waiting Stripe ledger row with one drain call (the
loop the drain task runs) in this process, and print one JSON line: how many were applied and
how long it took. Run by bench/__main__.py with Django set up on the bench database."""

import json
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from payments import ledger  # noqa: E402
from payments.models import EventOutcome, StripeEvent  # noqa: E402

waiting = StripeEvent.objects.filter(outcome=EventOutcome.PENDING).count()
start = time.perf_counter()
applied = ledger.stripe_events_drain()
seconds = time.perf_counter() - start
print(json.dumps({"waiting": waiting, "applied": applied, "seconds": round(seconds, 2)}))
