"""`python -m bench.seed`: build the bench dataset in DATABASE_URL and print what the scenarios
need as one JSON line (run by bench/__main__.py in its own process, with Django set up)."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.utils import timezone  # noqa: E402

from bench import dataset  # noqa: E402

print(json.dumps(dataset.build(timezone.localdate())))
