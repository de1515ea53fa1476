"""
Baselines for `make bench`, served only when BENCH_ENDPOINTS is on: the cheapest Django JSON
view and a Django view doing one INSERT, measured in the same run, on the same server and
middleware stack as the real endpoints, so the ratios say what our own code costs.
"""

import json

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


@require_GET
def bare_json(request):
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def bare_insert(request):
    payload = json.loads(request.body or b"{}")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_insert (payload) VALUES (%s) RETURNING id", [json.dumps(payload)]
        )
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)
