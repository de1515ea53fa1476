"""
Google Business Profile's reviews API, the one module that talks to it (DESIGN.md §8.6).

- `access_token(creds)`: a location's OAuth access token: its own `access_token` when one is
  stored, else one from the refresh token (POST GOOGLE_OAUTH_TOKEN_URL, grant_type
  refresh_token, with the OAuth client's id and secret).
- `list_reviews`: GET {GOOGLE_API_BASE}/{location}/reviews?pageSize=&pageToken= → one page of
  reviews and the next page's token ("" on the last page).
- `get_review`: GET {GOOGLE_API_BASE}/{review name}.
- `put_reply`: PUT {GOOGLE_API_BASE}/{review name}/reply with {"comment": ...}.

Every request has a timeout (GOOGLE_TIMEOUT_SECONDS, connect and read). Errors become
GoogleError with `permanent`: a refused request (400, 401, 403, 404, ...) is not worth
retrying; a timeout, a dropped connection, 408, 429 and 5xx are. Reviews come back as
`GoogleReview` (Google's documented JSON: reviewId, name, reviewer.displayName, starRating
ONE..FIVE, comment, createTime, updateTime, reviewReply.comment), read leniently. Never called
inside a transaction.
"""

from dataclasses import dataclass
from datetime import datetime

import httpx
from django.conf import settings
from django.utils.dateparse import parse_datetime

STARS = {"ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5}
RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
PAGE_SIZE = 50  # the API's maximum


class GoogleError(Exception):
    def __init__(self, message: str, *, permanent: bool, status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class GoogleReview:
    review_id: str
    name: str  # accounts/{a}/locations/{l}/reviews/{r}
    rating: int
    author: str
    text: str
    created: datetime
    updated: datetime | None
    reply: str


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.GOOGLE_TIMEOUT_SECONDS)


def _call(method: str, url: str, *, token: str | None = None, **kwargs) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, url, headers=headers, timeout=_timeout(), **kwargs)
    except httpx.TimeoutException as exc:
        raise GoogleError("Google did not answer in time", permanent=False) from exc
    except httpx.HTTPError as exc:
        raise GoogleError(
            f"could not reach Google ({type(exc).__name__})", permanent=False
        ) from exc
    if response.status_code >= 400:
        raise GoogleError(
            f"Google answered {response.status_code}: {_error_text(response)}",
            permanent=response.status_code not in RETRY_STATUSES,
            status=response.status_code,
        )
    try:
        body = response.json() if response.content else {}
    except ValueError as exc:
        raise GoogleError("Google's answer is not JSON", permanent=False) from exc
    if not isinstance(body, dict):
        raise GoogleError("Google's answer is not an object", permanent=True)
    return body


def _error_text(response: httpx.Response) -> str:
    """Google's `{"error": {"code", "message", "status"}}`, or the start of the body."""
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or error.get("status") or error)[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


def access_token(creds: dict[str, str]) -> str:
    """An access token for a location's credentials (see the module's docstring)."""
    if creds.get("access_token"):
        return creds["access_token"]
    needed = ("client_id", "client_secret", "refresh_token")
    if not all(creds.get(name) for name in needed):
        raise GoogleError("no Google credentials for this location", permanent=True)
    body = _call(
        "POST",
        settings.GOOGLE_OAUTH_TOKEN_URL,
        data={"grant_type": "refresh_token", **{name: creds[name] for name in needed}},
    )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise GoogleError("Google's token answer holds no access_token", permanent=True)
    return token


def _url(name: str) -> str:
    return f"{settings.GOOGLE_API_BASE}/{name.strip('/')}"


def list_reviews(
    *, location_name: str, token: str, page_token: str = "", page_size: int = PAGE_SIZE
) -> tuple[list[GoogleReview], str]:
    """One page of the location's reviews, newest first, and the next page's token."""
    params = {"pageSize": page_size, "orderBy": "updateTime desc"}
    if page_token:
        params["pageToken"] = page_token
    body = _call("GET", f"{_url(location_name)}/reviews", token=token, params=params)
    raw = body.get("reviews") or []
    reviews = [r for r in (parse_review(item) for item in raw) if r is not None]
    next_page = body.get("nextPageToken")
    return reviews, next_page if isinstance(next_page, str) else ""


def get_review(*, review_name: str, token: str) -> GoogleReview:
    review = parse_review(_call("GET", _url(review_name), token=token))
    if review is None:
        raise GoogleError("Google's review is missing its id or rating", permanent=True)
    return review


def put_reply(*, review_name: str, token: str, comment: str) -> None:
    _call("PUT", f"{_url(review_name)}/reply", token=token, json={"comment": comment})


def parse_review(item) -> GoogleReview | None:
    """A review in Google's documented shape, or None when it lacks an id or a rating."""
    if not isinstance(item, dict):
        return None
    name = item.get("name") if isinstance(item.get("name"), str) else ""
    review_id = item.get("reviewId") or name.rsplit("/", 1)[-1]
    rating = STARS.get(item.get("starRating"))
    if not isinstance(review_id, str) or not review_id or rating is None:
        return None
    reviewer = item.get("reviewer") if isinstance(item.get("reviewer"), dict) else {}
    reply = item.get("reviewReply") if isinstance(item.get("reviewReply"), dict) else {}
    created = _moment(item.get("createTime"))
    return GoogleReview(
        review_id=review_id[:200],
        name=name,
        rating=rating,
        author=_text(reviewer.get("displayName"))[:200],
        text=_text(item.get("comment")),
        created=created,
        updated=_moment(item.get("updateTime"), default=None),
        reply=_text(reply.get("comment")),
    )


def _text(value) -> str:
    return value.replace("\x00", "") if isinstance(value, str) else ""


_NOW = object()


def _moment(value, default=_NOW):
    from django.utils import timezone

    try:
        at = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or timezone.is_naive(at):
        return timezone.now() if default is _NOW else default
    return at
