"""The lead page in the admin (issue 15, points 5 and 7): details saved through lead_update, the
score with each reason, the timeline, and the work forms (log a call or note, status with the
lost reason it needs, assign to a member of the station, follow-up in station time, route an
unassigned lead), with the links to the customer's conversation and the converted booking."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from bookings.services import customer_upsert
from inbox.services import conversation_for
from leads import services
from leads.models import ActivityKind, Lead, LeadStatus
from leads.services import LeadInput
from testing.admin import form_data

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

LA = ZoneInfo("America/Los_Angeles")
CLOCK = datetime(2026, 12, 9, 10, 30, tzinfo=LA)  # a Wednesday morning, in opening hours


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(CLOCK, tick=True) as traveller:
        yield traveller


@pytest.fixture
def lead(san_jose) -> Lead:
    lead, _new = services.lead_capture(
        data=LeadInput(
            name="Dana Whitfield",
            phone="+14085550177",
            email="dana@example.com",
            zip_code="95112",
            guests=12,
            event_date=CLOCK.date() + timedelta(days=24),
            message="Backyard birthday, 12 adults.",
        ),
        station=san_jose,
        first_reply=False,
    )
    return lead


def page(lead) -> str:
    return reverse("admin:leads_lead_change", args=[lead.pk])


def url(name, lead) -> str:
    return reverse(f"admin:leads_lead_{name}", args=[lead.pk])


@pytest.fixture
def agent(client, sj_agent):
    client.force_login(sj_agent)
    return client


def kinds(lead) -> list[str]:
    return list(lead.activities.order_by("created_at", "pk").values_list("kind", flat=True))


def test_the_page_shows_the_lead_its_score_reasons_and_timeline(agent, lead):
    response = agent.get(page(lead))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Dana Whitfield" in html
    assert "Backyard birthday, 12 adults." in html
    for reason in lead.score_reasons:
        assert reason["detail"] in html  # every reason, readable
    assert f"{lead.score}</span> out of 100" in html
    assert "Came in by website form, routed to san-jose." in html  # the timeline
    assert 'id="convert-lead"' in html
    assert "no conversation yet" in html
    assert "not converted" in html


def test_saving_the_details_goes_through_lead_update_and_rescores(agent, lead):
    shown = agent.get(page(lead))
    data = form_data(shown)
    data.update(guests="25", budget_cents="2500.00", phone="(408) 555-0199")

    saved = agent.post(page(lead), data)

    assert saved.status_code == 302
    lead.refresh_from_db()
    assert (lead.guests, lead.budget_cents, lead.phone) == (25, 250_000, "+14085550199")
    updated = lead.activities.get(kind=ActivityKind.UPDATED)
    assert updated.data["changed"] == ["budget_cents", "guests", "phone"]
    assert updated.actor.username == "sj-agent"
    guests = next(r for r in lead.score_reasons if r["factor"] == "guests")
    assert guests["detail"] == "25 guests"


def test_saving_the_form_unchanged_changes_nothing(agent, lead):
    before = kinds(lead)
    assert agent.post(page(lead), form_data(agent.get(page(lead)))).status_code == 302
    assert kinds(lead) == before


def test_logging_a_call_makes_a_new_lead_contacted(agent, lead):
    answer = agent.post(url("log", lead), {"kind": "call", "body": "Wants teppanyaki for 12"})

    assert answer.status_code == 302
    assert answer["Location"] == page(lead)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONTACTED
    assert lead.first_human_contact_at is not None
    assert kinds(lead)[-2:] == [ActivityKind.CALL, ActivityKind.STATUS]
    html = agent.get(page(lead)).content.decode()
    assert "Call logged." in html
    assert "Wants teppanyaki for 12" in html


def test_an_empty_note_is_a_form_error_and_nothing_is_logged(agent, lead):
    before = kinds(lead)
    answer = agent.post(url("log", lead), {"kind": "note", "body": "   "})

    assert answer.status_code == 200
    assert "Write the note first." in answer.content.decode()
    assert kinds(lead) == before


def test_lost_without_a_reason_is_a_form_error(agent, lead):
    answer = agent.post(url("status", lead), {"status": "lost", "reason": " "})

    assert answer.status_code == 200
    form = answer.context["lead_page"]["status_form"]
    assert form.errors == {"reason": ["Say why the lead was lost."]}
    assert "Say why the lead was lost." in answer.content.decode()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW
    # The page still saves its details to the lead's own address afterwards.
    assert answer.context["form_url"] == page(lead)


def test_lost_with_a_reason_and_the_moves_the_pipeline_allows(agent, lead):
    answer = agent.post(url("status", lead), {"status": "lost", "reason": "Too expensive"})

    assert answer.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.lost_reason) == (LeadStatus.LOST, "Too expensive")
    # From lost, only reopening (contacted) is offered; "won" never is (conversion makes it).
    form = agent.get(page(lead)).context["lead_page"]["status_form"]
    assert [value for value, _ in form.fields["status"].choices] == ["contacted"]
    refused = agent.post(url("status", lead), {"status": "quoted"})
    assert refused.status_code == 200
    assert "quoted is not one of the available choices" in refused.content.decode()


def test_assign_to_a_member_of_the_station_only(agent, lead, sj_manager, sac_manager):
    form = agent.get(page(lead)).context["lead_page"]["assign_form"]
    offered = {user.username for user in form.fields["assignee"].queryset}
    assert offered == {"sj-manager", "sj-agent", "demo-owner"}

    assert agent.post(url("assign", lead), {"assignee": sj_manager.pk}).status_code == 302
    lead.refresh_from_db()
    assert lead.assignee == sj_manager

    refused = agent.post(url("assign", lead), {"assignee": sac_manager.pk})
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    lead.refresh_from_db()
    assert lead.assignee == sj_manager


def test_the_follow_up_is_typed_in_station_time(agent, lead):
    day = CLOCK.date() + timedelta(days=2)
    answer = agent.post(url("follow_up", lead), {"at": f"{day}T09:30"})

    assert answer.status_code == 302
    lead.refresh_from_db()
    assert lead.follow_up_at == datetime(day.year, day.month, day.day, 9, 30, tzinfo=LA)
    assert lead.activities.filter(kind=ActivityKind.FOLLOW_UP).exists()
    bad = agent.post(url("follow_up", lead), {"at": "not a time"})
    assert bad.status_code == 200
    assert "Pick a date and a time." in bad.content.decode()
    assert agent.post(url("follow_up", lead), {"at": ""}).status_code == 302
    lead.refresh_from_db()
    assert lead.follow_up_at is None


def test_links_to_the_conversation_and_the_converted_booking(agent, lead, san_jose, sj_agent):
    customer = lead.customer or customer_upsert(
        station=san_jose, name=lead.name, email=lead.email, phone=lead.phone
    )
    Lead.objects.filter(pk=lead.pk).update(customer=customer)
    conversation = conversation_for(customer)

    html = agent.get(page(lead)).content.decode()
    assert reverse("admin:inbox_conversation_change", args=[conversation.pk]) in html

    lead = services.lead_convert(
        lead=lead,
        event_date=lead.event_date,
        start_time=datetime(2026, 1, 1, 17, 0).time(),
        adults=12,
        children=0,
        addon_codes=[],
        address={"line1": "1 Main St", "city": "San Jose", "state": "CA", "zip_code": "95112"},
        actor=services.Actor.of(sj_agent),
    )
    html = agent.get(page(lead)).content.decode()
    booking = lead.converted_booking
    assert f'href="{reverse("admin:bookings_booking_change", args=[booking.pk])}"' in html
    assert booking.reference in html
    assert 'id="convert-lead"' not in html  # converted once


def test_owners_route_an_unassigned_lead(client, owner, sacramento):
    lead, _ = services.lead_capture(
        data=LeadInput(name="Nora Nowhere", phone="+14085550107", zip_code="10001"),
        first_reply=False,
    )
    assert lead.station_id is None
    client.force_login(owner)
    shown = client.get(page(lead))
    assert shown.status_code == 200
    assert shown.context["lead_page"]["route_form"] is not None

    assert client.post(url("route", lead), {"station": sacramento.pk}).status_code == 302
    lead.refresh_from_db()
    assert lead.station == sacramento


def test_agents_cannot_route_or_see_the_unassigned_queue(agent, sacramento):
    lead, _ = services.lead_capture(
        data=LeadInput(name="Nora Nowhere", phone="+14085550107", zip_code="10001"),
        first_reply=False,
    )
    assert agent.get(page(lead)).status_code == 302  # "doesn't exist"
    assert agent.post(url("route", lead), {"station": sacramento.pk}).status_code == 404
    lead.refresh_from_db()
    assert lead.station_id is None
