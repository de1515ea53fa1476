"""
A local fake of Google Business Profile's reviews API and Google's OAuth token endpoint, on
loopback, answering in Google's documented JSON shapes and recording every request:

- `POST /token` (form: grant_type=refresh_token, client_id, client_secret, refresh_token) →
  `{"access_token", "expires_in", "scope", "token_type": "Bearer"}`; a wrong refresh token →
  400 `{"error": "invalid_grant", "error_description": "Bad Request"}`.
- `GET /v4/accounts/{a}/locations/{l}/reviews?pageSize=&pageToken=` → `{"reviews": [...],
  "averageRating", "totalReviewCount", "nextPageToken"}` (no nextPageToken on the last page).
- `GET /v4/accounts/{a}/locations/{l}/reviews/{r}` → one review.
- `PUT /v4/accounts/{a}/locations/{l}/reviews/{r}/reply` `{"comment"}` → `{"comment",
  "updateTime"}`.
- A missing or wrong bearer token → 401 `{"error": {"code": 401, "message", "status":
  "UNAUTHENTICATED"}}`; an unknown review → 404 `{"error": {..., "status": "NOT_FOUND"}}`.

A review is `{"reviewId", "name", "reviewer": {"displayName", "profilePhotoUrl"},
"starRating": "ONE".."FIVE", "comment", "createTime", "updateTime", "reviewReply"?}`.
`plan(status, ...)` makes the next requests answer those statuses (503, 429...), "stall" (no
answer until the server stops) or "accept-token" (the next token request is answered as usual:
what follows it applies to the API call after it).
"""

import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ACCESS_TOKEN = "ya29.fake-google-access-token"  # noqa: S105
REFRESH_TOKEN = "1//fake-google-refresh-token"  # noqa: S105
CREDENTIALS = {
    "client_id": "1234-fake.apps.googleusercontent.com",
    "client_secret": "fake-google-client-secret",
    "refresh_token": REFRESH_TOKEN,
}
STARS = {1: "ONE", 2: "TWO", 3: "THREE", 4: "FOUR", 5: "FIVE"}

REVIEWS_PATH = re.compile(r"^/v4/(?P<location>accounts/[^/]+/locations/[^/]+)/reviews$")
REVIEW_PATH = re.compile(
    r"^/v4/(?P<location>accounts/[^/]+/locations/[^/]+)/reviews/(?P<review>[^/]+)(?P<reply>/reply)?$"
)


def review_json(
    location: str,
    review_id: str,
    rating: int,
    *,
    author: str = "Jamie Rivera",
    comment: str = "",
    created: str = "",
    reply: str = "",
) -> dict:
    """A review as Google documents it (created now, unless said)."""
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "reviewId": review_id,
        "name": f"{location}/reviews/{review_id}",
        "reviewer": {"displayName": author, "profilePhotoUrl": "https://example.com/p.png"},
        "starRating": STARS[rating],
        "createTime": created,
        "updateTime": created,
    }
    if comment:
        body["comment"] = comment
    if reply:
        body["reviewReply"] = {"comment": reply, "updateTime": created}
    return body


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class FakeGoogle:
    host: str = "127.0.0.1"
    port: int = 0
    page_size: int = 0  # 0: the client's pageSize
    reviews: dict[str, list[dict]] = field(default_factory=dict)  # location → newest first
    requests: list[Request] = field(default_factory=list)
    plans: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add(self, location: str, review_id: str, rating: int, **kwargs) -> dict:
        body = review_json(location, review_id, rating, **kwargs)
        with self.lock:
            self.reviews.setdefault(location, []).append(body)
        return body

    def plan(self, *behaviours) -> None:
        with self.lock:
            self.plans.extend(behaviours)

    def of(self, method: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method]

    def _next(self):
        with self.lock:
            return self.plans.pop(0) if self.plans else None

    def find(self, location: str, review_id: str) -> dict | None:
        with self.lock:
            return next(
                (r for r in self.reviews.get(location, []) if r["reviewId"] == review_id), None
            )


def _error(status: int, message: str, code: str) -> tuple[int, dict]:
    return status, {"error": {"code": status, "message": message, "status": code}}


def _answer(fake: FakeGoogle, request: Request) -> tuple[int, dict]:
    if request.path == "/token" and request.method == "POST":
        form = dict(parse_qsl(request.body.decode()))
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH_TOKEN:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        return 200, {
            "access_token": ACCESS_TOKEN,
            "expires_in": 3599,
            "scope": "https://www.googleapis.com/auth/business.manage",
            "token_type": "Bearer",
        }
    if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
        return _error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
    if (match := REVIEWS_PATH.match(request.path)) and request.method == "GET":
        return 200, _page(fake, match["location"], request.query)
    match = REVIEW_PATH.match(request.path)
    if match is None:
        return _error(404, "Requested entity was not found.", "NOT_FOUND")
    review = fake.find(match["location"], match["review"])
    if review is None:
        return _error(404, "Requested entity was not found.", "NOT_FOUND")
    if match["reply"] and request.method == "PUT":
        comment = request.json.get("comment")
        if not isinstance(comment, str) or not comment:
            return _error(400, "Request contains an invalid argument.", "INVALID_ARGUMENT")
        reply = {"comment": comment, "updateTime": "2026-11-26T10:00:00Z"}
        with fake.lock:
            review["reviewReply"] = reply
        return 200, reply
    if not match["reply"] and request.method == "GET":
        return 200, review
    return _error(405, "Method not allowed.", "INVALID_ARGUMENT")


def _page(fake: FakeGoogle, location: str, query: dict) -> dict:
    with fake.lock:
        reviews = list(fake.reviews.get(location, []))
    size = fake.page_size or int(query.get("pageSize") or 50)
    start = int(query.get("pageToken") or 0)
    body = {
        "reviews": reviews[start : start + size],
        "averageRating": round(sum(STARS_BACK[r["starRating"]] for r in reviews) / len(reviews), 1)
        if reviews
        else 0,
        "totalReviewCount": len(reviews),
    }
    if start + size < len(reviews):
        body["nextPageToken"] = str(start + size)
    return body


STARS_BACK = {v: k for k, v in STARS.items()}


def _handler(fake: FakeGoogle):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            with fake.lock:
                fake.requests.append(request)
            planned = fake._next()
            if planned == "accept-token" and request.path != "/token":
                with fake.lock:  # kept for the next request (not the token's)
                    fake.plans.insert(0, planned)
                planned = None
            elif planned == "accept-token":
                planned = None
            if planned == "stall":
                fake.stopping.wait(60)
                return
            if isinstance(planned, int):
                status, body = _error(planned, "Planned failure.", "UNAVAILABLE")
            else:
                status, body = _answer(fake, request)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _handle

    return Handler


@contextmanager
def serve():
    fake = FakeGoogle()
    server = ThreadingHTTPServer((fake.host, 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()


def running(settings):
    """A pytest fixture body: the fake, with the settings pointed at it."""
    with serve() as fake:
        settings.GOOGLE_API_BASE = f"{fake.base_url}/v4"
        settings.GOOGLE_OAUTH_TOKEN_URL = f"{fake.base_url}/token"
        settings.GOOGLE_TIMEOUT_SECONDS = 2
        yield fake
