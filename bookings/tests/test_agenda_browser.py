"""The chef's week in a real browser: the chef signs in, lands on their week and finds the
allergies of a booking (screenshot `chef-week`)."""

import pytest
from django.urls import reverse

from bookings.tests.test_agenda import chef_event
from conftest import PASSWORD
from stations.models import Chef
from testing.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.date_sensitive]


def test_a_chef_signs_in_to_their_week_and_finds_the_allergies(browser, san_jose, sj_chef):
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    party = chef_event(
        san_jose,
        kenji,
        days=1,
        start="17:30",
        adults=12,
        children=3,
        customer=CustomerFactory(station=san_jose, name="Rosa Diaz", phone="+14085550177"),
        notes="Backyard; gate code 4321. Bring the big grill.",
        allergies="Shellfish allergy (2 guests); one gluten-free",
        paid_cents=10_000,
    )
    chef_event(
        san_jose,
        kenji,
        days=3,
        start="18:00",
        customer=CustomerFactory(station=san_jose, name="Sam Lee", phone="+14085550188"),
    )
    colleague = chef_event(
        san_jose, Chef.objects.get(station=san_jose, name="Maria Lopez"), days=1, start="17:00"
    )

    browser.login("sj-chef", PASSWORD)

    assert browser.driver.current_url.endswith(reverse("admin:index"))  # the first page
    browser.wait_for_text("Shellfish allergy")
    assert "Kenji Tanaka · San Jose" in browser.text
    box = browser.css(".allergy-box")
    assert "Shellfish allergy (2 guests); one gluten-free" in box.text
    assert box.is_displayed()
    text = browser.text
    assert party.reference in text
    assert colleague.reference not in text
    assert "Rosa Diaz" in text
    assert "$" not in text
    assert "Stripe" not in text
    tel = browser.css('a[href="tel:+14085550177"]')
    assert tel.text == "+14085550177"
    assert browser.css('a[href^="webcal://"]').text.startswith("Subscribe")
    assert browser.css('a[href^="https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2F"]')
    assert browser.css('a[href^="https://www.google.com/maps/search/?api=1&query=1%20Main"]')
    browser.screenshot("chef-week")
