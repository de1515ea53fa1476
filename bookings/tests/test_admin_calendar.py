"""The admin calendar in station time and the chef picker (issue 12, points 1 and 6): labels
in the station's zone whatever the viewer's, the chefs' time off on the month grid and in the
day lanes, and a chef picker that says who is free, busy or off, in a constant number of
queries."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings.models import Booking
from bookings.scheduling import local_today
from stations.models import Chef
from testing.admin import form_data
from testing.factories import ChefFactory, TimeOffFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

LA = ZoneInfo("America/Los_Angeles")
CALENDAR = "admin:bookings_booking_calendar"
DASH = "\u2013"


def chef(station, name) -> Chef:
    return Chef.objects.get(station=station, name=name)


def whole_day_off(who, day, reason="sick"):
    start = datetime.combine(day, time(0), tzinfo=LA)
    return TimeOffFactory(
        chef=who, starts_at=start, ends_at=start + timedelta(days=1), reason=reason
    )


@pytest.mark.parametrize("viewer", ["superuser", "sj_manager"])
def test_a_4pm_event_is_labelled_4_to_6_pm_in_station_time(client, san_jose, viewer, request):
    client.force_login(request.getfixturevalue(viewer))  # the superuser has no station zone
    booking = make_booking(san_jose, start="16:00", adults=10)
    assert booking.starts_at.astimezone(LA).hour == 16
    day = booking.event_date.isoformat()

    lanes = client.get(reverse(CALENDAR), {"station": san_jose.pk, "date": day, "view": "day"})
    month = client.get(reverse(CALENDAR), {"station": san_jose.pk, "date": day})

    block = next(
        b for lane in lanes.context["lanes"] for b in lane.blocks if b["booking"] == booking
    )
    assert block["label"] == f"4{DASH}6 p.m."
    assert block["top"] == pytest.approx((16 - 9) / 15 * 100)  # drawn in the 16:00 row
    assert f"4{DASH}6 p.m. {booking.reference}" in lanes.content.decode()
    assert "00:00" not in lanes.content.decode()
    assert f"4{DASH}6 p.m. 10p" in month.content.decode()


def test_time_off_shows_on_the_month_grid_and_in_the_day_lane(client, sj_manager, san_jose):
    client.force_login(sj_manager)
    kenji = chef(san_jose, "Kenji Tanaka")
    day = local_today(san_jose) + timedelta(days=9)
    whole_day_off(kenji, day)
    TimeOffFactory(
        chef=chef(san_jose, "Maria Lopez"),
        starts_at=datetime.combine(day, time(14), tzinfo=LA),
        ends_at=datetime.combine(day, time(18), tzinfo=LA),
    )

    month = client.get(reverse(CALENDAR), {"date": day.isoformat()})
    lanes = client.get(reverse(CALENDAR), {"date": day.isoformat(), "view": "day"})

    cells = {cell.day: cell for week in month.context["weeks"] for cell in week}
    assert cells[day].time_off == ["Kenji off (sick)", "Maria off"]
    assert cells[day + timedelta(days=1)].time_off == []
    assert cells[day - timedelta(days=1)].time_off == []
    assert "Kenji off (sick)" in month.content.decode()
    by_chef = {lane.chef.name: lane for lane in lanes.context["lanes"]}
    assert [off["label"] for off in by_chef["Kenji Tanaka"].time_off] == ["Off all day"]
    assert [off["label"] for off in by_chef["Maria Lopez"].time_off] == [f"Off 2{DASH}6 p.m."]
    assert by_chef["David Kim"].time_off == []
    assert "Off all day (sick)" in lanes.content.decode()


def test_another_stations_time_off_is_not_on_the_calendar(client, sac_manager, san_jose):
    client.force_login(sac_manager)
    day = local_today(san_jose) + timedelta(days=9)
    whole_day_off(chef(san_jose, "Kenji Tanaka"), day)

    month = client.get(reverse(CALENDAR), {"station": san_jose.pk, "date": day.isoformat()})

    assert "Kenji" not in month.content.decode()


# --- The chef picker ---------------------------------------------------------------------------


@pytest.fixture
def busy_evening(san_jose):
    """Kenji's booking; Maria booked at the same time; David off sick; Ken Ito free."""
    booking = make_booking(san_jose, start="17:00", chef=chef(san_jose, "Kenji Tanaka"))
    other = make_booking(
        san_jose,
        start="17:00",
        event_date=booking.event_date,
        chef=chef(san_jose, "Maria Lopez"),
    )
    whole_day_off(chef(san_jose, "David Kim"), booking.event_date)
    ChefFactory(station=san_jose, name="Ken Ito")
    return booking, other


def picker_labels(response) -> dict[str, str]:
    field = response.context["adminform"].form.fields["chef"]
    return {label.split(" — ")[0]: label for value, label in field.choices if value != ""}


def test_the_chef_picker_marks_who_is_free_busy_or_off(client, sj_manager, busy_evening):
    booking, other = busy_evening
    client.force_login(sj_manager)

    page = client.get(reverse("admin:bookings_booking_change", args=[booking.pk]))

    labels = picker_labels(page)
    assert labels["Kenji Tanaka"] == "Kenji Tanaka — assigned"
    assert labels["Maria Lopez"] == f"Maria Lopez — busy ({other.reference} 5{DASH}7 p.m.)"
    assert labels["David Kim"] == "David Kim — off (sick)"
    assert labels["Ken Ito"] == "Ken Ito — free"
    assert "Ken Ito — free" in page.content.decode()


def test_the_chef_picker_costs_the_same_queries_for_more_chefs_and_bookings(
    client, sj_manager, san_jose, busy_evening
):
    booking, _ = busy_evening
    client.force_login(sj_manager)
    url = reverse("admin:bookings_booking_change", args=[booking.pk])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    before = count()
    for n in range(4):
        extra = ChefFactory(station=san_jose, name=f"Extra {n}")
        if n % 2:
            whole_day_off(extra, booking.event_date, reason="")
        else:
            make_booking(san_jose, start="17:00", event_date=booking.event_date, chef=extra)
    assert count() == before


def test_a_busy_or_sick_chef_is_still_refused_on_save(client, sj_manager, san_jose, busy_evening):
    booking, _ = busy_evening
    client.force_login(sj_manager)
    url = reverse("admin:bookings_booking_change", args=[booking.pk])
    data = form_data(client.get(url))

    for name in ("Maria Lopez", "David Kim"):
        response = client.post(url, {**data, "chef": chef(san_jose, name).pk})
        assert response.status_code == 200
        assert "is not free at this time" in str(response.context["adminform"].form.errors)
    assert Booking.objects.get(pk=booking.pk).chef.name == "Kenji Tanaka"

    moved = client.post(url, {**data, "chef": chef(san_jose, "Ken Ito").pk})
    assert moved.status_code == 302
    assert Booking.objects.get(pk=booking.pk).chef.name == "Ken Ito"


def test_another_stations_manager_cannot_open_the_booking(client, sac_manager, busy_evening):
    booking, _ = busy_evening
    client.force_login(sac_manager)

    response = client.get(reverse("admin:bookings_booking_change", args=[booking.pk]), follow=True)

    assert "Ken Ito" not in response.content.decode()  # no picker: no page at all
    assert "adminform" not in (response.context or {})
