"""
A local RingCentral REST API on loopback, for tests (no internet, no SDK mocks): the requests
inbox.providers.ringcentral makes go over HTTP to this server, which answers in RingCentral's
documented formats.

Served:
  POST   /restapi/oauth/token                        JWT grant (basic auth: client id, secret)
  POST   /restapi/v1.0/subscription                  create a WebHook subscription
  GET    /restapi/v1.0/subscription/{id}             read it (status Active / Blacklisted ...)
  PUT    /restapi/v1.0/subscription/{id}             update (and renew) it
  POST   /restapi/v1.0/subscription/{id}/renew       renew it
  DELETE /restapi/v1.0/subscription/{id}             delete it
  POST   /restapi/v1.0/account/~/extension/~/sms     send an SMS

Use `FakeRingCentral.start()` (a context manager) or the `fake_ringcentral` fixture, which
points settings.RINGCENTRAL_SERVER_URL here and sets the channel credentials of the
environment to the fake's. Tests steer it with `blacklist(id, reason)`, `fail_next(method,
path_prefix, status, body)` and read what it was asked in `requests`.
"""

import base64
import contextlib
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

CLIENT_ID = "fake-rc-client-id"
CLIENT_SECRET = "fake-rc-client-secret"  # noqa: S105 (the fake's own)
JWT = "fake.rc.jwt"
VERIFICATION_TOKEN = "fake-rc-verification-token"  # noqa: S105
TOKEN_SECONDS = 3600
SUBSCRIPTION_PREFIX = "/restapi/v1.0/subscription"
SMS_PATH = "/restapi/v1.0/account/~/extension/~/sms"


def _iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _error(code: str, message: str) -> dict:
    detail = {"errorCode": code, "message": message}
    return {**detail, "errors": [detail]}


