"""reviews.google against a local fake of Google's API (testing/fake_google.py): pages,
tokens, replies, and errors mapped to permanent or retryable; timeouts hold no worker."""

import time

import pytest

from reviews import google, services
from reviews.models import Review
from testing import fake_google

from .conftest import LOCATION

pytestmark = pytest.mark.django_db


def test_a_refresh_token_buys_an_access_token(fake_google_api):
    assert google.access_token(fake_google.CREDENTIALS) == fake_google.ACCESS_TOKEN
    (request,) = fake_google_api.of("POST")
    assert request.path == "/token"
    assert b"grant_type=refresh_token" in request.body


def test_a_wrong_refresh_token_is_permanent(fake_google_api):
    with pytest.raises(google.GoogleError) as caught:
        google.access_token({**fake_google.CREDENTIALS, "refresh_token": "revoked"})
    assert caught.value.permanent
    assert caught.value.status == 400


def test_no_credentials_is_permanent_and_calls_nothing(fake_google_api):
    with pytest.raises(google.GoogleError) as caught:
        google.access_token({})
    assert caught.value.permanent
    assert fake_google_api.requests == []


def test_reviews_come_page_by_page_in_googles_shape(fake_google_api):
    for n in range(5):
        fake_google_api.add(LOCATION, f"r{n}", 5 - n % 5, comment=f"review {n}")
    first, token = google.list_reviews(
        location_name=LOCATION, token=fake_google.ACCESS_TOKEN, page_size=2
    )
    assert [r.review_id for r in first] == ["r0", "r1"]
    assert token == "2"
    assert first[0].rating == 5
    assert first[1].rating == 4
    assert first[0].name == f"{LOCATION}/reviews/r0"
    assert first[0].author == "Jamie Rivera"
    assert first[0].text == "review 0"
    rest, token = google.list_reviews(
        location_name=LOCATION, token=fake_google.ACCESS_TOKEN, page_token="4", page_size=2
    )
    assert [r.review_id for r in rest] == ["r4"]
    assert token == ""


def test_a_reply_is_put_on_the_review(fake_google_api):
    fake_google_api.add(LOCATION, "789", 5)
    google.put_reply(
        review_name=f"{LOCATION}/reviews/789", token=fake_google.ACCESS_TOKEN, comment="Thanks!"
    )
    (put,) = fake_google_api.of("PUT")
    assert put.path == f"/v4/{LOCATION}/reviews/789/reply"
    assert put.json == {"comment": "Thanks!"}
    assert fake_google_api.find(LOCATION, "789")["reviewReply"]["comment"] == "Thanks!"


@pytest.mark.parametrize(("status", "permanent"), [(503, False), (429, False), (500, False)])
def test_server_errors_and_throttling_are_retryable(fake_google_api, status, permanent):
    fake_google_api.plan(status)
    with pytest.raises(google.GoogleError) as caught:
        google.get_review(review_name=f"{LOCATION}/reviews/1", token=fake_google.ACCESS_TOKEN)
    assert caught.value.permanent is permanent
    assert caught.value.status == status


def test_a_bad_token_and_an_unknown_review_are_permanent(fake_google_api):
    with pytest.raises(google.GoogleError) as caught:
        google.get_review(review_name=f"{LOCATION}/reviews/1", token="expired")
    assert caught.value.permanent
    assert caught.value.status == 401
    with pytest.raises(google.GoogleError) as caught:
        google.get_review(review_name=f"{LOCATION}/reviews/1", token=fake_google.ACCESS_TOKEN)
    assert caught.value.permanent
    assert caught.value.status == 404


def test_a_stalled_google_times_out_as_retryable(fake_google_api, settings):
    settings.GOOGLE_TIMEOUT_SECONDS = 0.3
    fake_google_api.plan("stall")
    started = time.monotonic()
    with pytest.raises(google.GoogleError) as caught:
        google.get_review(review_name=f"{LOCATION}/reviews/1", token=fake_google.ACCESS_TOKEN)
    assert not caught.value.permanent
    assert time.monotonic() - started < 3


def test_nothing_listening_is_retryable(settings):
    settings.GOOGLE_API_BASE = "http://127.0.0.1:9/v4"
    with pytest.raises(google.GoogleError) as caught:
        google.get_review(review_name=f"{LOCATION}/reviews/1", token="x")
    assert not caught.value.permanent


@pytest.mark.parametrize(
    "item",
    [{}, [], "x", {"reviewId": "1"}, {"reviewId": "1", "starRating": "SIX"}, {"starRating": "ONE"}],
)
def test_reviews_without_an_id_or_a_rating_are_skipped(item):
    assert google.parse_review(item) is None


def test_a_review_with_odd_fields_is_read_leniently():
    parsed = google.parse_review(
        {
            "name": "accounts/1/locations/2/reviews/abc",
            "starRating": "THREE",
            "reviewer": "not an object",
            "comment": "nul\x00here",
            "createTime": "garbage",
        }
    )
    assert (parsed.review_id, parsed.rating, parsed.author, parsed.text) == (
        "abc",
        3,
        "",
        "nulhere",
    )


def test_sync_reviews_pulls_every_page_once_and_again_changes_nothing(
    fake_google_api, google_location
):
    from io import StringIO

    from django.core.management import call_command

    fake_google_api.page_size = 2
    for n in range(5):
        fake_google_api.add(LOCATION, f"r{n}", 5, comment=f"review {n}", reply="Thanks!" * (n == 0))
    out = StringIO()
    call_command("sync_reviews", "--platform", "google", stdout=out)
    assert "san-jose: 5 reviews seen on 3 pages, 5 new" in out.getvalue()
    rows = sorted(Review.objects.values_list("external_id", "reply_status"))
    assert rows[0] == ("r0", "replied")  # answered on Google already: no draft
    assert len(rows) == 5
    before = list(Review.objects.order_by("pk").values())
    call_command("sync_reviews", "--platform", "google", stdout=StringIO())
    assert list(Review.objects.order_by("pk").values()) == before
    google_location.refresh_from_db()
    assert google_location.last_synced_at is not None
    assert google_location.last_error == ""


def test_sync_reports_a_station_whose_credentials_google_refuses(fake_google_api, google_location):
    from io import StringIO

    from django.core.management import CommandError, call_command

    services.google_location_set_credentials(
        location=google_location, values={**fake_google.CREDENTIALS, "refresh_token": "revoked"}
    )
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("sync_reviews", "--platform", "google", stdout=out)
    assert "stopped: Google answered 400" in out.getvalue()


def test_credentials_are_sealed_and_bound_to_their_row(google_location):
    from inbox import credentials

    raw = bytes(google_location.credentials_sealed)
    assert fake_google.REFRESH_TOKEN.encode() not in raw
    assert services.google_credentials(google_location) == fake_google.CREDENTIALS
    # The same blob does not open as a channel's, nor as another location's.
    assert credentials.unseal(google_location.pk, raw) == {}
    assert credentials.unseal(google_location.pk + 1, raw, scope=services.GOOGLE_SCOPE) == {}
