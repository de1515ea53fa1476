"""Time off in the admin (issue 12, point 6): typed in the chef's station time, whole days by
default; saving it leads to the chef's bookings it touches, each reassignable to a free chef."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import BookingEvent
from bookings.scheduling import local_today
from stations.forms import TimeOffForm
from stations.models import Chef, TimeOff
from testing.factories import TimeOffFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

LA = ZoneInfo("America/Los_Angeles")
ADD = "admin:stations_timeoff_add"
DASH = "\u2013"


@pytest.fixture
def manager(client, sj_manager):
    client.force_login(sj_manager)
    return client


@pytest.fixture
def kenji(san_jose):
    return Chef.objects.get(station=san_jose, name="Kenji Tanaka")


def tonight(station, chef, start="17:00", **fields):
    """A confirmed booking of `chef` today at `start` local (booked a week ago)."""
    booked = timezone.now() - timedelta(days=7)
    return make_booking(
        station, now=booked, days=7, start=start, chef=chef, status="confirmed", **fields
    )


def whole_days(chef, first, last="", reason="sick"):
    return {"chef": chef.pk, "first_day": first, "last_day": last, "reason": reason}


def test_a_whole_day_runs_midnight_to_midnight_local_even_on_the_23_hour_day(manager, kenji):
    response = manager.post(reverse(ADD), whole_days(kenji, "2027-03-14"))

    assert response.status_code == 302
    time_off = TimeOff.objects.get(chef=kenji)
    assert time_off.starts_at == datetime(2027, 3, 14, 8, 0, tzinfo=UTC)  # 00:00 PST
    assert time_off.ends_at == datetime(2027, 3, 15, 7, 0, tzinfo=UTC)  # 00:00 PDT
    assert time_off.ends_at - time_off.starts_at == timedelta(hours=23)
    assert time_off.reason == "sick"


def test_several_whole_days_and_the_form_shows_them_back_in_local_days(manager, kenji):
    manager.post(reverse(ADD), whole_days(kenji, "2027-01-04", "2027-01-06"))
    time_off = TimeOff.objects.get(chef=kenji)
    assert time_off.starts_at.astimezone(LA) == datetime(2027, 1, 4, tzinfo=LA)
    assert time_off.ends_at.astimezone(LA) == datetime(2027, 1, 7, tzinfo=LA)

    page = manager.get(reverse("admin:stations_timeoff_change", args=[time_off.pk]))

    form = page.context["adminform"].form
    assert str(form["first_day"].value()) == "2027-01-04"
    assert str(form["last_day"].value()) == "2027-01-06"
    assert not form["part_of_day"].value()


def test_part_of_a_day_in_station_time(manager, kenji):
    data = {
        **whole_days(kenji, "2027-01-04"),
        "part_of_day": "on",
        "start_time": "14:00",
        "end_time": "18:30",
    }
    assert manager.post(reverse(ADD), data).status_code == 302

    time_off = TimeOff.objects.get(chef=kenji)
    assert time_off.starts_at == datetime(2027, 1, 4, 22, 0, tzinfo=UTC)  # 14:00 PST
    assert time_off.ends_at == datetime(2027, 1, 5, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"last_day": "2027-01-03"}, "last_day"),  # before the first day
        ({"part_of_day": "on", "start_time": "18:00", "end_time": "14:00"}, "end_time"),
        ({"part_of_day": "on", "start_time": "", "end_time": "14:00"}, "start_time"),
        ({"first_day": "not a day"}, "first_day"),
    ],
)
def test_bad_time_off_is_refused_with_a_form_error(manager, kenji, extra, field):
    response = manager.post(reverse(ADD), {**whole_days(kenji, "2027-01-04"), **extra})

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not TimeOff.objects.exists()


def test_a_time_in_the_spring_forward_gap_is_refused(manager, kenji):
    data = {
        **whole_days(kenji, "2027-03-14"),
        "part_of_day": "on",
        "start_time": "02:30",  # does not exist in Los Angeles that night
        "end_time": "06:00",
    }
    response = manager.post(reverse(ADD), data)

    assert "clocks change" in str(response.context["adminform"].form.errors["start_time"])
    assert not TimeOff.objects.exists()


def test_the_list_shows_station_time_with_the_zone(manager, kenji):
    TimeOffFactory(
        chef=kenji,
        starts_at=datetime(2027, 1, 4, 8, 0, tzinfo=UTC),
        ends_at=datetime(2027, 1, 5, 8, 0, tzinfo=UTC),
    )

    html = manager.get(reverse("admin:stations_timeoff_changelist")).content.decode()

    assert "Jan. 4, 2027, midnight PST" in html
    assert "Jan. 5, 2027, midnight PST" in html


def test_a_sick_day_today_lists_tonights_event_and_reassigns_it(manager, san_jose, kenji):
    booking = tonight(san_jose, kenji, start="17:00")
    today = local_today(san_jose).isoformat()

    saved = manager.post(reverse(ADD), whole_days(kenji, today), follow=True)

    time_off = TimeOff.objects.get(chef=kenji)
    affected = reverse("admin:stations_timeoff_affected", args=[time_off.pk])
    assert saved.redirect_chain[-1][0] == affected
    html = saved.content.decode()
    assert booking.reference in html
    assert reverse("admin:bookings_booking_change", args=[booking.pk]) in html
    assert "Reassign to a free chef" in html
    assert f"5{DASH}7 p.m." in html  # the event (10 guests: two hours), in station time

    done = manager.post(affected, {"booking": booking.pk}, follow=True)

    booking.refresh_from_db()
    assert booking.chef_id != kenji.pk
    assert booking.chef.station_id == san_jose.pk
    assert f"{booking.reference} reassigned from Kenji Tanaka to {booking.chef}" in (
        done.content.decode()
    )
    assert BookingEvent.objects.filter(booking=booking, reason="chef reassigned").exists()
    assert booking.reference not in done.content.decode().split("reassigned from")[1]


def test_no_free_chef_is_a_message_not_an_error(manager, san_jose, kenji):
    booking = tonight(san_jose, kenji)
    today = local_today(san_jose)
    for other in Chef.objects.filter(station=san_jose).exclude(pk=kenji.pk):
        start = datetime.combine(today, datetime.min.time(), tzinfo=LA)
        TimeOffFactory(chef=other, starts_at=start, ends_at=start + timedelta(days=1))
    manager.post(reverse(ADD), whole_days(kenji, today.isoformat()))
    time_off = TimeOff.objects.get(chef=kenji)

    response = manager.post(
        reverse("admin:stations_timeoff_affected", args=[time_off.pk]),
        {"booking": booking.pk},
        follow=True,
    )

    assert response.status_code == 200
    assert f"{booking.reference} not reassigned: no other chef is free" in (
        response.content.decode()
    )
    booking.refresh_from_db()
    assert booking.chef_id == kenji.pk


def test_time_off_that_misses_the_event_lists_nothing(manager, san_jose, kenji):
    tonight(san_jose, kenji)
    tomorrow = (local_today(san_jose) + timedelta(days=2)).isoformat()

    page = manager.post(reverse(ADD), whole_days(kenji, tomorrow), follow=True)

    assert "nothing to reassign" in page.content.decode()


def test_another_stations_manager_can_neither_see_nor_reassign(
    client, sac_manager, san_jose, kenji
):
    booking = tonight(san_jose, kenji)
    start = datetime.combine(local_today(san_jose), datetime.min.time(), tzinfo=LA)
    time_off = TimeOffFactory(chef=kenji, starts_at=start, ends_at=start + timedelta(days=1))
    url = reverse("admin:stations_timeoff_affected", args=[time_off.pk])
    client.force_login(sac_manager)

    assert client.get(url).status_code == 404
    assert client.post(url, {"booking": booking.pk}).status_code == 404
    booking.refresh_from_db()
    assert booking.chef_id == kenji.pk


def test_an_agent_sees_the_list_but_may_not_reassign(client, sj_agent, san_jose, kenji):
    booking = tonight(san_jose, kenji)
    start = datetime.combine(local_today(san_jose), datetime.min.time(), tzinfo=LA)
    time_off = TimeOffFactory(chef=kenji, starts_at=start, ends_at=start + timedelta(days=1))
    url = reverse("admin:stations_timeoff_affected", args=[time_off.pk])
    client.force_login(sj_agent)

    page = client.get(url)
    assert page.status_code == 200
    assert booking.reference in page.content.decode()
    assert "Reassign to a free chef" not in page.content.decode()
    assert client.post(url, {"booking": booking.pk}).status_code == 403
    booking.refresh_from_db()
    assert booking.chef_id == kenji.pk


# --- Days at the ends of the calendar, and a zone whose clocks jump at midnight ----------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"first_day": "9999-12-31"}, "first_day"),  # its end, 10000-01-01, does not exist
        ({"first_day": "0001-01-01"}, "first_day"),
        ({"first_day": "9999-12-30", "last_day": "9999-12-31"}, "last_day"),
        (
            {
                "first_day": "9999-12-31",
                "part_of_day": "on",
                "start_time": "20:00",
                "end_time": "23:00",  # 23:00 in Los Angeles is the next day in UTC
            },
            "first_day",
        ),
    ],
)
def test_a_day_at_the_ends_of_the_calendar_is_a_form_error(manager, kenji, extra, field):
    response = manager.post(reverse(ADD), {**whole_days(kenji, "2027-01-04"), **extra})

    assert response.status_code == 200
    assert "Enter a day from" in str(response.context["adminform"].form.errors[field])
    assert not TimeOff.objects.exists()


def test_time_off_days_run_within_a_window_around_today(manager, san_jose, kenji):
    today = local_today(san_jose)
    back, ahead = TimeOffForm.DAYS_BACK, TimeOffForm.DAYS_AHEAD
    for first, last, saved in [
        (today - timedelta(days=back), today - timedelta(days=back), True),
        (today + timedelta(days=ahead), "", True),
        (today - timedelta(days=back + 1), today - timedelta(days=back + 1), False),
        (today + timedelta(days=ahead + 1), "", False),
    ]:
        response = manager.post(reverse(ADD), whole_days(kenji, first, last))
        assert (response.status_code == 302) is saved, (first, response.status_code)
    assert TimeOff.objects.filter(chef=kenji).count() == 2


def test_an_old_time_off_outside_the_window_can_still_have_its_reason_edited(manager, kenji):
    long_ago = timezone.now() - timedelta(days=TimeOffForm.DAYS_BACK + 30)
    time_off = TimeOffFactory(
        chef=kenji, starts_at=long_ago, ends_at=long_ago + timedelta(hours=4), reason="sick"
    )
    url = reverse("admin:stations_timeoff_change", args=[time_off.pk])
    form = manager.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not False}
    data["reason"] = "sick (doctor's note)"

    response = manager.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    time_off.refresh_from_db()
    assert time_off.reason == "sick (doctor's note)"
    assert time_off.starts_at == long_ago


def test_a_whole_day_where_the_clocks_jump_at_midnight_starts_when_they_jump_to(
    manager, san_jose, kenji
):
    """In Havana the clocks go from 00:00 to 01:00 on 2027-03-14: that day has no midnight,
    and begins at 01:00 local (05:00 UTC); the next day starts at its midnight, EDT."""
    havana = ZoneInfo("America/Havana")
    san_jose.timezone = "America/Havana"
    san_jose.save(update_fields=["timezone"])

    response = manager.post(reverse(ADD), whole_days(kenji, "2027-03-14"))

    assert response.status_code == 302
    time_off = TimeOff.objects.get(chef=kenji)
    assert time_off.starts_at == datetime(2027, 3, 14, 5, 0, tzinfo=UTC)
    assert time_off.starts_at.astimezone(havana).strftime("%Y-%m-%d %H:%M") == "2027-03-14 01:00"
    assert time_off.ends_at == datetime(2027, 3, 15, 4, 0, tzinfo=UTC)  # 00:00 CDT
    assert time_off.ends_at - time_off.starts_at == timedelta(hours=23)

    page = manager.get(reverse("admin:stations_timeoff_change", args=[time_off.pk]))
    form = page.context["adminform"].form  # shown back as the whole day it was entered as
    assert str(form["first_day"].value()) == "2027-03-14"
    assert str(form["last_day"].value()) == "2027-03-14"
    assert not form["part_of_day"].value()


def test_whole_days_ending_on_the_day_the_clocks_jump_at_midnight(manager, san_jose, kenji):
    """The day before the jump ends when the next day begins: at the jump (05:00 UTC)."""
    san_jose.timezone = "America/Havana"
    san_jose.save(update_fields=["timezone"])

    response = manager.post(reverse(ADD), whole_days(kenji, "2027-03-12", "2027-03-13"))

    assert response.status_code == 302
    time_off = TimeOff.objects.get(chef=kenji)
    assert time_off.starts_at == datetime(2027, 3, 12, 5, 0, tzinfo=UTC)  # 00:00 CST
    assert time_off.ends_at == datetime(2027, 3, 14, 5, 0, tzinfo=UTC)  # 01:00 CDT
