"""Signed Stripe events for the webhook scenarios (Stripe's documented event shape)."""

import json
import random
import secrets
import time

from payments.fake_events import signature_header


def signed_events(
    payments: list[list],
    secret: str,
    count: int,
    seed: int = 1,
    event_type: str = "payment_intent.succeeded",
) -> list[tuple[str, str]]:
    """`count` distinct events of `event_type` about the bench payments, each as
    (raw body, Stripe-Signature header), signed now (valid for Stripe's 300 s tolerance).
    payment_intent.payment_failed events each name a different payment (taken in order), so
    each one tells its customer, by e-mail, once."""
    rng = random.Random(seed)
    now = int(time.time())
    out = []
    for n in range(count):
        if event_type == "payment_intent.payment_failed":
            intent, reference, station, amount = payments[n % len(payments)]
        else:
            intent, reference, station, amount = rng.choice(payments)
        event = {
            "id": f"evt_bench{secrets.token_hex(10)}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": now,
            "livemode": False,
            "type": event_type,
            "data": {
                "object": {
                    "id": intent,
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "currency": "usd",
                    "status": "succeeded"
                    if event_type == "payment_intent.succeeded"
                    else "requires_payment_method",
                    "payment_method": "pm_card_visa",
                    "customer": None,
                    "metadata": {
                        "booking_reference": reference,
                        "station": station,
                        "kind": "deposit",
                    },
                }
            },
        }
        body = json.dumps(event, separators=(",", ":"))
        out.append((body, signature_header(body.encode(), secret, now)))
    return out


def signed_twilio_messages(
    *,
    base_url: str,
    auth_token: str,
    numbers: list[str],
    count: int,
    senders: int = 100,
    first: int = 0,
) -> list[tuple[str, str]]:
    """`count` distinct inbound SMS in Twilio's documented webhook form (form-encoded), from
    `senders` phones to the bench numbers, each as (body, X-Twilio-Signature) signed with
    twilio's own RequestValidator over the public URL."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    validator = RequestValidator(auth_token)
    url = f"{base_url}/api/v1/webhooks/twilio"
    out = []
    for n in range(first, first + count):
        params = {
            "ToCountry": "US",
            "SmsMessageSid": f"SMbench{n:026d}",
            "NumMedia": "0",
            "SmsSid": f"SMbench{n:026d}",
            "SmsStatus": "received",
            "Body": f"Hi, are you free on the {n % 28 + 1}th for 12 people?",
            "FromCountry": "US",
            "To": numbers[n % len(numbers)],
            "MessageSid": f"SMbench{n:026d}",
            "AccountSid": "ACbench0000000000000000000000000000",
            "From": f"+1650{5550000 + n % senders:07d}"[:12],
            "ApiVersion": "2010-04-01",
        }
        out.append((urlencode(params), validator.compute_signature(url, params)))
    return out
