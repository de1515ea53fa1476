"""The booking page in a real browser (headless Chromium): a manager opens a paid booking with
some history, sees the money in dollars, the payment, the history in words and the station's
time, then the Reschedule and Cancel previews. Screenshots go to artifacts/screenshots/."""

from datetime import timedelta

import pytest
from django.urls import reverse

from bookings import services
from bookings.scheduling import local_today
from conftest import PASSWORD
from stations.models import Chef
from testing.factories import PaymentFactory, make_booking

pytestmark = [
    pytest.mark.browser,
    pytest.mark.date_sensitive,
    pytest.mark.django_db(transaction=True),
]


def test_manager_reads_a_booking_page_and_previews_cancel_and_reschedule(
    browser, san_jose, sj_manager
):
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    maria = Chef.objects.get(station=san_jose, name="Maria Lopez")
    booking = make_booking(san_jose, days=12, start="18:00", chef=kenji, adults=14, children=2)
    PaymentFactory(booking=booking, paid=True)
    services.booking_transition(
        booking=booking, to_status="confirmed", actor=services.SYSTEM, reason="deposit paid"
    )
    services.booking_reassign_chef(booking=booking, chef=maria, actor=services.SYSTEM)

    browser.login("sj-manager", PASSWORD)
    browser.get(reverse("admin:bookings_booking_change", args=[booking.pk]))
    browser.wait_for_text("Balance due")
    text = browser.text

    assert "6 p.m." in text
    assert "chef: Kenji Tanaka → Maria Lopez" in text
    assert "Payments" in text
    assert "Deposit 100.00 USD" not in text  # no row captions from the models' str()
    assert "cents" not in text.lower()
    browser.screenshot("booking-page")

    browser.get(reverse("admin:bookings_booking_changelist"))
    browser.wait_for_text("Upcoming")
    assert booking.reference in browser.text
    browser.screenshot("booking-list")

    browser.get(reverse("admin:bookings_booking_change", args=[booking.pk]))
    browser.click_text("Cancel booking", "a")
    browser.wait_for_text("What the station's policy will do")
    assert "everything paid is refunded" in browser.text
    browser.screenshot("booking-cancel-preview")

    browser.get(reverse("admin:bookings_booking_change", args=[booking.pk]))
    browser.click_text("Reschedule", "a")
    new_day = local_today(san_jose) + timedelta(days=20)
    browser.get(
        reverse("admin:bookings_booking_reschedule", args=[booking.pk])
        + f"?date={new_day.isoformat()}"
    )
    browser.wait_for_text("Free start times")
    browser.click_text("5 p.m.", "a")
    browser.wait_for_text("what the policy will do")
    assert "free reschedule" in browser.text
    browser.screenshot("booking-reschedule-preview")
    browser.css("input[name=confirm]").click()
    browser.wait_for_text("moved to")
    booking.refresh_from_db()
    assert booking.event_date == new_day
