"""
Local fake servers for the messaging providers the inbox sends through, on loopback, answering
in each provider's documented format and recording every request:

- Twilio's Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form, basic
  auth with the account SID and auth token) → 201 and a Message resource (`sid` "SM...",
  `status` "queued"); errors as Twilio's `{"code", "message", "more_info", "status"}`.
- Meta's Graph API: `POST /v21.0/{phone-number-id}/messages` (WhatsApp Cloud API) →
  `{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}`,
  and `POST /v21.0/me/messages` (Messenger, Instagram) → `{"recipient_id", "message_id"}`;
  bearer token; errors as `{"error": {"message", "type", "code", "fbtrace_id"}}`.
- Postmark's `POST /email` (header `X-Postmark-Server-Token`) → `{"To", "SubmittedAt",
  "MessageID", "ErrorCode": 0, "Message": "OK"}`; errors as `{"ErrorCode", "Message"}` (422).

Behaviour, per provider, one entry per request in the order planned (then "accept"):
  "accept"            answer as the provider does when it takes the message
  "stall"             record the request and never answer (until the server stops)
  "hold"              record the request (the provider took it) and answer only once
                      `release` is set: a test kills the sender while it waits
  "drop"              record the request and close the connection without an answer
  Reply(status, body) answer this instead (a provider error)

Use `running` as a fixture (it points the settings at the server and gives every provider
credentials the fake accepts), or `serve()` and `settings_for()` for a process of its own.
"""

import base64
import json
import re
import secrets
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

TWILIO_SID = "AC" + "7" * 32
# Made-up credentials the fake accepts (and nothing else does).
TWILIO_TOKEN = "twilio-test-auth-token"  # noqa: S105
META_TOKEN = "meta-test-access-token"  # noqa: S105
POSTMARK_TOKEN = "postmark-test-server-token"  # noqa: S105
GRAPH_VERSION = "v21.0"

TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
WHATSAPP_PATH = re.compile(r"^/v\d+\.\d+/(?P<phone_number_id>\d+)/messages$")
PAGE_PATH = re.compile(r"^/v\d+\.\d+/me/messages$")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict


@dataclass
class Request:
    provider: str  # twilio, whatsapp, messenger (the /me/messages endpoint), postmark
    method: str
    path: str
    query: str
    headers: dict
    body: bytes

    @property
    def form(self) -> dict:
        return dict(parse_qsl(self.body.decode()))

    @property
    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class FakeProviders:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    plans: dict[str, list] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/{GRAPH_VERSION}"

    def plan(self, provider: str, *behaviours) -> None:
        with self.lock:
            self.plans.setdefault(provider, []).extend(behaviours)

    def of(self, provider: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.provider == provider]

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> bool:
        with self.received:
            return self.received.wait_for(lambda: len(self.requests) >= count, timeout)

    def _next_behaviour(self, provider: str):
        with self.lock:
            plan = self.plans.get(provider) or []
            return plan.pop(0) if plan else "accept"

    def _record(self, request: Request) -> None:
        with self.received:
            with self.lock:
                self.requests.append(request)
            self.received.notify_all()


# --- Answers in each provider's format ----------------------------------------------------------


def twilio_error(code: int, message: str, status: int = 400) -> Reply:
    return Reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def graph_error(code: int, message: str, status: int = 400, subcode: int | None = None) -> Reply:
    error = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return Reply(status, {"error": error})


def postmark_error(code: int, message: str, status: int = 422) -> Reply:
    return Reply(status, {"ErrorCode": code, "Message": message})


def _twilio_accept(request: Request, sid: str) -> Reply:
    form = request.form
    now = format_datetime(datetime.now(UTC))
    message_sid = "SM" + uuid.uuid4().hex
    return Reply(
        201,
        {
            "account_sid": sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message_sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media.json"
            },
            "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
        },
    )


def _whatsapp_accept(request: Request) -> Reply:
    payload = request.json
    to = payload.get("to", "")
    wamid = "wamid." + base64.b64encode(uuid.uuid4().bytes * 2).decode().rstrip("=")
    message = {"id": wamid}
    if payload.get("type") == "template":
        message["message_status"] = "accepted"
    return Reply(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
            "messages": [message],
        },
    )


