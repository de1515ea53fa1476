"""
POST /api/v1/webhooks/stripe: verify, store once, enqueue, answer 200 — in milliseconds.

Nothing is stored unless the Stripe-Signature header verifies for the raw body (HMAC-SHA256,
300 s tolerance, via stripe.Webhook.construct_event). A verified event of a type we handle
(payments.ledger.HANDLED_EVENTS) is stored under its id (a redelivery is acknowledged and
changes nothing) and the work happens in a task; any other type is acknowledged and not stored
(DESIGN.md §8: accept only the types handled).
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from config.exceptions import error_body
from payments import ledger, stripe_client
from payments.models import StripeEvent

# What the ledger's columns hold; Stripe's ids and types are far shorter.
EVENT_ID_MAX = StripeEvent._meta.get_field("event_id").max_length
EVENT_TYPE_MAX = StripeEvent._meta.get_field("type").max_length


@csrf_exempt
def stripe_webhook(request):
    if request.method != "POST":
        body = error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
        return JsonResponse(body, status=405, headers={"Allow": "POST"})
    try:
        event = stripe_client.verify_webhook(request.body, request.headers.get("Stripe-Signature"))
    except ValueError as exc:  # bad signature, stale timestamp, missing header, bad JSON
        return JsonResponse(error_body("invalid_signature", f"Rejected: {exc}."), status=400)
    try:
        event_id, event_type = event["id"], event["type"]
    except KeyError:
        event_id = event_type = None
    if not (
        isinstance(event_id, str)
        and isinstance(event_type, str)
        and 0 < len(event_id) <= EVENT_ID_MAX
        and 0 < len(event_type) <= EVENT_TYPE_MAX
    ):
        return JsonResponse(error_body("invalid_event", "Not a Stripe event."), status=400)
    if event_type not in ledger.HANDLED_EVENTS:
        return JsonResponse({"received": True, "ignored": True})
    # The ledger keeps the body exactly as Stripe sent it (and signed it).
    row_id = ledger.stripe_event_record(
        event_id=event_id,
        event_type=event_type,
        livemode=bool(event["livemode"]) if "livemode" in event else False,
        payload=request.body.decode(),
    )
    return JsonResponse({"received": True, "duplicate": row_id is None})
