"""manage.py import_reviews: Yelp and Facebook exports (CSV and JSON), idempotent on the
platform's id, a dry run that writes nothing, refused rows reported; the row reader never
raises on a row's content (hypothesis)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviews import imports
from reviews.models import Review, ReviewResponse

from .conftest import DATA

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("import_reviews", *args, stdout=out)
    return out.getvalue()


def rows():
    return sorted(
        Review.objects.values_list(
            "station__slug", "platform", "external_id", "rating", "author", "text"
        )
    )


def test_a_yelp_csv_imported_twice_gives_the_same_rows(san_jose):
    path = str(DATA / "yelp_reviews.csv")
    first = run(path, "--platform", "yelp", "--station", "san-jose")
    assert "imported 3 new, 0 updated, 0 unchanged; 3 refused" in first
    assert "row 4: no review id" in first
    assert "row 5: no rating from 1 to 5" in first
    assert "row 6: no date, or one that is unreadable or in the future" in first
    imported = rows()
    assert imported == [
        (
            "san-jose",
            "yelp",
            "bT0RrTKRo4M2YkKMAmVs3A",
            2,
            "Rob T.",
            "Arrived an hour late, food was cold.",
        ),
        ("san-jose", "yelp", "hb8KLR4kEZrDEZSr4oh6HA", 4, "Sam", ""),
        (
            "san-jose",
            "yelp",
            "xAG4O7l-t1ubbwVAlPnDKg",
            5,
            "Ellie K.",
            "Chef Kenji was hilarious, the fried rice was perfect!",
        ),
    ]
    responses = ReviewResponse.objects.count()
    again = run(path, "--platform", "yelp", "--station", "san-jose")
    assert "imported 0 new, 0 updated, 3 unchanged; 3 refused" in again
    assert rows() == imported
    assert ReviewResponse.objects.count() == responses


def test_a_facebook_json_imported_twice_gives_the_same_rows(sacramento):
    path = str(DATA / "facebook_ratings.json")
    assert "imported 3 new" in run(path, "--platform", "facebook", "--station", "sacramento")
    imported = rows()
    assert [(r[2], r[3]) for r in imported] == [
        ("10229384756_558899001122", 5),  # positive
        ("10229384757_558899001123", 1),  # negative
        ("1_2", 4),  # an older export's rating wins
    ]
    assert "imported 0 new, 0 updated, 3 unchanged; 1 refused" in run(
        path, "--platform", "facebook", "--station", "sacramento"
    )
    assert rows() == imported


def test_a_dry_run_writes_nothing(san_jose):
    out = run(
        str(DATA / "yelp_reviews.csv"), "--platform", "yelp", "--station", "san-jose", "--dry-run"
    )
    assert "would import 3 new, 0 updated, 0 unchanged; 3 refused" in out
    assert not Review.objects.exists()


def test_the_same_review_edited_on_the_platform_is_updated_not_duplicated(san_jose, tmp_path):
    path = tmp_path / "yelp.json"
    review = {
        "id": "abc",
        "rating": 5,
        "text": "Great",
        "time_created": "2026-10-01 10:00:00",
        "user": {"name": "Pat Q."},
    }
    path.write_text(json.dumps({"reviews": [review]}))
    run(str(path), "--platform", "yelp", "--station", "san-jose")
    path.write_text(json.dumps({"reviews": [{**review, "rating": 4, "text": "Good"}]}))
    assert "imported 0 new, 1 updated" in run(
        str(path), "--platform", "yelp", "--station", "san-jose"
    )
    assert rows() == [("san-jose", "yelp", "abc", 4, "Pat Q.", "Good")]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"reviews": 3}', "JSON without a list"), ("", "empty")],
)
def test_an_unreadable_file_is_refused_whole(san_jose, tmp_path, content, message):
    path = tmp_path / "export"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        run(str(path), "--platform", "yelp", "--station", "san-jose")
    assert not Review.objects.exists()


def test_unknown_station_or_file_is_a_clear_error(san_jose, tmp_path):
    with pytest.raises(CommandError, match="No station"):
        run(str(DATA / "yelp_reviews.csv"), "--platform", "yelp", "--station", "nowhere")
    with pytest.raises(CommandError, match="No file"):
        run(str(tmp_path / "missing.csv"), "--platform", "yelp", "--station", "san-jose")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x00garbage")
    with pytest.raises(CommandError):
        run(str(binary), "--platform", "yelp", "--station", "san-jose")


# --- The row reader, searched ---------------------------------------------------------------

cell = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.lists(st.integers(), max_size=2),
)
keys = st.sampled_from(
    [
        "id",
        "review_id",
        "rating",
        "stars",
        "text",
        "review",
        "time_created",
        "date",
        "created_time",
        "user",
        "user_name",
        "reviewer",
        "recommendation_type",
        "open_graph_story",
        "review_text",
        "x",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    platform=st.sampled_from(imports.PLATFORMS),
    records=st.lists(st.dictionaries(keys, cell), max_size=5),
)
def test_any_json_record_is_read_or_refused_never_raises(platform, records):
    key = "reviews" if platform == "yelp" else "data"
    parsed = list(imports.parse_rows(platform, json.dumps({key: records}, default=str)))
    assert len(parsed) == len(records)
    for row in parsed:
        if isinstance(row, imports.ParsedReview):
            assert 1 <= row.rating <= 5
            assert row.external_id
            assert "\x00" not in row.text + row.author + row.external_id


@settings(max_examples=200, deadline=None)
@given(
    review_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30),
    rating=st.integers(1, 5),
    text=st.text(max_size=200),
    author=st.text(max_size=40),
)
def test_a_valid_yelp_csv_row_always_reads_back_as_written(review_id, rating, text, author):
    import csv

    out = StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "rating", "text", "time_created", "user_name"])
    writer.writerow([review_id, rating, text, "2026-10-02 19:14:03", author])
    (row,) = imports.parse_rows("yelp", out.getvalue())
    assert isinstance(row, imports.ParsedReview), row
    assert row.external_id == review_id.strip()
    assert row.rating == rating
    assert row.text == text.replace("\x00", "").strip()


def test_old_reviews_are_stored_without_a_draft_or_an_alert_recent_ones_get_theirs(
    san_jose, tmp_path, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.core import mail
    from django.utils import timezone

    recent = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    path = tmp_path / "yelp.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "old-low",
                    "rating": 1,
                    "text": "Bad",
                    "time_created": "2024-05-01 10:00:00",
                },
                {
                    "id": "old-high",
                    "rating": 5,
                    "text": "Good",
                    "time_created": "2024-05-01 10:00:00",
                },
                {"id": "new-low", "rating": 2, "text": "Late", "time_created": recent},
                {"id": "new-high", "rating": 4, "text": "Fun", "time_created": recent},
            ]
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        run(str(path), "--platform", "yelp", "--station", "san-jose")
    statuses = dict(Review.objects.values_list("external_id", "reply_status"))
    assert statuses == {
        "old-low": "waiting",
        "old-high": "waiting",
        "new-low": "needs_person",
        "new-high": "drafted",
    }
    assert len(mail.outbox) == 1  # the one recent low rating
