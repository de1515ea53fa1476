"""In a real browser: an agent takes a phone booking for 14 guests with two add-ons and sends
the deposit link (issue 12's "done when"). Screenshots: phone-booking, deposit-link-sent."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from bookings.models import Booking, BookingSource
from bookings.scheduling import local_today
from conftest import PASSWORD
from testing.factories import CustomerFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.date_sensitive,
    pytest.mark.django_db(transaction=True),
]


def _set(browser, selector, value):
    """Set a field as a person would end up with it (date inputs ignore typed text in some
    locales), and let the page's listeners know."""
    browser.driver.execute_script(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1];"
        "el.dispatchEvent(new Event('input', {bubbles: true}));"
        "el.dispatchEvent(new Event('change', {bubbles: true}));",
        selector,
        value,
    )


def test_agent_takes_a_phone_booking_and_sends_the_deposit_link(browser, san_jose, sj_agent):
    day = local_today(san_jose) + timedelta(days=12)
    browser.login("sj-agent", PASSWORD)
    browser.get(reverse("admin:bookings_booking_changelist"))
    browser.click_text("New booking", tag="a")
    browser.wait_for_text("When and how many")

    _set(browser, "#id_event_date", day.isoformat())
    browser.fill("#id_adults", "14")
    browser.fill("#id_children", "0")
    browser.fill("#id_zip_code", "95112")
    browser.wait_for_css("#slots button.slot[data-start='17:00']").click()
    browser.css("input[name=addons][value=gyoza]").click()
    browser.css("input[name=addons][value=edamame]").click()
    browser.wait_for_text("Edamame (per person) \u00d7 14")
    browser.wait_for_text("Deposit due now")
    quote = browser.css("#quote").text
    assert "Adult \u00d7 14" in quote
    assert "Gyoza (12 pieces) \u00d7 1" in quote
    assert "$" in quote
    assert "cents" not in quote.lower()

    browser.fill("#id_phone", "408 555 0190")
    browser.fill("#id_email", "river.song@example.com")
    browser.fill("#id_name", "River Song")
    browser.fill("#id_line1", "48 Willow Ct")
    browser.fill("#id_city", "San Jose")
    browser.fill("#id_notes", "Side gate; two kids allergic to shellfish")
    assert "17:00" in browser.css("#slot-note").text
    browser.driver.execute_script("window.scrollTo(0, 0)")
    browser.screenshot("phone-booking")

    browser.css("#create-booking").click()
    browser.wait_for_text("created for River Song")
    booking = Booking.objects.get()
    assert booking.source == BookingSource.STAFF
    assert booking.guests == 14
    assert sorted(booking.addon_codes) == ["edamame", "gyoza"]
    assert booking.customer.phone == "+14085550190"

    # The success message is on the booking's page: its tools include the deposit link.
    mail.outbox.clear()
    browser.click_text("Send deposit link", tag="a")
    browser.wait_for_text("Sending a new link replaces the old one")
    browser.css("#send-deposit-link").click()
    browser.wait_for_text("Deposit link e-mailed to river.song@example.com")
    browser.screenshot("deposit-link-sent")
    assert [m.to for m in mail.outbox] == [["river.song@example.com"]]
    assert f"/booking/{booking.reference}#token=" in mail.outbox[0].body


def test_an_existing_customer_is_offered_not_overwritten(browser, san_jose, sj_agent):
    known = CustomerFactory(station=san_jose, name="Mia Known", phone="+14085550190")
    day = local_today(san_jose) + timedelta(days=12)
    browser.login("sj-agent", PASSWORD)
    browser.get(reverse("admin:bookings_booking_phone"))
    _set(browser, "#id_event_date", day.isoformat())
    browser.fill("#id_zip_code", "95112")
    browser.wait_for_css("#slots button.slot[data-start='12:00']").click()
    browser.fill("#id_phone", "(408) 555-0190")
    browser.wait_for_text("Existing customer found: Mia Known")
    browser.fill("#id_name", "Mia K.")
    browser.fill("#id_line1", "1 Elm St")
    browser.fill("#id_city", "San Jose")
    browser.driver.execute_script("window.scrollTo(0, 0)")
    browser.screenshot("phone-existing-customer")

    browser.css("#create-booking").click()  # no choice made: refused, nothing booked
    browser.wait_for_text("choose 'Use this customer' or 'Create new'")
    assert not Booking.objects.exists()
    browser.wait_for_css(f"input[name=customer_choice][value='use:{known.pk}']").click()
    browser.css("#create-booking").click()
    browser.wait_for_text("created for Mia Known")
    known.refresh_from_db()
    assert known.name == "Mia Known"
    assert Booking.objects.get().customer == known
