"""Today's board in a real browser: a manager signs in and the first page is the board
(screenshot `board`)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.scheduling import local_today
from conftest import PASSWORD
from testing.factories import CustomerFactory, make_booking

pytestmark = [pytest.mark.browser, pytest.mark.date_sensitive]


def test_a_manager_signs_in_to_todays_board(browser, san_jose, sacramento, sj_manager):
    booked = timezone.now() - timedelta(days=5)
    today = local_today(san_jose)
    lunch = make_booking(
        san_jose,
        now=booked,
        event_date=today,
        start="12:00",
        customer=CustomerFactory(station=san_jose, name="Rosa Diaz"),
        status="confirmed",
        paid_cents=10_000,
        allergies="Shellfish allergy",
    )
    make_booking(
        san_jose,
        now=booked,
        event_date=today,
        start="18:00",
        adults=14,
        children=4,
        customer=CustomerFactory(station=san_jose, name="The Nguyen family"),
    )
    make_booking(
        san_jose,
        now=booked,
        event_date=today + timedelta(days=1),
        start="17:30",
        allergies="Peanuts",
    )
    hold = make_booking(
        san_jose, days=12, customer=CustomerFactory(station=san_jose, name="Jo Park")
    )
    theirs = make_booking(sacramento, now=booked, event_date=local_today(sacramento))

    browser.login("sj-manager", PASSWORD)

    browser.wait_for_text("Today at San Jose")
    text = browser.text
    assert lunch.reference in text
    assert "Shellfish allergy" in text
    assert "$100.00" in text
    assert hold.reference in text.split("Unpaid holds about to expire")[1]
    assert theirs.reference not in text
    assert browser.css("#all-sections").is_displayed()
    assert browser.css('a[href="/admin/bookings/booking/"]')
    browser.screenshot("board")
