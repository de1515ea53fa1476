"""Quick-add for a phone call, the pipeline's actions and "Convert to booking" in the admin
(issue 15, points 1, 5, 6 and 7): a call becomes a lead through lead_capture (source phone,
merged into the caller's open lead), assign to me / contacted / lost with its reason / route,
and a conversion that books through the booking service (409 when the slot is gone: the error
on the form, nothing changed)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from bookings.models import Booking, BookingSource
from leads import services
from leads.models import ActivityKind, Lead, LeadSource, LeadStatus
from leads.services import LeadInput
from testing.factories import make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

LA = ZoneInfo("America/Los_Angeles")
CLOCK = datetime(2026, 12, 9, 10, 30, tzinfo=LA)  # a Wednesday morning, in opening hours
PARTY_DAY = 24  # days ahead: inside the notice and the horizon
LIST = reverse("admin:leads_lead_changelist")
ADD = reverse("admin:leads_lead_add")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(CLOCK, tick=True) as traveller:
        yield traveller


def capture(station, name, phone, **fields) -> Lead:
    lead, _new = services.lead_capture(
        data=LeadInput(name=name, phone=phone, **fields), station=station, first_reply=False
    )
    return lead


def convert_url(lead) -> str:
    return reverse("admin:leads_lead_convert", args=[lead.pk])


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def agent(client, sj_agent):
    client.force_login(sj_agent)
    return client


# --- Quick-add -------------------------------------------------------------------------------


def call(**fields) -> dict:
    return {
        "station": "",
        "name": "Pat Caller",
        "phone": "(408) 555-0190",
        "email": "",
        "zip_code": "95112",
        "event_date": (CLOCK.date() + timedelta(days=PARTY_DAY)).isoformat(),
        "guests": "14",
        "budget_cents": "1,200.00",
        "message": "Called about a graduation party.",
        **fields,
    }


def test_a_phone_call_becomes_a_lead_through_lead_capture(agent, san_jose, sj_agent):
    shown = agent.get(ADD)
    assert shown.status_code == 200
    stations = shown.context["adminform"].form.fields["station"].queryset
    assert list(stations) == [san_jose]  # only the agent's own

    answer = agent.post(ADD, call(station=san_jose.pk))

    lead = Lead.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:leads_lead_change", args=[lead.pk])
    assert (lead.source, lead.station, lead.phone) == (LeadSource.PHONE, san_jose, "+14085550190")
    assert lead.budget_cents == 120_000
    assert lead.score > 0
    assert lead.score_reasons
    came_in = lead.activities.get(kind=ActivityKind.CAPTURED)
    assert came_in.actor == sj_agent
    assert came_in.data == {"source": "phone", "routed": "san-jose"}
    assert any("added (phone call)" in text for text in said(answer))


def test_a_second_call_merges_into_the_open_lead(agent, san_jose):
    first = capture(san_jose, "Pat Caller", "+14085550190", source="web")

    answer = agent.post(ADD, call(station=san_jose.pk, guests="", message="Now 20 people"))

    assert Lead.objects.count() == 1
    assert answer["Location"] == reverse("admin:leads_lead_change", args=[first.pk])
    assert any("merged into it" in text for text in said(answer))
    first.refresh_from_db()
    assert "Now 20 people" in first.message
    assert first.activities.filter(kind=ActivityKind.MERGED).count() == 1


def test_quick_add_needs_a_way_to_call_back_and_one_of_the_users_stations(
    agent, san_jose, sacramento
):
    missing = agent.post(ADD, call(station=san_jose.pk, phone="", email=""))
    assert missing.status_code == 200
    assert "Give a phone number or an e-mail address" in missing.content.decode()

    elsewhere = agent.post(ADD, call(station=sacramento.pk))
    assert elsewhere.status_code == 200
    assert "station" in elsewhere.context["adminform"].form.errors
    assert not Lead.objects.exists()


# --- Actions ---------------------------------------------------------------------------------


def test_assign_to_me_and_mark_contacted(agent, san_jose, sj_agent):
    one = capture(san_jose, "One", "+14085550101")
    two = capture(san_jose, "Two", "+14085550102")

    agent.post(LIST, {"action": "assign_to_me", "_selected_action": [one.pk, two.pk]})
    agent.post(LIST, {"action": "mark_contacted", "_selected_action": [one.pk]})

    one.refresh_from_db()
    two.refresh_from_db()
    assert one.assignee == sj_agent
    assert two.assignee == sj_agent
    assert (one.status, two.status) == (LeadStatus.CONTACTED, LeadStatus.NEW)
    assert one.first_human_contact_at is not None


def test_mark_lost_asks_the_reason_first(agent, san_jose):
    one = capture(san_jose, "One", "+14085550101")
    two = capture(san_jose, "Two", "+14085550102")
    selected = {"action": "mark_lost", "_selected_action": [one.pk, two.pk]}

    asked = agent.post(LIST, selected)
    assert asked.status_code == 200
    assert "Why were they lost?" in asked.content.decode()
    assert 'name="_selected_action"' in asked.content.decode()

    refused = agent.post(LIST, {**selected, "apply": "Mark lost", "reason": "  "})
    assert refused.status_code == 200
    assert "Say why the leads were lost." in refused.content.decode()
    assert set(Lead.objects.values_list("status", flat=True)) == {LeadStatus.NEW}

    done = agent.post(LIST, {**selected, "apply": "Mark lost", "reason": "No reply"})
    assert done.status_code == 302
    assert set(Lead.objects.values_list("status", "lost_reason")) == {(LeadStatus.LOST, "No reply")}


def test_owners_route_unassigned_leads_agents_have_no_such_action(
    client, owner, sj_agent, sacramento
):
    lost = capture(None, "Nora Nowhere", "+14085550107", zip_code="10001")
    client.force_login(sj_agent)
    actions = client.get(LIST).context["action_form"].fields["action"].choices
    assert "route_to_station" not in dict(actions)

    client.force_login(owner)
    asked = client.post(LIST, {"action": "route_to_station", "_selected_action": [lost.pk]})
    assert asked.status_code == 200
    client.post(
        LIST,
        {
            "action": "route_to_station",
            "_selected_action": [lost.pk],
            "apply": "Route",
            "station": sacramento.pk,
        },
    )
    lost.refresh_from_db()
    assert lost.station == sacramento


def test_the_convert_action_opens_the_convert_page_for_one_lead(agent, san_jose):
    one = capture(san_jose, "One", "+14085550101")
    two = capture(san_jose, "Two", "+14085550102")

    answer = agent.post(LIST, {"action": "convert_to_booking", "_selected_action": [one.pk]})
    assert answer.status_code == 302
    assert answer["Location"] == convert_url(one)

    both = agent.post(LIST, {"action": "convert_to_booking", "_selected_action": [one.pk, two.pk]})
    assert both.status_code == 302
    assert any("one lead at a time" in text for text in said(both))


# --- Convert to booking ----------------------------------------------------------------------


@pytest.fixture
def party(san_jose) -> Lead:
    return capture(
        san_jose,
        "Dana Whitfield",
        "+14085550177",
        email="dana@example.com",
        zip_code="95112",
        guests=12,
        event_date=CLOCK.date() + timedelta(days=PARTY_DAY),
        message="Backyard birthday.",
    )


def booking_form(lead, **fields) -> dict:
    return {
        "event_date": lead.event_date.isoformat(),
        "adults": "12",
        "children": "2",
        "start_time": "17:00",
        "addons": ["gyoza"],
        "line1": "1 Main St",
        "line2": "",
        "city": "San Jose",
        "state": "ca",
        "zip_code": "95112",
        "sms_opt_in": "on",
        "notes": "Backyard birthday.",
        "allergies": "",
        "convert": "Create",
        **fields,
    }


def test_the_convert_page_is_pre_filled_from_the_lead(agent, party):
    shown = agent.get(convert_url(party))

    assert shown.status_code == 200
    form = shown.context["form"]
    assert form.initial["event_date"] == party.event_date
    assert form.initial["adults"] == 12
    assert form.initial["zip_code"] == "95112"
    assert form.initial["notes"] == "Backyard birthday."
    starts = [value for value, _ in form.fields["start_time"].widget.choices]
    assert "17:00" in starts
    assert {code for code, _ in form.fields["addons"].choices} >= {"gyoza", "lobster-tail"}


def test_show_free_times_reloads_the_slots_without_booking(agent, party, san_jose):
    far = CLOCK.date() + timedelta(days=PARTY_DAY + 1)
    answer = agent.post(
        convert_url(party), {**booking_form(party, event_date=far.isoformat()), "_refresh": "1"}
    )
    assert answer.status_code == 200
    assert answer.context["day"] == far
    assert not answer.context["form"].is_bound
    assert not Booking.objects.exists()


def test_converting_books_and_marks_the_lead_won(agent, party, sj_agent):
    answer = agent.post(convert_url(party), booking_form(party))

    booking = Booking.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:bookings_booking_change", args=[booking.pk])
    assert (booking.adults, booking.children, booking.addon_codes) == (12, 2, ["gyoza"])
    assert booking.source == BookingSource.LEAD
    assert booking.customer.sms_opt_in is True
    assert (booking.address_line1, booking.city, booking.state) == ("1 Main St", "San Jose", "CA")
    party.refresh_from_db()
    assert party.status == LeadStatus.WON
    assert party.converted_booking == booking
    assert any(f"booking {booking.reference} created" in text for text in said(answer))
    # Sent again (a double click): the booking that exists, not a second one.
    again = agent.post(convert_url(party), booking_form(party))
    assert again["Location"] == answer["Location"]
    assert Booking.objects.count() == 1


def test_a_slot_taken_meanwhile_is_a_409_on_the_form_and_changes_nothing(
    agent, party, san_jose, django_capture_on_commit_callbacks
):
    shown = agent.get(convert_url(party))
    assert "17:00" in dict(shown.context["form"].fields["start_time"].widget.choices)
    # Meanwhile every chef of the station is booked at that time (and, once committed, the
    # cached availability forgets the slot).
    with django_capture_on_commit_callbacks(execute=True):
        for phone in ("+14085550301", "+14085550302", "+14085550303"):
            make_booking(
                san_jose, event_date=party.event_date, start="17:00", customer__phone=phone
            )
    activities = party.activities.count()

    answer = agent.post(convert_url(party), booking_form(party))

    assert answer.status_code == 200
    errors = answer.context["form"].non_field_errors()
    assert errors == ["That time was just taken. Please pick another slot."]  # 409 slot_unavailable
    assert "17:00" not in dict(answer.context["form"].fields["start_time"].widget.choices)
    assert Booking.objects.count() == 3
    party.refresh_from_db()
    assert party.status == LeadStatus.NEW
    assert party.converted_booking is None
    assert party.activities.count() == activities


def test_another_stations_manager_cannot_convert(client, party, sac_manager):
    client.force_login(sac_manager)
    assert client.get(convert_url(party)).status_code == 404
    assert client.post(convert_url(party), booking_form(party)).status_code == 404
    assert not Booking.objects.exists()


# --- Odd input is refused, never a 500 -------------------------------------------------------

ODD_DATES = ["0001-01-01", "9999-12-31", "2026-02-30", "abc", "\u0662\u0660\u0662\u0667-01-01"]


@pytest.mark.parametrize("day", ODD_DATES)
def test_odd_dates_on_the_convert_page_are_form_errors(agent, party, day):
    for extra in ({}, {"_refresh": "1"}):
        answer = agent.post(convert_url(party), {**booking_form(party, event_date=day), **extra})
        assert answer.status_code == 200, (day, extra)
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"adults": "500"},
        {"adults": "0", "children": "-1"},
        {"adults": "\u00b2"},
        {"start_time": "25:99"},
        {"start_time": "03:00"},
        {"addons": ["no-such-addon"]},
        {"zip_code": "1234", "state": "California"},
        {"notes": "a\x00b", "line1": "\x00"},
    ],
)
def test_odd_bookings_are_form_errors(agent, party, fields):
    answer = agent.post(convert_url(party), booking_form(party, **fields))
    assert answer.status_code == 200
    assert answer.context["form"].errors
    party.refresh_from_db()
    assert party.status == LeadStatus.NEW


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("log", {"kind": "call", "body": "a\x00b"}),
        ("log", {"kind": "shout", "body": "x" * 6000}),
        ("status", {"status": "won"}),
        ("status", {"status": "lost", "reason": "\x00" * 3}),
        ("assign", {"assignee": "\u0661"}),
        ("assign", {"assignee": "99999999999999999999999"}),
        ("follow_up", {"at": "9999-12-31T23:59"}),
        ("follow_up", {"at": "0001-01-01T00:00"}),
        ("follow_up", {"at": "2026-03-08T02:30"}),  # the clocks skip it in California
        ("follow_up", {"at": "2026-13-01T10:00"}),
        ("route", {"station": "abc"}),
    ],
)
def test_odd_work_forms_are_refused_never_a_500(agent, party, name, data):
    before = list(party.activities.values_list("pk", flat=True))
    answer = agent.post(reverse(f"admin:leads_lead_{name}", args=[party.pk]), data)
    assert answer.status_code in (200, 302, 403), answer.status_code
    if answer.status_code == 200:
        assert list(party.activities.values_list("pk", flat=True)) == before


def test_odd_quick_adds_are_form_errors(agent, san_jose):
    for fields in (
        {"phone": "not a phone"},
        {"email": "nope", "phone": ""},
        {"guests": "0"},
        {"guests": "100000"},
        {"budget_cents": "12.345"},
        {"zip_code": "9511"},
        {"event_date": "9999-99-99"},
        {"event_date": "\u0662\u0660\u0662\u0667-01-01"},
        {"name": "\x00 "},
    ):
        answer = agent.post(ADD, call(station=san_jose.pk, **fields))
        assert answer.status_code == 200, fields
    assert not Lead.objects.exists()
