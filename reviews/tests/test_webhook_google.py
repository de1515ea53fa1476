"""POST /api/v1/webhooks/google: Pub/Sub push, token in constant time, stored once, the review
fetched through reviews.google by a task queued on commit."""

import pytest

from reviews.models import GoogleNotification, Platform, Review
from testing import fake_google

from .conftest import LOCATION, PUSH_TOKEN, push_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/google"


def push(client, body, token=PUSH_TOKEN):
    query = f"?token={token}" if token is not None else ""
    return client.post(f"{URL}{query}", body, content_type="application/json")


def test_a_push_is_stored_and_its_review_fetched_and_drafted(
    client, push_token, google_location, fake_google_api, django_capture_on_commit_callbacks
):
    fake_google_api.add(LOCATION, "789", 4, author="Jamie Rivera", comment="Great chef!")
    with django_capture_on_commit_callbacks(execute=True):
        answer = push(client, push_body())
    assert answer.status_code == 200
    assert answer.json() == {"received": True, "duplicate": False}
    row = GoogleNotification.objects.get()
    assert (row.message_id, row.notification_type, row.outcome) == (
        "9876543210",
        "NEW_REVIEW",
        "stored",
    )
    assert row.processed_at is not None
    review = Review.objects.get()
    assert (review.platform, review.external_id, review.rating) == (Platform.GOOGLE, "789", 4)
    assert (review.author, review.text, review.station_id) == (
        "Jamie Rivera",
        "Great chef!",
        google_location.station_id,
    )
    assert review.reply_status == "drafted"
    gets = fake_google_api.of("GET")
    assert [r.path for r in gets] == [f"/v4/{LOCATION}/reviews/789"]
    assert gets[0].headers["authorization"] == f"Bearer {fake_google.ACCESS_TOKEN}"


def test_the_sample_push_as_google_sends_it_is_accepted(client, push_token, google_location):
    from .conftest import DATA

    body = (DATA / "google_pubsub_push.json").read_bytes()
    answer = client.post(f"{URL}?token={PUSH_TOKEN}", body, content_type="application/json")
    assert answer.status_code == 200
    row = GoogleNotification.objects.get()
    assert (row.location_name, row.review_name) == (LOCATION, f"{LOCATION}/reviews/789")


@pytest.mark.parametrize("token", [None, "", "wrong-token", PUSH_TOKEN + "x", PUSH_TOKEN[:-1]])
def test_a_bad_token_is_403_and_stores_nothing(client, push_token, token, fake_google_api):
    answer = push(client, push_body(), token=token)
    assert answer.status_code == 403
    assert answer.json()["error"] == "invalid_signature"
    assert not GoogleNotification.objects.exists()
    assert not Review.objects.exists()
    assert fake_google_api.requests == []


def test_no_token_configured_refuses_every_push(client, settings):
    settings.GOOGLE_PUSH_TOKEN = ""
    assert push(client, push_body(), token="").status_code == 403
    assert push(client, push_body(), token="anything").status_code == 403
    assert not GoogleNotification.objects.exists()


def test_a_repeated_message_id_changes_nothing(
    client, push_token, google_location, fake_google_api, django_capture_on_commit_callbacks
):
    fake_google_api.add(LOCATION, "789", 5, comment="Loved it")
    with django_capture_on_commit_callbacks(execute=True):
        first = push(client, push_body())
    before = list(Review.objects.values())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = push(client, push_body())
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert first.json()["duplicate"] is False
    assert callbacks == []  # nothing queued
    assert GoogleNotification.objects.count() == 1
    assert list(Review.objects.values()) == before
    assert len(fake_google_api.of("GET")) == 1


def test_an_updated_review_under_notification_type_updates_the_row(
    client, push_token, google_location, fake_google_api, django_capture_on_commit_callbacks
):
    body = fake_google_api.add(LOCATION, "789", 5, comment="Loved it")
    with django_capture_on_commit_callbacks(execute=True):
        push(client, push_body())
    body.update(starRating="FOUR", comment="Loved it, a bit late")
    with django_capture_on_commit_callbacks(execute=True):
        push(client, push_body(message_id="2", kind="UPDATED_REVIEW", type_key="notificationType"))
    review = Review.objects.get()
    assert (review.rating, review.text) == (4, "Loved it, a bit late")


def test_other_notification_types_are_acknowledged_and_not_stored(client, push_token):
    answer = push(client, push_body(kind="NEW_QUESTION"))
    assert answer.status_code == 200
    assert answer.json()["ignored"] is True
    assert not GoogleNotification.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        {"message": "x"},
        {"message": {"data": "!!!", "messageId": "1"}},
        {"message": {"data": "bm90IGpzb24=", "messageId": "1"}},  # "not json"
        {"message": {"messageId": "1"}},
        {"subscription": "x"},
        [],
    ],
)
def test_a_malformed_push_with_a_good_token_is_400_and_stores_nothing(client, push_token, body):
    import json

    raw = body if isinstance(body, str) else json.dumps(body)
    answer = client.post(f"{URL}?token={PUSH_TOKEN}", raw, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_payload"
    assert not GoogleNotification.objects.exists()


def test_a_push_for_a_location_we_do_not_have_is_recorded_and_ignored(
    client, push_token, fake_google_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = push(client, push_body(location="accounts/9/locations/9"))
    assert answer.status_code == 200
    assert GoogleNotification.objects.get().outcome == "no location of ours"
    assert fake_google_api.requests == []
    assert not Review.objects.exists()


def test_google_down_leaves_the_notification_for_the_sweeper(
    client, push_token, google_location, fake_google_api, django_capture_on_commit_callbacks
):
    from celery.exceptions import Retry

    from reviews import google, services, tasks

    fake_google_api.add(LOCATION, "789", 5)
    fake_google_api.plan(503)
    with (
        pytest.raises((google.GoogleError, Retry)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        push(client, push_body())
    row = GoogleNotification.objects.get()
    assert row.processed_at is None
    assert row.outcome.startswith("retrying")
    tasks.fetch_google_review(row.pk)  # the retry (or the sweeper's)
    row.refresh_from_db()
    assert row.outcome == "stored"
    assert Review.objects.count() == 1
    assert services.google_notification_process(notification_id=row.pk) == "done before"


def test_only_post_is_allowed(client, push_token):
    assert client.get(f"{URL}?token={PUSH_TOKEN}").status_code == 405
