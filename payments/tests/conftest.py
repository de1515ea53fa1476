"""
Payments test fixtures.

- Stripe's documented event format: the samples of shared/samples/stripe_*.json, stored here so
  the suite needs nothing outside the repository, and `stripe_event` to build one about a
  payment with a fresh event id.
- `sign`: Stripe's signature scheme written out independently of payments/fake_events.py
  (`t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<raw body>">`), so a mistake there can't hide here.
- `webhook`: posts signed events to POST /api/v1/webhooks/stripe and runs what the request
  queued on commit (Celery is eager in tests), as a real broker would right after;
  `apply_event(event)` does that for an event and returns its ledger row.
- `book`, `deposit_booking`, `paid_booking`: bookings made through the public API, for a
  customer reached by e-mail (so every notification lands in the mail outbox).
- `fake_stripe`: a local HTTP server that plays Stripe's API for the SDK (STRIPE_API_BASE).
"""

import contextlib
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from bookings.models import Booking
from bookings.tests.helpers import booking_payload
from payments.models import Payment, PaymentKind, StripeEvent

WEBHOOK = "/api/v1/webhooks/stripe"
BOOKINGS = "/api/v1/bookings/"

# --- Stripe's event format ---------------------------------------------------------------------

# Verbatim from shared/samples/ (Stripe's documented event objects, trimmed); the dispute follows
# the same documented shape (https://docs.stripe.com/api/disputes/object).
SAMPLES = {
    "payment_intent.succeeded": {
        "id": "evt_3QaExampleSucceeded01",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1764093600,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_Example01", "idempotency_key": "booking-MH-7K2P9Q-deposit"},
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_3QaExampleIntent01",
                "object": "payment_intent",
                "amount": 10000,
                "amount_received": 10000,
                "currency": "usd",
                "status": "succeeded",
                "client_secret": "pi_3QaExampleIntent01_secret_Abc123",
                "latest_charge": "ch_3QaExampleCharge01",
                "customer": None,
                "payment_method": "pm_1QaExampleCard",
                "metadata": {
                    "booking_reference": "MH-7K2P9Q",
                    "station": "san-jose",
                    "kind": "deposit",
                },
                "created": 1764093000,
                "livemode": False,
            }
        },
    },
    "payment_intent.payment_failed": {
        "id": "evt_3QaExampleFailed01",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1764093500,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_Example02", "idempotency_key": None},
        "type": "payment_intent.payment_failed",
        "data": {
            "object": {
                "id": "pi_3QaExampleIntent01",
                "object": "payment_intent",
                "amount": 10000,
                "amount_received": 0,
                "currency": "usd",
                "status": "requires_payment_method",
                "last_payment_error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                },
                "latest_charge": "ch_3QaExampleChargeFailed",
                "metadata": {
                    "booking_reference": "MH-7K2P9Q",
                    "station": "san-jose",
                    "kind": "deposit",
                },
                "created": 1764093000,
                "livemode": False,
            }
        },
    },
    "charge.refunded": {
        "id": "evt_3QaExampleRefunded01",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1764180000,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_Example03", "idempotency_key": "refund-MH-7K2P9Q-1"},
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_3QaExampleCharge01",
                "object": "charge",
                "amount": 10000,
                "amount_captured": 10000,
                "amount_refunded": 10000,
                "currency": "usd",
                "paid": True,
                "refunded": True,
                "status": "succeeded",
                "payment_intent": "pi_3QaExampleIntent01",
                "metadata": {
                    "booking_reference": "MH-7K2P9Q",
                    "station": "san-jose",
                    "kind": "deposit",
                },
                "created": 1764093590,
                "livemode": False,
            },
            "previous_attributes": {"amount_refunded": 0, "refunded": False},
        },
    },
    "charge.dispute.created": {
        "id": "evt_3QaExampleDispute01",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1764200000,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "charge.dispute.created",
        "data": {
            "object": {
                "id": "dp_1QaExampleDispute01",
                "object": "dispute",
                "amount": 10000,
                "charge": "ch_3QaExampleCharge01",
                "currency": "usd",
                "payment_intent": "pi_3QaExampleIntent01",
                "reason": "fraudulent",
                "status": "needs_response",
                "created": 1764200000,
                "livemode": False,
            }
        },
    },
    "customer.created": {
        "id": "evt_1QaExampleCustomer01",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1764093000,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_Example04", "idempotency_key": None},
        "type": "customer.created",
        "data": {
            "object": {
                "id": "cus_QaExample01",
                "object": "customer",
                "email": "pat@example.com",
                "created": 1764093000,
                "livemode": False,
            }
        },
    },
}


