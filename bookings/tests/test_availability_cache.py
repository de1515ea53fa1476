"""Availability is cached per station-day; every path that changes a chef's time invalidates it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import scheduling
from stations.models import Chef
from testing.factories import make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]


def free_at(station, day, start="17:00"):
    slots = scheduling.availability(station=station, start=day, end=day, guests=10)
    return {f"{s.start:%H:%M}": s.chefs_available for s in slots}.get(start, 0)


def test_a_cached_read_costs_one_query(san_jose):
    day = timezone.localdate() + timedelta(days=20)
    first = scheduling.availability(
        station=san_jose, start=day, end=day + timedelta(days=29), guests=10
    )
    with CaptureQueriesContext(connection) as queries:
        again = scheduling.availability(
            station=san_jose, start=day, end=day + timedelta(days=29), guests=10
        )
    assert len(queries) == 1  # the active chefs; the slots come from the cache
    assert again == first
    assert len(first) == 30 * len(scheduling.start_times(san_jose))  # every start of 30 days


# Availability is invalidated when a write commits: these tests let their writes commit.
@pytest.mark.django_db(transaction=True)
def test_bookings_change_it_at_once(san_jose):
    booking = make_booking(san_jose, days=10)
    day = booking.event_date
    assert free_at(san_jose, day) == 2
    make_booking(san_jose, days=10)
    assert free_at(san_jose, day) == 1


@pytest.mark.django_db(transaction=True)
def test_time_off_added_in_the_admin_changes_it_at_once(client, sj_manager, san_jose):
    day = timezone.localdate() + timedelta(days=12)
    assert free_at(san_jose, day) == 3
    chef = Chef.objects.filter(station=san_jose).first()
    client.force_login(sj_manager)
    response = client.post(
        reverse("admin:stations_timeoff_add"),
        {  # whole days in the station's time (stations.forms.TimeOffForm)
            "chef": chef.pk,
            "first_day": (day - timedelta(days=1)).isoformat(),
            "last_day": (day + timedelta(days=1)).isoformat(),
            "reason": "vacation",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert free_at(san_jose, day) == 2


def test_a_chef_deactivated_anywhere_changes_it_at_once(san_jose):
    day = timezone.localdate() + timedelta(days=12)
    assert free_at(san_jose, day) == 3
    Chef.objects.filter(pk=Chef.objects.filter(station=san_jose).first().pk).update(active=False)
    assert free_at(san_jose, day) == 2


def test_station_rules_change_it_at_once(client, owner, san_jose):
    day = timezone.localdate() + timedelta(days=12)
    assert free_at(san_jose, day, "20:00") == 3
    san_jose.latest_start = san_jose.latest_start.replace(hour=19)
    san_jose.save()
    assert free_at(san_jose, day, "20:00") == 0