@dataclass
class FakeRingCentral:
    url: str = ""
    requests: list[dict] = field(default_factory=list)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    sent: list[dict] = field(default_factory=list)
    failures: list[tuple[str, str, int, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- steering ----------------------------------------------------------------------------

    def blacklist(self, subscription_id: str, reason: str = "Webhook responses with code: [503]"):
        with self.lock:
            record = self.subscriptions[subscription_id]
            record["status"] = "Blacklisted"
            record["blacklistedData"] = {"reason": reason, "blacklistedAt": _iso(self.now())}

    def fail_next(self, method: str, path_prefix: str, status: int, body: dict | None = None):
        """The next request whose method matches and whose path starts with path_prefix gets
        this answer (RingCentral's error format by default)."""
        with self.lock:
            self.failures.append(
                (method, path_prefix, status, body or _error("CMN-101", "Failure"))
            )

    def add_subscription(
        self, *, expires_in: int = 604_800, remaining: int | None = None, address: str = ""
    ) -> str:
        """A subscription made earlier (as if by a previous run) for `expires_in` seconds, of
        which `remaining` are left."""
        sub_id = str(uuid.uuid4())
        with self.lock:
            record = self._record(sub_id, address, expires_in)
            if remaining is not None:
                record["expirationTime"] = _iso(self.now() + timedelta(seconds=remaining))
                record["expiresIn"] = expires_in
            self.subscriptions[sub_id] = record
        return sub_id

    def calls(self, method: str, path_prefix: str = "") -> list[dict]:
        return [
            r for r in self.requests if r["method"] == method and r["path"].startswith(path_prefix)
        ]

    @staticmethod
    def now() -> datetime:
        return datetime.now(tz=UTC)

    # --- answers -----------------------------------------------------------------------------

    def _record(self, sub_id: str, address: str, expires_in: int, status: str = "Active"):
        now = self.now()
        return {
            "uri": f"{self.url}{SUBSCRIPTION_PREFIX}/{sub_id}",
            "id": sub_id,
            "creationTime": _iso(now),
            "status": status,
            "eventFilters": ["/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"],
            "expirationTime": _iso(now + timedelta(seconds=expires_in)),
            "expiresIn": expires_in,
            "deliveryMode": {"transportType": "WebHook", "encryption": False, "address": address},
        }

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict | None]:
        for n, (m, prefix, status, answer) in enumerate(self.failures):
            if m == method and path.startswith(prefix):
                del self.failures[n]
                return status, answer
        if method == "POST" and path == "/restapi/oauth/token":
            return self._token(headers, body)
        if not self._authorised(headers):
            return 401, _error("TokenInvalid", "Access token is invalid")
        if path == SMS_PATH and method == "POST":
            return self._sms(body)
        if path == SUBSCRIPTION_PREFIX and method == "POST":
            return self._subscribe(body)
        if path.startswith(SUBSCRIPTION_PREFIX + "/"):
            return self._subscription(method, path[len(SUBSCRIPTION_PREFIX) + 1 :], body)
        return 404, _error("CMN-102", "Resource not found")

    def _token(self, headers, body: bytes) -> tuple[int, dict]:
        form = dict(parse_qsl(body.decode()))
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if headers.get("Authorization") != f"Basic {expected}":
            return 401, {"error": "invalid_client", "error_description": "Invalid client"}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type", "error_description": "Bad grant"}
        if form.get("assertion") != JWT:
            return 400, {"error": "invalid_grant", "error_description": "Invalid token"}
        token = "rc-at-" + secrets.token_hex(8)
        self.tokens.add(token)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_SECONDS,
            "refresh_token": "rc-rt-" + secrets.token_hex(8),
            "refresh_token_expires_in": 604800,
            "scope": "SMS ReadMessages SubscriptionWebhook",
            "owner_id": "101",
            "endpoint_id": "fake-endpoint",
        }

    def _authorised(self, headers) -> bool:
        auth = headers.get("Authorization") or ""
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def _sms(self, body: bytes) -> tuple[int, dict]:
        payload = json.loads(body)
        to = payload["to"][0]["phoneNumber"]
        if not to.startswith("+"):
            return 400, _error("MSG-246", "Phone number is invalid")
        message_id = str(10_000_000_000 + len(self.sent) + 1)
        self.sent.append(payload)
        now = _iso(self.now())
        return 200, {
            "uri": f"{self.url}/restapi/v1.0/account/101/extension/101/message-store/{message_id}",
            "id": int(message_id),
            "to": payload["to"],
            "from": payload["from"],
            "type": "SMS",
            "creationTime": now,
            "readStatus": "Read",
            "priority": "Normal",
            "attachments": [{"id": message_id, "type": "Text", "contentType": "text/plain"}],
            "direction": "Outbound",
            "availability": "Alive",
            "subject": payload["text"],
            "messageStatus": "Queued",
            "smsSendingAttemptsCount": 1,
            "conversationId": "7181818181818181819",
            "lastModifiedTime": now,
        }

    def _subscribe(self, body: bytes) -> tuple[int, dict]:
        payload = json.loads(body)
        delivery = payload.get("deliveryMode") or {}
        if delivery.get("transportType") != "WebHook" or not delivery.get("address"):
            return 400, _error("SUB-520", "WebHook address is required")
        sub_id = str(uuid.uuid4())
        record = self._record(sub_id, delivery["address"], int(payload.get("expiresIn", 604800)))
        record["eventFilters"] = payload.get("eventFilters", [])
        record["verificationToken"] = delivery.get("verificationToken", "")
        self.subscriptions[sub_id] = record
        return 200, self._public(record)

    def _subscription(self, method: str, rest: str, body: bytes) -> tuple[int, dict | None]:
        sub_id, _, action = rest.partition("/")
        record = self.subscriptions.get(sub_id)
        if record is None:
            return 404, _error("SUB-505", "Subscription not found")
        if method == "GET" and not action:
            return 200, self._public(record)
        if method == "DELETE" and not action:
            del self.subscriptions[sub_id]
            return 204, None
        if (method == "POST" and action == "renew") or (method == "PUT" and not action):
            if record["status"] == "Blacklisted":
                return 400, _error("SUB-528", "Subscription is blacklisted")
            expires_in = record["expiresIn"]
            if method == "PUT" and body:
                expires_in = int(json.loads(body).get("expiresIn", expires_in))
            record.update(
                self._record(sub_id, record["deliveryMode"]["address"], expires_in),
                eventFilters=record["eventFilters"],
            )
            return 200, self._public(record)
        return 405, _error("CMN-405", "Method not allowed")

    @staticmethod
    def _public(record: dict) -> dict:
        # RingCentral never shows the verification token back.
        return {key: value for key, value in record.items() if key != "verificationToken"}

    # --- serving -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def start(self):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.fake = self
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    def _serve(self, method: str):
        fake: FakeRingCentral = self.server.fake
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with fake.lock:
            fake.requests.append(
                {
                    "method": method,
                    "path": path,
                    "body": body,
                    "authorization": self.headers.get("Authorization"),
                }
            )
            status, answer = fake.handle(method, path, self.headers, body)
        payload = json.dumps(answer).encode() if answer is not None else b""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")

    def log_message(self, format, *args):
        pass


@pytest.fixture
def fake_ringcentral(settings):
    """A local RingCentral with the environment's RingCentral settings pointing at it."""
    with FakeRingCentral().start() as fake:
        settings.RINGCENTRAL_SERVER_URL = fake.url
        settings.RINGCENTRAL_CLIENT_ID = CLIENT_ID
        settings.RINGCENTRAL_CLIENT_SECRET = CLIENT_SECRET
        settings.RINGCENTRAL_JWT = JWT
        settings.RINGCENTRAL_VERIFICATION_TOKEN = VERIFICATION_TOKEN
        yield fake