def new_event_id() -> str:
    return f"evt_test{secrets.token_hex(10)}"


def build_stripe_event(
    event_type: str,
    payment: Payment | None = None,
    *,
    intent_id: str | None = None,
    amount_refunded: int | None = None,
    metadata: dict | None = None,
    **object_fields,
) -> dict:
    """A sample event of `event_type` with a fresh id, about `payment` (its PaymentIntent,
    amount, currency and our metadata) when given. charge.refunded reports the cumulative
    `amount_refunded` (default: all of it), as Stripe's charge object does."""
    event = copy.deepcopy(SAMPLES[event_type])
    event["id"] = new_event_id()
    event["created"] = int(time.time())
    obj = event["data"]["object"]
    if payment is not None:
        intent_id = intent_id or payment.stripe_payment_intent_id
        obj["amount"] = payment.amount_cents
        obj["currency"] = payment.currency.lower()
        if "metadata" in obj:
            obj["metadata"] = {
                "booking_reference": payment.booking.reference,
                "station": payment.booking.station.slug,
                "kind": payment.kind,
            }
        if obj.get("amount_received"):
            obj["amount_received"] = payment.amount_cents
        if "amount_captured" in obj:
            obj["amount_captured"] = payment.amount_cents
    if intent_id is not None:
        if obj["object"] == "payment_intent":
            obj["id"] = intent_id
            if "client_secret" in obj:
                obj["client_secret"] = f"{intent_id}_secret_{secrets.token_hex(6)}"
        elif "payment_intent" in obj:
            obj["payment_intent"] = intent_id
    if event_type == "charge.refunded":
        refunded = obj["amount"] if amount_refunded is None else amount_refunded
        obj["amount_refunded"] = refunded
        obj["refunded"] = refunded >= obj["amount"]
    if metadata is not None:
        obj["metadata"] = metadata
    obj.update(object_fields)
    return event


@pytest.fixture
def stripe_event():
    """stripe_event(type, payment=None, **options) → a Stripe-format event dict."""
    return build_stripe_event


# --- Signing and posting -----------------------------------------------------------------------


def stripe_signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe-Signature for `body`, computed the way Stripe documents it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


@pytest.fixture
def sign(settings):
    """sign(body, secret=<configured>, timestamp=now) → a Stripe-Signature header value."""

    def make(body: bytes, secret: str | None = None, timestamp: int | None = None) -> str:
        return stripe_signature(
            body, settings.STRIPE_WEBHOOK_SECRET if secret is None else secret, timestamp
        )

    return make


@dataclass
class Webhook:
    client: Client
    sign: object
    capture: object

    def post(self, body: bytes, signature: str | None = "sign", **extra):
        """POST raw bytes; `signature` "sign" means a valid header for this body, None none.
        What the request queued on commit (the processing task) runs before this returns."""
        if signature == "sign":
            signature = self.sign(body)
        if signature is not None:
            extra["HTTP_STRIPE_SIGNATURE"] = signature
        with self.capture(execute=True):
            return self.client.post(WEBHOOK, data=body, content_type="application/json", **extra)

    def deliver(self, event: dict) -> dict:
        """Sign and post an event the way Stripe does; it must be acknowledged."""
        response = self.post(encode(event))
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def webhook(sign, django_capture_on_commit_callbacks):
    return Webhook(Client(), sign, django_capture_on_commit_callbacks)


@pytest.fixture
def apply_event(webhook):
    """apply_event(event) → its ledger row, after Stripe's way in: signed, posted to the
    webhook, and the task it queued run."""

    def apply(event: dict) -> StripeEvent:
        webhook.deliver(event)
        return StripeEvent.objects.get(event_id=event["id"])

    return apply


