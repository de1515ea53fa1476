"""In a real browser: an agent opens the leads pipeline, opens the best lead, logs the call they
just made and converts the lead to a booking (issue 15's admin). Screenshots: leads-pipeline,
leads-lead (copied to docs/screenshots/), leads-convert."""

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from bookings.scheduling import local_today
from bookings.services import customer_upsert
from conftest import PASSWORD
from inbox.services import conversation_for
from leads import services
from leads.models import ActivityKind, Lead, LeadStatus
from leads.services import LeadInput
from stations.models import Station

pytestmark = [
    pytest.mark.browser,
    pytest.mark.date_sensitive,
    pytest.mark.django_db(transaction=True),
]


def _capture(station, name, phone, **fields) -> Lead:
    return services.lead_capture(
        data=LeadInput(name=name, phone=phone, **fields), station=station, first_reply=False
    )[0]


def _pipeline(san_jose, sj_agent, sj_manager) -> Lead:
    """A morning's pipeline at San Jose; Dana (a customer who wrote to the inbox before) is
    the best lead."""
    # Staff answer around the clock here, so the lead nobody called for two hours is late
    # whenever the test runs.
    Station.objects.filter(pk=san_jose.pk).update(
        opening_time=time(0, 0), closing_time=time(23, 59)
    )
    today = local_today(san_jose)
    agent = services.Actor.of(sj_agent)
    customer = customer_upsert(
        station=san_jose, name="Dana Whitfield", email="dana@example.com", phone="+14085550177"
    )
    conversation_for(customer)
    dana = _capture(
        san_jose,
        "Dana Whitfield",
        "+14085550177",
        email="dana@example.com",
        zip_code="95112",
        guests=14,
        event_date=today + timedelta(days=24),
        budget_cents=150_000,
        message="Backyard birthday for my husband, 14 adults. Is a Saturday evening free?",
    )
    waiting = _capture(
        san_jose, "Marco Reyes", "+14085550121", zip_code="95125", guests=8, source="sms"
    )
    Lead.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(hours=2))
    quoted = _capture(
        san_jose,
        "Priya Shah",
        "+14085550122",
        email="priya@example.com",
        zip_code="95014",
        guests=20,
        event_date=today + timedelta(days=40),
        source="referral",
    )
    services.lead_set_status(lead=quoted, status=LeadStatus.QUOTED, actor=agent)
    services.lead_assign(lead=quoted, assignee=sj_manager, actor=agent)
    services.lead_set_follow_up(
        lead=quoted, at=timezone.now() + timedelta(days=1, hours=2), actor=agent
    )
    contacted = _capture(
        san_jose, "Tom Becker", "+14085550123", guests=10, event_date=today + timedelta(days=70)
    )
    services.lead_log(lead=contacted, kind="call", body="Thinking about June", actor=agent)
    services.lead_assign(lead=contacted, assignee=sj_agent, actor=agent)
    lost = _capture(san_jose, "Kim Lo", "+14085550124", guests=4)
    services.lead_set_status(lead=lost, status=LeadStatus.LOST, reason="Too expensive", actor=agent)
    return dana


def test_agent_logs_a_call_and_converts_the_lead_to_a_booking(
    browser, san_jose, sj_agent, sj_manager
):
    from selenium.webdriver.support.ui import Select

    dana = _pipeline(san_jose, sj_agent, sj_manager)

    browser.login("sj-agent", PASSWORD)
    browser.get(reverse("admin:leads_lead_changelist"))
    browser.wait_for_css("#lead-tabs")
    assert browser.css("#tab-open .count").text == "4"
    assert browser.css("#tab-lost .count").text == "1"
    rows = [row.text for row in browser.all_css("#result_list tbody tr")]
    assert rows[0].startswith("Dana Whitfield")  # the best score first
    assert len(rows) == 4  # the open ones
    assert browser.css("#result_list .lead-late").text == "2 h ago"  # Marco: nobody called
    browser.css("#toggle-nav-sidebar").click()  # the list's room (the sidebar stays closed)
    browser.screenshot("leads-pipeline")

    browser.click_text("Dana Whitfield", tag="span")
    browser.wait_for_css("#log-form")
    assert "Open the conversation" in browser.css("#lead-facts").text
    browser.fill("#lead-log-body", "Called back: Saturday at 5 pm suits them, 14 adults.")
    browser.css("#log-submit").click()
    browser.wait_for_text("Call logged.")
    assert browser.css("#lead-status").text.startswith("Contacted")
    assert "Called back: Saturday at 5 pm suits them" in browser.css(".lead-timeline").text
    browser.screenshot("leads-lead")

    browser.css("#convert-lead").click()
    browser.wait_for_css("#convert-form")
    start = Select(browser.css("#id_start_time"))
    wanted = "5:00 PM"
    options = [option.text for option in start.options]
    start.select_by_visible_text(wanted if wanted in options else options[0])
    browser.fill("#id_line1", "1520 Lincoln Ave")
    browser.screenshot("leads-convert")
    browser.css("#convert-submit").click()
    browser.wait_for_text("is won: booking")

    dana.refresh_from_db()
    assert dana.status == LeadStatus.WON
    booking = Booking.objects.get(pk=dana.converted_booking_id)
    assert booking.address_line1 == "1520 Lincoln Ave"
    assert booking.adults == 14
    assert booking.reference in browser.text
    assert dana.activities.filter(kind=ActivityKind.CALL).count() == 1
