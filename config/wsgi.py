"""WSGI entry point (gunicorn config.wsgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, DRF, the SDKs) lives as long as the process:
# moved out of the collector's generations, it is no longer traversed by every full
# collection, which showed up as latency spikes under load (Python docs: gc.freeze).
gc.freeze()
