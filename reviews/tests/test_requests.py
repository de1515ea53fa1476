"""Review requests after completed events (once per booking, consent, opt-out and quiet hours
through the inbox) and the public review form (`POST /api/v1/reviews/`: once per token, no
review gating, 400 with field errors, 404, 409)."""

import re
from datetime import timedelta

import pytest
from django.core import mail

from inbox.models import Channel, ContactIdentity, Message, MessageStatus
from reviews import selectors, services, tasks
from reviews.models import Platform, Review, ReviewRequest

from .conftest import NOON, completed_booking

pytestmark = pytest.mark.django_db

URL = "/api/v1/reviews/"


def send_due(django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return tasks.send_review_requests()


def token_in(message: Message) -> str:
    return re.search(r"#token=([-\w]+)", message.body)[1]


def test_a_completed_booking_gets_one_request_even_when_the_task_runs_twice(
    san_jose, email_channel, clock, django_capture_on_commit_callbacks
):
    booking = completed_booking(san_jose, clock, hours_ago=30)
    assert send_due(django_capture_on_commit_callbacks) == 1
    assert send_due(django_capture_on_commit_callbacks) == 0
    services.review_request_send(booking_id=booking.pk)  # a retried task, called directly
    request = ReviewRequest.objects.get()
    assert request.booking_id == booking.pk
    assert (request.channel, request.sent_at, request.skipped_reason) == ("email", NOON, "")
    message = Message.objects.get(idempotency_key=f"review-request-{booking.pk}")
    assert message.automated
    assert message.status == MessageStatus.SENT
    assert request.message_id == message.pk
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [booking.customer.email]
    # Only the token's hash is stored; the link in the message opens it.
    token = token_in(message)
    assert request.token_hash == services.hash_token(token)
    assert token not in request.token_hash


def test_a_booking_is_not_asked_before_the_stations_delay(
    san_jose, email_channel, clock, django_capture_on_commit_callbacks
):
    completed_booking(san_jose, clock, hours_ago=10)  # the default delay is 24 hours
    assert send_due(django_capture_on_commit_callbacks) == 0
    clock.move_to(NOON + timedelta(hours=15))
    assert send_due(django_capture_on_commit_callbacks) == 1


def test_a_confirmed_booking_is_never_asked(san_jose, email_channel, clock):
    from testing.factories import make_booking

    clock.move_to(NOON - timedelta(days=9))
    booking = make_booking(san_jose, days=8, status="confirmed")
    clock.move_to(NOON + timedelta(days=3))
    assert selectors.bookings_due_for_request() == []
    assert services.review_request_send(booking_id=booking.pk) == "not completed"


@pytest.mark.parametrize(
    ("customer", "reason"),
    [
        ({"do_not_contact": True}, "customer is marked do not contact"),
        ({"email_opt_in": False}, "no consent to SMS or e-mail"),
    ],
)
def test_never_to_an_opted_out_customer(
    san_jose, email_channel, clock, django_capture_on_commit_callbacks, customer, reason
):
    booking = completed_booking(san_jose, clock)
    type(booking.customer).objects.filter(pk=booking.customer_id).update(**customer)
    assert send_due(django_capture_on_commit_callbacks) == 1
    request = ReviewRequest.objects.get()
    assert request.skipped_reason == reason
    assert request.sent_at is None
    assert not Message.objects.exists()
    assert mail.outbox == []
    assert send_due(django_capture_on_commit_callbacks) == 0  # and not asked again


def test_never_to_a_number_that_texted_stop(san_jose, clock, django_capture_on_commit_callbacks):
    Channel.objects.create(station=san_jose, kind="sms_twilio", address="+14085550100")
    booking = completed_booking(san_jose, clock, customer__phone="+14085550142")
    customer = booking.customer
    type(customer).objects.filter(pk=customer.pk).update(sms_opt_in=True)
    ContactIdentity.objects.create(
        station=san_jose, customer=customer, kind="sms", external_id="+14085550142", opted_out=True
    )
    send_due(django_capture_on_commit_callbacks)
    message = Message.objects.get()
    assert message.status == MessageStatus.NOT_SENT
    assert "STOP" in message.error
    assert ReviewRequest.objects.get().sent_at is None


def test_quiet_hours_hold_the_request_until_morning(
    san_jose, email_channel, clock, django_capture_on_commit_callbacks
):
    from inbox import sending

    booking = completed_booking(san_jose, clock, hours_ago=30)
    late = NOON.replace(hour=22)  # 22:00 in San Jose: quiet hours (21:00-09:00)
    clock.move_to(late)
    send_due(django_capture_on_commit_callbacks)
    message = Message.objects.get(idempotency_key=f"review-request-{booking.pk}")
    assert message.status == MessageStatus.QUEUED  # held
    assert message.send_after == (late + timedelta(hours=11)).replace(hour=9)
    assert mail.outbox == []
    clock.move_to(message.send_after + timedelta(minutes=1))
    assert sending.message_send(message_id=message.pk) == MessageStatus.SENT
    assert len(mail.outbox) == 1


# --- The public review form -------------------------------------------------------------------


@pytest.fixture
def request_token(san_jose, email_channel, clock, django_capture_on_commit_callbacks):
    booking = completed_booking(san_jose, clock)
    send_due(django_capture_on_commit_callbacks)
    return token_in(Message.objects.get(idempotency_key=f"review-request-{booking.pk}"))


def submit(client, body, **headers):
    return client.post(URL, body, format="json", **headers)


def test_a_token_posts_once(api_client, request_token, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = submit(api_client, {"token": request_token, "rating": 5, "text": "Wonderful!"})
    assert first.status_code == 201
    review = Review.objects.get()
    request = ReviewRequest.objects.get()
    assert (review.platform, review.rating, review.text) == (Platform.INTERNAL, 5, "Wonderful!")
    assert (review.booking_id, review.customer_id) == (
        request.booking_id,
        request.booking.customer_id,
    )
    assert request.review_id == review.pk
    assert request.completed_at is not None
    assert review.reply_status == "drafted"  # 5 stars with text: L2
    second = submit(api_client, {"token": request_token, "rating": 1, "text": "changed my mind"})
    assert second.status_code == 409
    assert second.json()["error"] == "review_submitted"
    assert Review.objects.get().rating == 5


def test_every_rating_gets_the_same_invitation_no_gating(
    api_client, request_token, san_jose, clock, django_capture_on_commit_callbacks
):
    from reviews.models import GoogleLocation

    GoogleLocation.objects.create(
        station=san_jose, location_name="accounts/1/locations/2", place_id="ChIJplace"
    )
    happy = submit(api_client, {"token": request_token, "rating": 5}).json()
    booking = completed_booking(san_jose, clock, hours_ago=40)
    send_due(django_capture_on_commit_callbacks)
    unhappy_token = token_in(Message.objects.get(idempotency_key=f"review-request-{booking.pk}"))
    unhappy = submit(api_client, {"token": unhappy_token, "rating": 1, "text": "Cold food"}).json()
    assert happy == unhappy
    assert happy["invitation"]["links"] == [
        {
            "platform": "google",
            "url": "https://search.google.com/local/writereview?placeid=ChIJplace",
        }
    ]


def test_an_unknown_token_is_404(api_client, db):
    answer = submit(api_client, {"token": "no-such-token", "rating": 4})
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"token", "rating"}),
        ({"token": "x", "rating": 0}, {"rating"}),
        ({"token": "x", "rating": 6}, {"rating"}),
        ({"token": "x", "rating": "5"}, {"rating"}),
        ({"token": "x", "rating": 4.5}, {"rating"}),
        ({"token": "x", "rating": True}, {"rating"}),
        ({"token": "", "rating": 3}, {"token"}),
        ({"token": "x" * 500, "rating": 3}, {"token"}),
        ({"token": "x", "rating": 3, "text": "t" * 5000}, {"text"}),
        ({"token": "x", "rating": 3, "stars": 5}, {"stars"}),
        ({"token": ["x"], "rating": 3}, {"token"}),
    ],
)
def test_bad_input_is_400_with_field_errors(api_client, db, body, fields):
    answer = submit(api_client, body)
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"] == "validation_error"
    assert set(answer.json()["fields"]) == fields
    assert not Review.objects.exists()


@pytest.mark.parametrize("raw", ["not json", '{"token": "x", "rating": 3, "text": "a\\u0000b"}'])
def test_a_body_that_is_not_json_or_holds_nul_is_400(api_client, db, raw):
    answer = api_client.post(URL, raw, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"] == "parse_error"


def test_an_idempotency_key_replays_the_first_answer(api_client, request_token):
    body = {"token": request_token, "rating": 4, "text": "Nice"}
    first = submit(api_client, body, HTTP_IDEMPOTENCY_KEY="review-key-1")
    again = submit(api_client, body, HTTP_IDEMPOTENCY_KEY="review-key-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Review.objects.count() == 1
