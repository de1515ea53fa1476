"""
Fake Stripe events: Stripe-format events about our payments, signed with Stripe's signature
scheme, for when Stripe is not there to send them. Used by `manage.py simulate_stripe_event`
(offline mode plays Stripe's part), by tests and by the bench's event generator; never by the
code that receives or applies real events. The shapes follow Stripe's documented event objects
(see shared/samples/).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the signer is used outside Django too (the bench's event generator)
    from payments.models import Payment

API_VERSION = "2024-06-20"


def _intent(payment: Payment, status: str, error: str | None = None) -> dict:
    booking = payment.booking
    intent = {
        "id": payment.stripe_payment_intent_id,
        "object": "payment_intent",
        "amount": payment.amount_cents,
        "amount_received": payment.amount_cents if status == "succeeded" else 0,
        "currency": payment.currency.lower(),
        "status": status,
        "client_secret": payment.client_secret,
        "latest_charge": f"ch_{payment.stripe_payment_intent_id[3:]}",
        "customer": None,
        "payment_method": "pm_card_visa",
        "metadata": {
            "booking_reference": booking.reference,
            "station": booking.station.slug,
            "kind": payment.kind,
        },
        "created": int(payment.created_at.timestamp()),
        "livemode": False,
    }
    if error:
        intent["last_payment_error"] = {
            "code": "card_declined",
            "message": error,
            "type": "card_error",
        }
    return intent


def _charge(payment: Payment, refunded_cents: int) -> dict:
    intent = _intent(payment, "succeeded")
    return {
        "id": intent["latest_charge"],
        "object": "charge",
        "amount": payment.amount_cents,
        "amount_captured": payment.amount_cents,
        "amount_refunded": refunded_cents,
        "currency": intent["currency"],
        "paid": True,
        "refunded": refunded_cents >= payment.amount_cents,
        "status": "succeeded",
        "payment_intent": payment.stripe_payment_intent_id,
        "metadata": intent["metadata"],
        "livemode": False,
    }


def _dispute(payment: Payment) -> dict:
    return {
        "id": f"dp_{secrets.token_hex(8)}",
        "object": "dispute",
        "amount": payment.amount_cents,
        "charge": f"ch_{payment.stripe_payment_intent_id[3:]}",
        "currency": payment.currency.lower(),
        "payment_intent": payment.stripe_payment_intent_id,
        "reason": "fraudulent",
        "status": "needs_response",
        "livemode": False,
    }


def build_event(event_type: str, payment: Payment, *, amount_cents: int | None = None) -> dict:
    """A Stripe event of `event_type` about this payment (amount: refunded total for
    charge.refunded, default the whole payment)."""
    if event_type == "payment_intent.succeeded":
        obj = _intent(payment, "succeeded")
    elif event_type == "payment_intent.payment_failed":
        obj = _intent(payment, "requires_payment_method", "Your card was declined.")
    elif event_type == "charge.refunded":
        obj = _charge(payment, payment.amount_cents if amount_cents is None else amount_cents)
    elif event_type == "charge.dispute.created":
        obj = _dispute(payment)
    else:
        raise ValueError(f"unsupported event type {event_type}")
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's Stripe-Signature header: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