def _page_accept(request: Request) -> Reply:
    recipient = (request.json.get("recipient") or {}).get("id", "")
    return Reply(200, {"recipient_id": recipient, "message_id": "m_" + secrets.token_urlsafe(24)})


def _postmark_accept(request: Request) -> Reply:
    payload = request.json
    return Reply(
        200,
        {
            "To": payload.get("To", ""),
            "SubmittedAt": datetime.now(UTC).isoformat(),
            "MessageID": str(uuid.uuid4()),
            "ErrorCode": 0,
            "Message": "OK",
        },
    )


# --- The server ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass  # quiet: request lines hold phone numbers

    def do_POST(self):
        fake: FakeProviders = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        provider, check = self._route(path)
        if provider is None:
            self._answer(Reply(404, {"message": "not found"}))
            return
        request = Request(provider, "POST", path, query, dict(self.headers.items()), body)
        denied = check(request)
        if denied is not None:
            fake._record(request)
            self._answer(denied)
            return
        behaviour = fake._next_behaviour(provider)
        fake._record(request)
        if behaviour == "stall":
            fake.stopping.wait()
            self.close_connection = True
            return
        if behaviour == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if behaviour == "hold":
            while not fake.release.wait(0.05):
                if fake.stopping.is_set():
                    return
        self._answer(behaviour if isinstance(behaviour, Reply) else self._accept(request))

    def _route(self, path: str):
        if match := TWILIO_PATH.match(path):
            return "twilio", lambda r: self._twilio_auth(r, match["sid"])
        if PAGE_PATH.match(path):
            return "messenger", self._bearer
        if WHATSAPP_PATH.match(path):
            return "whatsapp", self._bearer
        if path.rstrip("/") == "/email":
            return "postmark", self._postmark_auth
        return None, None

    def _accept(self, request: Request) -> Reply:
        if request.provider == "twilio":
            return _twilio_accept(request, TWILIO_PATH.match(request.path)["sid"])
        if request.provider == "whatsapp":
            return _whatsapp_accept(request)
        if request.provider == "messenger":
            return _page_accept(request)
        return _postmark_accept(request)

    def _twilio_auth(self, request: Request, sid: str) -> Reply | None:
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if sid != TWILIO_SID or request.headers.get("Authorization") != f"Basic {expected}":
            return twilio_error(20003, "Authenticate", status=401)
        return None

    def _bearer(self, request: Request) -> Reply | None:
        if request.headers.get("Authorization") != f"Bearer {META_TOKEN}":
            return graph_error(
                190, "Invalid OAuth access token - Cannot parse access token", status=401
            )
        return None

    def _postmark_auth(self, request: Request) -> Reply | None:
        if request.headers.get("X-Postmark-Server-Token") != POSTMARK_TOKEN:
            return postmark_error(10, "Request does not contain a valid Server token.", status=401)
        return None

    def _answer(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(fake: FakeProviders | None = None):
    """Serve a FakeProviders on loopback in a thread while the block runs."""
    fake = fake or FakeProviders()
    server = _Server((fake.host, fake.port), _Handler)
    server.fake = fake
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def settings_for(fake: FakeProviders) -> dict:
    """The settings (and, for a worker process, environment variables) that send every
    provider's traffic to the fake, with credentials it accepts."""
    return {
        "TWILIO_API_BASE": fake.base_url,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "META_GRAPH_API_BASE": fake.graph_url,
        "META_ACCESS_TOKEN": META_TOKEN,
        "POSTMARK_SERVER_TOKEN": POSTMARK_TOKEN,
        "POSTMARK_API_URL": f"{fake.base_url}/",
    }


def running(settings):
    """The body of a `fake_providers` fixture: a FakeProviders on loopback, with the settings
    (pytest-django's `settings`) pointing at it; the provider timeout is one second, so a
    stalled fake costs a test one second. In a test module:
    `fake_providers = pytest.fixture(running, name="fake_providers")`."""
    with serve() as fake:
        for name, value in settings_for(fake).items():
            setattr(settings, name, value)
        settings.INBOX_PROVIDER_TIMEOUT_SECONDS = 1
        yield fake
