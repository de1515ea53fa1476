"""Fixtures of the reviews tests: Google's fake, a station's Google location, completed
bookings at a pinned moment, and Pub/Sub pushes in the documented shape."""

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from bookings import services as booking_services
from bookings.models import BookingStatus
from inbox.models import Channel
from reviews import services
from reviews.models import GoogleLocation
from testing import fake_google
from testing.factories import make_booking

DATA = Path(__file__).parent / "data"
LOCATION = "accounts/123/locations/456"  # the sample push's location
PUSH_TOKEN = "push-token-for-tests"
# A Tuesday noon in San Jose (PST, no DST change nearby): outside quiet hours.
NOON = datetime.fromisoformat("2026-11-17T12:00:00-08:00")


@pytest.fixture
def fake_google_api(settings):
    yield from fake_google.running(settings)


@pytest.fixture
def google_location(san_jose):
    location = GoogleLocation.objects.create(
        station=san_jose, location_name=LOCATION, place_id="ChIJtestPlace123"
    )
    services.google_location_set_credentials(location=location, values=fake_google.CREDENTIALS)
    return location


@pytest.fixture
def push_token(settings):
    settings.GOOGLE_PUSH_TOKEN = PUSH_TOKEN
    return PUSH_TOKEN


def push_body(
    *,
    message_id: str = "9876543210",
    kind: str = "NEW_REVIEW",
    location: str = LOCATION,
    review: str = "789",
    type_key: str = "type",
) -> dict:
    """A Pub/Sub push as shared/samples/google_pubsub_push.json, with its notification."""
    envelope = json.loads((DATA / "google_pubsub_push.json").read_text())
    notification = {
        type_key: kind,
        "locationName": location,
        "reviewName": f"{location}/reviews/{review}",
    }
    envelope["message"]["data"] = base64.b64encode(json.dumps(notification).encode()).decode()
    envelope["message"]["messageId"] = message_id
    return envelope


@pytest.fixture
def clock():
    """The clock pinned at NOON (moved by the tests with clock.move_to)."""
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def email_channel(san_jose):
    return Channel.objects.create(station=san_jose, kind="email", address="sanjose@example.com")


def completed_booking(station, clock, *, hours_ago: float = 30, **fields):
    """A booking whose event ended about `hours_ago` before NOON, completed; the clock is back
    at NOON afterwards."""
    booked_at = NOON - timedelta(days=9)
    clock.move_to(booked_at)
    booking = make_booking(station, days=8, start="17:00", status="confirmed", **fields)
    clock.move_to(NOON)
    ends = booking.ends_at
    shift = (NOON - timedelta(hours=hours_ago)) - ends
    assert ends < timezone.now(), "the event must be over"
    booking = booking_services.booking_transition(
        booking=booking, to_status=BookingStatus.COMPLETED, actor=booking_services.SYSTEM
    )
    # Move the event so that it ended `hours_ago` before now (the factory books whole days).
    type(booking).objects.filter(pk=booking.pk).update(
        starts_at=booking.starts_at + shift, ends_at=ends + shift
    )
    booking.refresh_from_db()
    return booking