# --- Bookings ----------------------------------------------------------------------------------

ZIP = {"san-jose": "95112", "sacramento": "95811"}


@pytest.fixture
def book(api_client, django_capture_on_commit_callbacks):
    """book(station, days=10, start="17:00", n=0) → a Booking made through POST /api/v1/bookings/
    for a customer who gets e-mail (no SMS); `.created` holds the API's answer."""

    def make(station, *, days: int = 10, start: str = "17:00", n: int = 0, **overrides) -> Booking:
        body = booking_payload(station, days=days, start=start, **overrides)
        body["address"] = {**body["address"], "zip_code": ZIP[station.slug]}
        body["customer"] = {
            "name": f"Pat Customer {n}",
            "email": f"pat{n}-{station.slug}@example.com",
            "phone": f"+1408555{2000 + n:04d}",
            "sms_opt_in": False,  # reached by e-mail: notifications land in the outbox
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(BOOKINGS, body, format="json")
        assert response.status_code == 201, response.content
        booking = Booking.objects.select_related("station", "customer").get(
            reference=response.json()["reference"]
        )
        booking.created = response.json()
        return booking

    return make


def deposit_of(booking: Booking) -> Payment:
    return booking.payments.get(kind=PaymentKind.DEPOSIT)


@pytest.fixture
def deposit_booking(book, san_jose) -> Booking:
    """A san-jose booking 10 days ahead, pending_deposit, with its (offline) deposit payment."""
    return book(san_jose)


@pytest.fixture
def paid_booking(deposit_booking, apply_event, stripe_event, mailoutbox) -> Booking:
    """The same booking with its deposit paid (payment_intent.succeeded applied: confirmed)."""
    apply_event(stripe_event("payment_intent.succeeded", deposit_of(deposit_booking)))
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == "confirmed"
    mailoutbox.clear()
    return deposit_booking


# --- A local Stripe API ------------------------------------------------------------------------


@dataclass
class Failure:
    path: str
    status: int
    error: dict
    after_processing: bool  # Stripe did the work, but the answer never made it back


@dataclass
class FakeStripe:
    """Enough of Stripe's API for our SDK calls. Like Stripe, a repeated Idempotency-Key gets
    the first answer (the same object) back. Requests are recorded with their form fields."""

    url: str = ""
    requests: list = field(default_factory=list)
    intents: dict = field(default_factory=dict)  # id -> object, in creation order
    refunds: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)
    events: list = field(default_factory=list)  # what GET /v1/events lists, newest first
    page_size: int = 100
    failures: list = field(default_factory=list)
    answers: dict = field(default_factory=dict)  # (path, idempotency key) -> (status, body)
    # path -> threading.Event: the next request to that path waits for it (a stalling Stripe)
    gates: dict = field(default_factory=dict)
    # path -> callable(fake): called after a request to that path was processed, before the
    # answer goes back (a fault test kills the caller there: Stripe did it, we never heard)
    hooks: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, path: str, status: int, *, after_processing: bool = False, **error):
        """The next request to `path` answers `status` with a Stripe error body."""
        kinds = {402: "card_error", 400: "invalid_request_error"}
        error.setdefault("type", kinds.get(status, "api_error"))
        error.setdefault("message", "Simulated failure.")
        self.failures.append(Failure(path, status, error, after_processing))

    def posts(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST" and r["path"] == path]

    def gets(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == "GET" and r["path"] == path]

    # The handler calls these under the lock.

    def handle(self, method: str, path: str, form: dict, key: str | None) -> tuple[int, dict]:
        failure = next((f for f in self.failures if f.path == path), None)
        if failure is not None:
            self.failures.remove(failure)
            if failure.after_processing:
                self._answer(method, path, form, key)
            return failure.status, {"error": failure.error}
        return self._answer(method, path, form, key)

    def _answer(self, method, path, form, key) -> tuple[int, dict]:
        if method == "POST" and key and (path, key) in self.answers:
            return self.answers[(path, key)]
        answer = self._route(method, path, form)
        if method == "POST" and key:
            self.answers[(path, key)] = answer
        return answer

    def _route(self, method, path, form) -> tuple[int, dict]:
        if (method, path) == ("POST", "/v1/payment_intents"):
            return 200, self._create_intent(form)
        if (method, path) == ("POST", "/v1/refunds"):
            refund = {
                "id": f"re_{secrets.token_hex(12)}",
                "object": "refund",
                "amount": int(form["amount"]),
                "payment_intent": form["payment_intent"],
                "currency": "usd",
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            return 200, refund
        if (
            method == "POST"
            and path.startswith("/v1/payment_intents/")
            and path.endswith("/cancel")
        ):
            return self._cancel_intent(path.split("/")[3], form)
        if (method, path) == ("POST", "/v1/customers"):
            customer = {"id": f"cus_{secrets.token_hex(8)}", "object": "customer"}
            customer["email"] = form.get("email")
            self.customers[customer["id"]] = customer
            return 200, customer
        if (method, path) == ("GET", "/v1/events"):
            types = {v for k, v in form.items() if k.startswith("types[")}
            rows = [e for e in self.events if not types or e["type"] in types]
            return 200, self._page(path, rows, form)
        if (method, path) == ("GET", "/v1/payment_intents"):
            return 200, self._page(path, list(self.intents.values()), form)
        return 404, {"error": {"type": "invalid_request_error", "message": f"No {path}"}}

    def _create_intent(self, form: dict) -> dict:
        intent_id = f"pi_{secrets.token_hex(12)}"
        confirm = form.get("confirm") == "true"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "amount_received": int(form["amount"]) if confirm else 0,
            "currency": form["currency"],
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "status": "succeeded" if confirm else "requires_payment_method",
            "customer": form.get("customer"),
            "payment_method": form.get("payment_method"),
            "setup_future_usage": form.get("setup_future_usage"),
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")
            },
            "created": int(time.time()),
            "livemode": False,
        }
        self.intents[intent_id] = intent
        return intent

    def _cancel_intent(self, intent_id: str, form: dict) -> tuple[int, dict]:
        """Like Stripe: a paid (or unknown) intent cannot be canceled."""
        intent = self.intents.get(intent_id)
        if intent is None:
            return 404, {"error": {"type": "invalid_request_error", "message": "No such intent"}}
        if intent["status"] == "succeeded":
            message = "You cannot cancel this PaymentIntent because it has a status of succeeded."
            return 400, {"error": {"type": "invalid_request_error", "message": message}}
        intent.update(status="canceled", cancellation_reason=form.get("cancellation_reason"))
        return 200, intent

    def _page(self, path: str, rows: list, query: dict) -> dict:
        after = query.get("starting_after")
        if after:
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(after) + 1 :]
        page = rows[: self.page_size]
        return {
            "object": "list",
            "url": path,
            "has_more": len(rows) > len(page),
            "data": page,
        }


