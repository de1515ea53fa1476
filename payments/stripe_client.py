"""
The one module that talks to Stripe (DESIGN.md §8.6). Everything else calls these functions and
sees our own errors: `StripeUnavailable` (worth retrying) or `StripeRejected` (permanent).

With no STRIPE_SECRET_KEY the app runs in offline mode: PaymentIntents and refunds are created
locally with Stripe-format ids, and `manage.py simulate_stripe_event` plays Stripe's part by
posting signed events to our webhook. STRIPE_API_BASE points the SDK at another base URL (a
local test server, stripe-mock).
"""

import json
import secrets
from dataclasses import dataclass

import stripe
from django.conf import settings

WEBHOOK_TOLERANCE_SECONDS = 300


class StripeError(Exception):
    permanent = False


class StripeUnavailable(StripeError):
    """Network trouble, rate limits, Stripe's own errors: retry later."""


class StripeRejected(StripeError):
    """Stripe refused the request (bad card, invalid request, auth): don't retry."""

    permanent = True


@dataclass(frozen=True)
class Intent:
    id: str
    client_secret: str
    status: str


def is_offline() -> bool:
    return not settings.STRIPE_SECRET_KEY


def mode() -> str:
    return (
        "offline"
        if is_offline()
        else ("test" if "_test_" in settings.STRIPE_SECRET_KEY else "live")
    )


def _client() -> stripe.StripeClient:
    """The SDK client, with our bounds: each request gives up after STRIPE_TIMEOUT_SECONDS (the
    SDK's own default is 80 s) and is retried at most STRIPE_MAX_NETWORK_RETRIES times, so a
    Stripe call ends well within a task's soft time limit even when Stripe stalls."""
    kwargs = {
        "max_network_retries": settings.STRIPE_MAX_NETWORK_RETRIES,
        "http_client": stripe.new_default_http_client(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    }
    if settings.STRIPE_API_BASE:
        kwargs["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **kwargs)


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise StripeUnavailable(str(exc)) from exc
    except stripe.APIError as exc:
        raise StripeUnavailable(str(exc)) from exc
    except stripe.StripeError as exc:  # card, invalid request, authentication, permission
        raise StripeRejected(exc.user_message or str(exc)) from exc


def _local_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"


def create_payment_intent(
    *,
    amount_cents: int,
    currency: str,
    metadata: dict,
    idempotency_key: str,
    customer_email: str = "",
    save_card_for: str | None = None,
    off_session_with: tuple[str, str] | None = None,
) -> Intent:
    """Create a PaymentIntent. The idempotency key (derived from our ids) makes a retry return
    the first intent instead of making a second one. `save_card_for` (a Stripe Customer id)
    keeps the card for later; `off_session_with` = (customer id, payment method id) charges a
    saved card now."""
    if is_offline():
        intent_id = _local_id("pi")
        return Intent(
            intent_id, f"{intent_id}_secret_{secrets.token_urlsafe(18)}", "requires_payment_method"
        )
    params = {
        "amount": amount_cents,
        "currency": currency.lower(),
        "metadata": metadata,
        "automatic_payment_methods": {"enabled": True},
    }
    if customer_email:
        params["receipt_email"] = customer_email
    if save_card_for:
        params["customer"] = save_card_for
        params["setup_future_usage"] = "off_session"
    if off_session_with:
        params.update(
            customer=off_session_with[0],
            payment_method=off_session_with[1],
            off_session=True,
            confirm=True,
        )
        params.pop("automatic_payment_methods")
    intent = _call(
        _client().v1.payment_intents.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )
    return Intent(intent.id, intent.client_secret or "", intent.status)


def create_customer(*, email: str, name: str, metadata: dict, idempotency_key: str) -> str:
    """A Stripe Customer to save a card on (needed to charge it later, off session)."""
    if is_offline():
        return _local_id("cus")
    customer = _call(
        _client().v1.customers.create,
        params={"email": email, "name": name, "metadata": metadata},
        options={"idempotency_key": idempotency_key},
    )
    return customer.id


def cancel_payment_intent(*, payment_intent_id: str, idempotency_key: str) -> None:
    """Cancel an intent nobody should pay any more (its booking ended)."""
    if is_offline():
        return
    _call(
        _client().v1.payment_intents.cancel,
        payment_intent_id,
        params={"cancellation_reason": "abandoned"},
        options={"idempotency_key": idempotency_key},
    )


def create_refund(*, payment_intent_id: str, amount_cents: int, idempotency_key: str) -> str:
    """Refund part or all of a PaymentIntent; returns the refund id."""
    if is_offline():
        return _local_id("re")
    refund = _call(
        _client().v1.refunds.create,
        params={"payment_intent": payment_intent_id, "amount": amount_cents},
        options={"idempotency_key": idempotency_key},
    )
    return refund.id


def verify_webhook(payload: bytes, signature: str | None) -> dict:
    """The event (a dict), if the Stripe-Signature header is valid for this body; else
    ValueError. The signature is checked by the SDK's WebhookSignature.verify_header, which its
    documentation recommends for validating before storing; the body is then parsed with the
    json module: building the SDK's StripeObject tree (Webhook.construct_event) cost about a
    sixth of the ack's CPU, for an object the ack only reads two keys of."""
    if not signature:
        raise ValueError("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, TypeError) as exc:
        # (TypeError: a header holding non-ASCII characters cannot be compared in constant time)
        raise ValueError("invalid signature") from exc
    except UnicodeDecodeError as exc:
        raise ValueError("not a Stripe event (not UTF-8)") from exc
    try:
        event = json.loads(payload)
    except RecursionError as exc:  # signed, but nested deeper than the parser goes
        raise ValueError("not a Stripe event (nested too deeply)") from exc
    except ValueError as exc:  # signed, but not JSON
        raise ValueError("not a Stripe event") from exc
    if not isinstance(event, dict):  # signed, but JSON that is not an object
        raise ValueError("not a Stripe event")
    return event


def list_events(*, since: int, types: list[str]):
    """Every event created since the timestamp, oldest pages first (auto-paginated)."""
    events = _call(
        _client().v1.events.list, params={"created": {"gte": since}, "types": types, "limit": 100}
    )
    for event in events.auto_paging_iter():
        yield event.to_dict()


def list_payment_intents(*, since: int):
    intents = _call(
        _client().v1.payment_intents.list, params={"created": {"gte": since}, "limit": 100}
    )
    for intent in intents.auto_paging_iter():
        yield intent.to_dict()
