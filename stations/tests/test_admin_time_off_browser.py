"""In a real browser (issue 12, "done when"): the manager marks a chef sick today, whole day,
and on the page that follows gives the evening's event to a free chef."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.models import Booking
from conftest import PASSWORD
from stations.models import Chef, TimeOff
from testing.factories import make_booking

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.date_sensitive
def test_a_manager_marks_a_chef_sick_and_reassigns_the_event(browser, san_jose, sj_manager):
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    booking = make_booking(
        san_jose,
        now=timezone.now() - timedelta(days=7),
        days=7,
        start="18:00",
        chef=kenji,
        status="confirmed",
        adults=12,
    )
    browser.login("sj-manager", PASSWORD)

    browser.get("/admin/stations/timeoff/add/")
    browser.driver.execute_script(
        "const s = document.querySelector('select[name=chef]');"
        "s.add(new Option(arguments[1], arguments[0], true, true));"
        "s.dispatchEvent(new Event('change'));",
        str(kenji.pk),
        kenji.name,
    )
    today = booking.event_date
    browser.driver.execute_script(
        "document.querySelector('input[name=first_day]').value = arguments[0];", today.isoformat()
    )
    browser.fill("input[name=reason]", "sick")
    browser.css("input[name=_save]").click()

    browser.wait_for_text("Bookings during Kenji Tanaka's time off")
    assert booking.reference in browser.text
    assert "Kenji Tanaka is off" in browser.text
    assert "(whole day, America/Los_Angeles)" in browser.text
    browser.screenshot("chef-sick-affected")
    browser.css("input[value='Reassign to a free chef']").click()
    browser.wait_for_text("reassigned from Kenji Tanaka to")
    browser.screenshot("chef-sick-reassign")

    booking.refresh_from_db()
    assert booking.chef_id != kenji.pk
    assert Booking.objects.get(pk=booking.pk).chef.station_id == san_jose.pk
    assert TimeOff.objects.get(chef=kenji).ends_at - TimeOff.objects.get(
        chef=kenji
    ).starts_at >= timedelta(hours=23)
