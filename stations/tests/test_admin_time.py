"""Station time in the admin (stations.admin_time): pages in the station's zone, named."""

import zoneinfo
from datetime import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bookings.models import Notification
from conftest import PASSWORD
from stations.models import TimeOff
from testing.factories import make_booking

LA = zoneinfo.ZoneInfo("America/Los_Angeles")


def logged_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def time_off(san_jose):
    chef = san_jose.chefs.order_by("name").first()
    # 18:00 on Dec 5 in San Jose is 02:00 on Dec 6 in UTC.
    return TimeOff.objects.create(
        chef=chef,
        starts_at=datetime(2026, 12, 5, 18, 0, tzinfo=LA),
        ends_at=datetime(2026, 12, 5, 23, 0, tzinfo=LA),
        reason="dentist",
    )


@pytest.mark.date_sensitive
def test_a_page_shows_instants_in_its_station_zone_and_names_it(sj_manager, san_jose):
    booking = make_booking(san_jose, days=20)
    message = Notification.objects.create(
        booking=booking, key="test-zone", created_at=datetime(2026, 12, 5, 18, 0, tzinfo=LA)
    )
    page = logged_in(sj_manager).get(
        reverse("admin:bookings_notification_change", args=[message.pk])
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "Times: America/Los_Angeles" in text
    assert "Dec. 5, 2026, 6 p.m. PST" in text
    assert "Dec. 6, 2026" not in text


def test_a_list_shows_instants_in_station_time_with_the_zone(sj_manager, time_off):
    page = logged_in(sj_manager).get(reverse("admin:stations_timeoff_changelist"))
    text = page.content.decode()
    assert "Dec. 5, 2026, 6 p.m. PST" in text
    assert "Dec. 6, 2026" not in text


def test_the_zone_does_not_leak_to_the_api_or_the_next_request(sj_manager, time_off):
    client = logged_in(sj_manager)
    client.get(reverse("admin:stations_timeoff_changelist"))
    assert timezone.get_current_timezone_name() == "UTC"
    # The API speaks UTC whoever asks.
    health = client.get("/api/v1/health")
    assert health.status_code in (200, 503)
    assert timezone.get_current_timezone_name() == "UTC"


def test_anonymous_admin_requests_stay_in_utc(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert timezone.get_current_timezone_name() == "UTC"