class _StripeHandler(BaseHTTPRequestHandler):
    def _serve(self, method: str):
        fake: FakeStripe = self.server.fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        form = dict(parse_qsl(body if method == "POST" else split.query, keep_blank_values=True))
        key = self.headers.get("Idempotency-Key")
        with fake.lock:
            gate = fake.gates.pop(split.path, None)
        if gate is not None:
            gate.wait(timeout=30)
        with fake.lock:
            fake.requests.append(
                {
                    "method": method,
                    "path": split.path,
                    "form": form,
                    "idempotency_key": key,
                    "authorization": self.headers.get("Authorization"),
                }
            )
            status, answer = fake.handle(method, split.path, form, key)
            hook = fake.hooks.get(split.path)
        if hook is not None:
            hook(fake)
        payload = json.dumps(answer).encode()
        # The caller may have died waiting (a fault test killed it).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(status, payload)

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
        if status >= 500:
            # What Stripe says when a retry of this very request would not help right away;
            # keeps the SDK from sleeping between retries in tests.
            self.send_header("Stripe-Should-Retry", "false")
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        self._serve("POST")

    def do_GET(self):
        self._serve("GET")

    def log_message(self, format, *args):
        pass


@pytest.fixture
def fake_stripe(settings):
    """A local Stripe API, with the settings that point the SDK at it (not offline any more)."""
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StripeHandler)
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_x"
    settings.STRIPE_API_BASE = fake.url
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
