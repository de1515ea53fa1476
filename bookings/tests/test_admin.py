"""The bookings admin: scoped lists with constant queries, history, actions, calendar, feeds."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings import services
from bookings.models import Booking, BookingStatus
from bookings.scheduling import local_today
from stations.models import Chef
from testing.factories import make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

CHANGELIST = "admin:bookings_booking_changelist"


@pytest.fixture
def manager_browser(client, sj_manager):
    client.force_login(sj_manager)
    return client


def test_changelist_is_scoped(manager_browser, san_jose, sacramento):
    mine = make_booking(san_jose)
    theirs = make_booking(sacramento)

    page = manager_browser.get(reverse(CHANGELIST)).content.decode()

    assert mine.reference in page
    assert theirs.reference not in page
    change = manager_browser.get(reverse("admin:bookings_booking_change", args=[theirs.pk]))
    assert change.status_code == 302  # Django admin: "doesn't exist" redirect, no data shown
    search = manager_browser.get(reverse(CHANGELIST), {"q": theirs.reference}).content.decode()
    assert "0 results" in search
    assert theirs.customer.name not in search


def test_changelist_query_count_is_the_same_for_1_and_50_rows(manager_browser, san_jose):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager_browser.get(reverse(CHANGELIST)).status_code == 200
        return len(queries)

    make_booking(san_jose)
    one = count_queries()
    for n in range(1, 50):
        make_booking(san_jose, days=10 + n // 3, start=["12:00", "15:00", "18:00"][n % 3])
    assert Booking.objects.count() == 50
    assert count_queries() == one


def test_change_page_shows_history(manager_browser, san_jose):
    booking = make_booking(san_jose)
    services.booking_transition(
        booking=booking, to_status="confirmed", actor=services.SYSTEM, reason="deposit paid"
    )

    page = manager_browser.get(reverse("admin:bookings_booking_change", args=[booking.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Status history" in html
    assert "deposit paid" in html


def _action(browser, action, bookings):
    return browser.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [b.pk for b in bookings]},
        follow=True,
    )


def test_confirm_and_cancel_actions_go_through_the_services(manager_browser, san_jose):
    booking = make_booking(san_jose)

    _action(manager_browser, "confirm_selected", [booking])
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    _action(manager_browser, "cancel_selected", [booking])
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert list(booking.events.values_list("to_status", flat=True)) == [
        "pending_deposit",
        "confirmed",
        "cancelled",
    ]
    response = _action(manager_browser, "confirm_selected", [booking])
    assert "cannot become confirmed" in response.content.decode()


def test_reassign_action_moves_to_a_free_chef_or_reports(manager_browser, san_jose):
    bookings = [make_booking(san_jose) for _ in range(3)]  # every chef taken at 17:00
    response = _action(manager_browser, "reassign_selected", bookings[:1])
    assert [str(m) for m in response.context["messages"]] == [
        f"{bookings[0].reference}: That time was just taken. Please pick another slot."
    ]
    bookings[1].status = BookingStatus.CANCELLED
    Booking.objects.filter(pk=bookings[1].pk).update(status=BookingStatus.CANCELLED)

    _action(manager_browser, "reassign_selected", bookings[:1])

    moved = Booking.objects.get(pk=bookings[0].pk)
    assert moved.chef_id == bookings[1].chef_id


def _form_data(browser, url, **fields) -> dict:
    """What a browser posts back: the fields, plus the inline management forms of the page."""
    page = browser.get(url)
    data = dict(fields)
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(k): v for k, v in management.initial.items()})
    return data


def test_changing_the_chef_in_the_form_checks_availability(manager_browser, san_jose):
    first, second = make_booking(san_jose), make_booking(san_jose)
    url = reverse("admin:bookings_booking_change", args=[first.pk])

    busy = manager_browser.post(
        url, _form_data(manager_browser, url, chef=second.chef_id, notes="")
    )
    assert busy.status_code == 200  # form redisplayed with the error
    assert "is not free" in busy.content.decode()
    idle = Chef.objects.filter(station=san_jose).exclude(pk__in=[first.chef_id, second.chef_id])
    ok = manager_browser.post(
        url, _form_data(manager_browser, url, chef=idle.get().pk, notes="side gate")
    )
    assert ok.status_code == 302
    first.refresh_from_db()
    assert first.chef_id == idle.get().pk
    assert first.notes == "side gate"


def test_chef_cannot_act_in_the_admin(client, sj_chef, san_jose):
    booking = make_booking(san_jose)
    Booking.objects.filter(pk=booking.pk).update(chef=Chef.objects.get(user=sj_chef))
    client.force_login(sj_chef)

    assert client.get(reverse(CHANGELIST)).status_code == 200
    url = reverse("admin:bookings_booking_change", args=[booking.pk])
    assert (
        client.post(url, _form_data(client, url, chef=booking.chef_id, notes="x")).status_code
        == 403
    )
    client.post(
        reverse(CHANGELIST), {"action": "confirm_selected", "_selected_action": [booking.pk]}
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING_DEPOSIT


def test_calendar_month_and_day(manager_browser, san_jose, sacramento):
    mine = make_booking(san_jose)
    theirs = make_booking(sacramento)
    url = reverse("admin:bookings_booking_calendar")

    month = manager_browser.get(url, {"date": mine.event_date.isoformat()})
    assert month.status_code == 200
    html = month.content.decode()
    assert mine.chef.name in html
    assert theirs.reference not in html
    assert "Sacramento" not in html  # not even in the station picker

    day = manager_browser.get(url, {"date": mine.event_date.isoformat(), "view": "day"})
    html = day.content.decode()
    assert mine.reference in html
    for chef in Chef.objects.filter(station=san_jose):
        assert chef.name in html  # one lane per chef

    forged = manager_browser.get(url, {"station": sacramento.pk, "date": theirs.event_date})
    assert theirs.reference not in forged.content.decode()


@pytest.mark.parametrize("view", ["month", "day"])
@pytest.mark.parametrize("asked", ["9999-12-31", "0001-01-01", "2026-02-30", "soon"])
def test_calendar_shows_today_for_a_date_it_cannot_show(manager_browser, san_jose, view, asked):
    url = reverse("admin:bookings_booking_calendar")

    response = manager_browser.get(url, {"date": asked, "view": view})

    assert response.status_code == 200
    assert response.context["day"] == local_today(san_jose)


def test_calendar_feeds(client, san_jose):
    booking = make_booking(san_jose)

    station_feed = client.get(f"/feeds/stations/{san_jose.calendar_token}.ics")
    assert station_feed.status_code == 200
    assert station_feed["Content-Type"].startswith("text/calendar")
    body = station_feed.content.decode()
    assert "BEGIN:VCALENDAR" in body
    assert f"UID:{booking.reference}@" in body
    chef_feed = client.get(f"/feeds/chefs/{booking.chef.calendar_token}.ics").content.decode()
    assert booking.reference in chef_feed
    other_chef = Chef.objects.filter(station=san_jose).exclude(pk=booking.chef_id).first()
    assert (
        booking.reference
        not in client.get(f"/feeds/chefs/{other_chef.calendar_token}.ics").content.decode()
    )
    assert client.get("/feeds/stations/not-the-token.ics").status_code == 404
