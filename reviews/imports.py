"""
Reading the reviews Yelp and Facebook export (issue 16 point 2), for `manage.py import_reviews`.

Formats, read leniently (unknown columns and fields ignored, header names in any case):
- Yelp JSON: the Fusion API's reviews shape, `{"reviews": [{"id", "rating", "text",
  "time_created": "2026-11-20 18:02:11", "user": {"name"}}]}` (or a bare list of them).
- Yelp CSV: columns `id` (or `review_id`), `rating` (or `stars`), `text` (or `review`,
  `comment`), `time_created` (or `date`, `created`), `user_name` (or `user`, `name`,
  `reviewer`, `author`).
- Facebook JSON: the Graph API's page ratings, `{"data": [{"created_time":
  "2026-11-20T18:02:11+0000", "recommendation_type": "positive"|"negative", "rating" (older
  exports), "review_text", "reviewer": {"name", "id"}, "open_graph_story": {"id"}}]}` (or a
  bare list). Facebook recommends rather than rates: a recommendation with no rating counts
  as 5 stars (positive) or 1 star (negative).
- Facebook CSV: the same fields as columns (`id` or `open_graph_story_id`, `created_time`,
  `recommendation_type`, `rating`, `review_text`, `reviewer_name`).

`parse_rows` yields, for each row, either a `ParsedReview` or a `Refused` with the row's
number and why; it never raises on a row's content.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime

PLATFORMS = ("yelp", "facebook")
MAX_ID = 200


class UnreadableFile(ValueError):
    """The file as a whole is neither the platform's CSV nor its JSON."""


@dataclass(frozen=True)
class ParsedReview:
    row: int
    external_id: str
    rating: int
    author: str
    text: str
    created: datetime


@dataclass(frozen=True)
class Refused:
    row: int
    reason: str


def _clean(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).replace("\x00", "").strip()


def _moment(value, now: datetime) -> datetime | None:
    text = _clean(value)
    if not text:
        return None
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            at = parse_datetime(candidate)
        except ValueError:
            at = None
        if (
            at is None
            and len(candidate) > 5
            and candidate[-5] in "+-"
            and ":" not in candidate[-5:]
        ):
            try:  # Facebook's +0000
                at = parse_datetime(f"{candidate[:-2]}:{candidate[-2:]}")
            except ValueError:
                at = None
        if at is not None:
            break
    else:
        try:
            at = datetime.fromisoformat(text)  # a bare date
        except ValueError:
            return None
    if timezone.is_naive(at):
        at = at.replace(tzinfo=UTC)  # Yelp writes UTC without saying so
    if at.year < 2000 or at > now:
        return None
    return at


def _rating(value) -> int | None:
    text = _clean(value)
    try:
        number = float(text)
    except ValueError:
        return None
    if not 1 <= number <= 5 or number != int(number):  # NaN and infinities fail the first
        return None
    return int(number)


def _get(row: dict, *names: str):
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for name in names:
        if name in lowered and lowered[name] not in (None, ""):
            return lowered[name]
    return None


def _nested(row: dict, outer: str, inner: str):
    value = _get(row, outer)
    return value.get(inner) if isinstance(value, dict) else None


def _one(platform: str, number: int, row, now: datetime) -> ParsedReview | Refused:
    if not isinstance(row, dict):
        return Refused(number, "not a record")
    if platform == "yelp":
        external_id = _get(row, "id", "review_id")
        rating = _rating(_get(row, "rating", "stars"))
        text = _get(row, "text", "review", "comment")
        created = _get(row, "time_created", "date", "created")
        author = _nested(row, "user", "name") or _get(
            row, "user_name", "user", "name", "reviewer", "author"
        )
    else:
        external_id = _nested(row, "open_graph_story", "id") or _get(
            row, "id", "open_graph_story_id", "review_id"
        )
        rating = _rating(_get(row, "rating"))
        if rating is None:
            kind = _clean(_get(row, "recommendation_type")).lower()
            rating = {"positive": 5, "negative": 1}.get(kind)
        text = _get(row, "review_text", "text", "review")
        created = _get(row, "created_time", "date", "created")
        author = _nested(row, "reviewer", "name") or _get(row, "reviewer_name", "reviewer", "name")
    external_id = _clean(external_id)
    if not external_id or len(external_id) > MAX_ID or not external_id.isprintable():
        return Refused(number, "no review id (or an unreadable one)")
    if rating is None:
        return Refused(number, "no rating from 1 to 5")
    at = _moment(created, now)
    if at is None:
        return Refused(number, "no date, or one that is unreadable or in the future")
    return ParsedReview(
        row=number,
        external_id=external_id,
        rating=rating,
        author=_clean(author)[:200],
        text=_clean(text),
        created=at,
    )


def _records(platform: str, content: str) -> list:
    stripped = content.lstrip("\ufeff").strip()
    if stripped[:1] in ("{", "["):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError) as exc:
            raise UnreadableFile(f"not valid JSON: {exc}") from exc
        if isinstance(data, dict):
            data = data.get("reviews" if platform == "yelp" else "data", data.get("data"))
        if not isinstance(data, list):
            raise UnreadableFile("JSON without a list of reviews")
        return data
    try:
        reader = csv.DictReader(io.StringIO(stripped))
        if not reader.fieldnames:
            raise UnreadableFile("an empty file")
        return list(reader)
    except csv.Error as exc:
        raise UnreadableFile(f"not valid CSV: {exc}") from exc


def parse_rows(
    platform: str, content: str, *, now: datetime | None = None
) -> Iterator[ParsedReview | Refused]:
    """Every row of an export, read (row numbers from 1, after a CSV's header)."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}")
    now = now or timezone.now()
    seen: set[str] = set()
    for number, row in enumerate(_records(platform, content), start=1):
        parsed = _one(platform, number, row, now)
        if isinstance(parsed, ParsedReview):
            if parsed.external_id in seen:
                parsed = Refused(number, f"review {parsed.external_id} is in the file twice")
            else:
                seen.add(parsed.external_id)
        yield parsed
