"""The staff leads API, /api/v1/staff/leads/ (issue 15 points 6 and 7): scoped like everything
else (another station's lead is not found; chefs have no leads; the unassigned queue is the
owners'), worked through the services (status, assignment, activities, follow-up, details),
converted to a booking under the bookings rules (409 when the slot is gone or it was converted
before), and a page of the pipeline costs the same whatever its size."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.models import Booking, BookingSource
from leads import services
from leads.models import ActivityKind, Lead, LeadStatus
from testing.factories import MembershipFactory, make_booking

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/staff/leads/"
NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # 10:00 in San Jose
TODAY = date(2026, 3, 4)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


_numbers = iter(range(100, 10_000))


def lead_at(station, **fields) -> Lead:
    """A web lead, captured as the form does (routed by ZIP when no station is given)."""
    n = next(_numbers)
    data = {
        "name": f"Lead {n}",
        "email": f"lead{n}@example.com",
        "phone": f"+1408555{n:04d}",
        "zip_code": "95112" if station is None else "",
        "event_date": TODAY + timedelta(days=20),
        "guests": 12,
        **fields,
    }
    lead, _ = services.lead_capture(
        data=services.LeadInput(**data), station=station, first_reply=False
    )
    return lead


def url(lead, action="") -> str:
    return f"{LEADS}{lead.pk}/" + (f"{action}/" if action else "")


def conversion(**fields) -> dict:
    return {
        "event_date": (TODAY + timedelta(days=20)).isoformat(),
        "start_time": "17:00",
        "adults": 10,
        "children": 2,
        "address": {"line1": "1 Main St", "city": "San Jose", "state": "ca", "zip_code": "95112"},
        "notes": "Gate on the left.",
        **fields,
    }


# --- Reading and scoping ---------------------------------------------------------------------


def test_the_list_shows_the_stations_leads_with_their_score(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)

    response = staff_client(sj_agent).get(LEADS)

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == lead.pk
    assert row["station"] == "san-jose"
    assert row["status"] == "new"
    assert row["score"] == lead.score > 0
    assert row["assignee"] is None
    assert row["converted_booking"] is None


def test_the_detail_has_the_score_reasons_and_activities(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)

    body = staff_client(sj_agent).get(url(lead)).json()

    assert {r["factor"] for r in body["score_reasons"]} >= {"guests", "timing", "availability"}
    assert sum(r["points"] for r in body["score_reasons"]) == body["score"]
    assert [a["kind"] for a in body["activities"]] == ["captured"]


def test_another_stations_lead_is_not_found(staff_client, sacramento, sj_manager):
    theirs = lead_at(sacramento)
    client = staff_client(sj_manager)

    assert client.get(url(theirs)).status_code == 404
    assert client.patch(url(theirs), {"guests": 3}, format="json").status_code == 404
    answer = client.post(url(theirs, "status"), {"status": "contacted"}, format="json")
    assert answer.status_code == 404
    assert client.post(url(theirs, "convert"), conversion(), format="json").status_code == 404
    assert theirs.pk not in {row["id"] for row in client.get(LEADS).json()["results"]}
    assert Lead.objects.get(pk=theirs.pk).status == LeadStatus.NEW


def test_a_chef_has_no_leads(staff_client, san_jose, sj_chef):
    lead = lead_at(san_jose)
    client = staff_client(sj_chef)

    assert client.get(LEADS).status_code == 403
    assert client.get(f"{LEADS}metrics/").status_code == 403
    assert client.get(url(lead)).status_code == 404  # named in the URL: not found
    assert client.post(url(lead, "status"), {"status": "lost"}, format="json").status_code == 404


def test_a_chef_who_is_an_agent_elsewhere_sees_only_that_stations_leads(
    staff_client, san_jose, sacramento, sj_chef
):
    MembershipFactory(user=sj_chef, station=sacramento, role="agent")
    ours, theirs = lead_at(sacramento), lead_at(san_jose)

    response = staff_client(sj_chef).get(LEADS)

    assert {row["id"] for row in response.json()["results"]} == {ours.pk}
    assert staff_client(sj_chef).get(url(theirs)).status_code == 404


def test_the_unassigned_queue_is_the_owners(staff_client, san_jose, owner, sj_manager, sj_agent):
    nowhere = lead_at(None, zip_code="10001")
    assert nowhere.station is None

    seen_by_owner = staff_client(owner).get(LEADS, {"station": "unassigned"}).json()["results"]
    assert [row["id"] for row in seen_by_owner] == [nowhere.pk]
    assert seen_by_owner[0]["station"] is None
    for user in (sj_manager, sj_agent):
        client = staff_client(user)
        assert nowhere.pk not in {row["id"] for row in client.get(LEADS).json()["results"]}
        assert client.get(url(nowhere)).status_code == 404
    # an owner can work it, and converting it first needs a station
    answer = staff_client(owner).post(url(nowhere, "convert"), conversion(), format="json")
    assert answer.status_code == 409
    assert answer.json()["error"] == "lead_unrouted"


def test_anonymous_is_401(api_client, san_jose):
    assert api_client.get(LEADS).status_code == 401
    assert api_client.get(url(lead_at(san_jose))).status_code == 401


# --- Filters ---------------------------------------------------------------------------------


def test_filters_and_ordering(staff_client, owner, san_jose, sacramento, sj_agent):
    hot = lead_at(san_jose, guests=30, budget_cents=500_000)
    cold = lead_at(san_jose, guests=None, event_date=None, source="import")
    theirs = lead_at(sacramento, name="Sac Person")
    services.lead_assign(lead=cold, assignee=sj_agent, actor=services.SYSTEM)
    client = staff_client(owner)

    def ids(**query):
        response = client.get(LEADS, query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert set(ids(station="sacramento")) == {theirs.pk}
    assert set(ids(source="import")) == {cold.pk}
    assert set(ids(assignee=str(sj_agent.pk))) == {cold.pk}
    assert set(ids(assignee="none")) == {hot.pk, theirs.pk}
    assert set(ids(q="sac person")) == {theirs.pk}
    assert set(ids(q=theirs.phone[-7:])) == {theirs.pk}
    assert set(ids(q=theirs.email.upper())) == {theirs.pk}
    assert ids(ordering="-score")[0] == hot.pk
    assert ids(ordering="score")[0] == cold.pk
    assert ids() == [theirs.pk, cold.pk, hot.pk]  # newest first
    assert set(ids(status="new")) == {hot.pk, cold.pk, theirs.pk}
    assert ids(status="won") == []
    for bad in ({"ordering": "name"}, {"status": "open"}, {"assignee": "someone"}):
        response = client.get(LEADS, bad)
        assert response.status_code == 400, bad
        assert response.json()["error"] == "validation_error"


def test_a_page_of_the_pipeline_costs_the_same_whatever_its_size(
    staff_client, owner, san_jose, sj_agent
):
    def queries_for_a_page_of(n: int) -> int:
        while Lead.objects.count() < n:
            lead = lead_at(san_jose)
            services.lead_assign(lead=lead, assignee=sj_agent, actor=services.SYSTEM)
        client = staff_client(owner)
        client.get(LEADS)  # the token's and the roles' first reads
        with CaptureQueriesContext(connection) as queries:
            response = client.get(LEADS, {"page_size": n})
        assert len(response.json()["results"]) == n
        return len(queries)

    few = queries_for_a_page_of(2)
    many = queries_for_a_page_of(12)

    assert many == few


# --- Working a lead --------------------------------------------------------------------------


def test_status_moves_and_lost_needs_a_reason(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)
    client = staff_client(sj_agent)

    qualified = client.post(url(lead, "status"), {"status": "qualified"}, format="json")
    assert qualified.status_code == 200
    assert qualified.json()["status"] == "qualified"
    assert qualified.json()["activities"][-1]["kind"] == "status"
    assert qualified.json()["first_human_contact_at"] is not None

    no_reason = client.post(url(lead, "status"), {"status": "lost"}, format="json")
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["fields"]

    lost = client.post(
        url(lead, "status"), {"status": "lost", "reason": "Booked elsewhere"}, format="json"
    )
    assert lost.status_code == 200
    assert (lost.json()["status"], lost.json()["lost_reason"]) == ("lost", "Booked elsewhere")

    won_by_hand = client.post(url(lead, "status"), {"status": "won"}, format="json")
    assert won_by_hand.status_code == 409
    assert won_by_hand.json()["error"] == "lead_status_conflict"
    bad = client.post(url(lead, "status"), {"status": "finished"}, format="json")
    assert bad.status_code == 400
    assert "status" in bad.json()["fields"]


def test_assign_to_a_member_or_nobody_and_never_to_an_outsider(
    staff_client, san_jose, sj_manager, sj_agent, sac_manager, sj_chef
):
    lead = lead_at(san_jose)
    client = staff_client(sj_manager)

    given = client.post(url(lead, "assign"), {"assignee": sj_agent.pk}, format="json")
    assert given.status_code == 200
    assert given.json()["assignee"]["id"] == sj_agent.pk

    for outsider in (sac_manager.pk, sj_chef.pk, 10**12):
        refused = client.post(url(lead, "assign"), {"assignee": outsider}, format="json")
        assert refused.status_code == 400, outsider
        assert "assignee" in refused.json()["fields"]
    assert Lead.objects.get(pk=lead.pk).assignee == sj_agent

    nobody = client.post(url(lead, "assign"), {"assignee": None}, format="json")
    assert nobody.status_code == 200
    assert nobody.json()["assignee"] is None


def test_logging_a_call_is_contact(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)
    client = staff_client(sj_agent)

    call = client.post(url(lead, "activities"), {"kind": "call", "body": "Left a voicemail"})

    assert call.status_code == 201
    assert (call.json()["kind"], call.json()["actor"]) == ("call", sj_agent.pk)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONTACTED
    assert lead.first_human_contact_at == NOW
    empty_note = client.post(url(lead, "activities"), {"kind": "note", "body": " "})
    assert empty_note.status_code == 400
    assert "body" in empty_note.json()["fields"]
    not_by_hand = client.post(url(lead, "activities"), {"kind": "converted", "body": "x"})
    assert not_by_hand.status_code == 400


def test_follow_up_is_set_and_cleared(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)
    client = staff_client(sj_agent)

    set_ = client.post(url(lead, "follow-up"), {"at": "2026-03-05T17:00:00Z"}, format="json")
    assert set_.status_code == 200
    assert set_.json()["follow_up_at"] == "2026-03-05T17:00:00Z"
    no_offset = client.post(url(lead, "follow-up"), {"at": "2026-03-05T17:00:00"}, format="json")
    assert no_offset.status_code == 400
    cleared = client.post(url(lead, "follow-up"), {"at": None}, format="json")
    assert cleared.json()["follow_up_at"] is None


def test_patch_corrects_the_details_and_rescores(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose, guests=None)
    client = staff_client(sj_agent)

    response = client.patch(url(lead), {"guests": 25, "phone": "(408) 555-0100"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["guests"], body["phone"]) == (25, "+14085550100")
    assert body["score"] > lead.score
    assert body["activities"][-1]["kind"] == ActivityKind.UPDATED
    for bad in ({"guests": 0}, {"zip_code": "1"}, {"email": "", "phone": ""}, {"status": "won"}):
        refused = client.patch(url(lead), bad, format="json")
        assert refused.status_code == 400, bad
    assert client.put(url(lead), {"name": "X"}, format="json").status_code == 405


# --- Converting ------------------------------------------------------------------------------


def test_convert_books_the_party_and_wins_the_lead(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)

    response = staff_client(sj_agent).post(url(lead, "convert"), conversion(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    booking = Booking.objects.get()
    assert body == {
        "id": lead.pk,
        "status": "won",
        "booking_reference": booking.reference,
        "booking_status": "pending_deposit",
    }
    assert (booking.station, booking.adults, booking.children) == (san_jose, 10, 2)
    assert booking.source == BookingSource.LEAD
    assert booking.customer.email == lead.email
    lead.refresh_from_db()
    assert (lead.status, lead.converted_booking) == (LeadStatus.WON, booking)

    again = staff_client(sj_agent).post(url(lead, "convert"), conversion(), format="json")
    assert again.status_code == 409
    assert again.json()["error"] == "lead_converted"
    assert Booking.objects.count() == 1


def test_convert_is_409_when_the_slot_is_gone_and_nothing_changes(staff_client, san_jose, sj_agent):
    for _chef in range(3):  # every San Jose chef takes the 17:00 party that day
        make_booking(san_jose, days=20, start="17:00")
    lead = lead_at(san_jose)

    response = staff_client(sj_agent).post(url(lead, "convert"), conversion(), format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "slot_unavailable"
    assert set(response.json()) == {"error", "detail", "fields"}
    lead.refresh_from_db()
    assert (lead.status, lead.converted_booking) == (LeadStatus.NEW, None)
    assert Booking.objects.count() == 3


def test_convert_refuses_bad_input_with_its_fields(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)
    client = staff_client(sj_agent)

    for fields, field in (
        ({"start_time": "5pm"}, "start_time"),
        ({"adults": 0}, "adults"),
        ({"address": {"line1": "x"}}, "address"),
        ({"event_date": "2026-03-03"}, "event_date"),  # the bookings rules: too soon
        ({"nope": 1}, "nope"),
    ):
        response = client.post(url(lead, "convert"), conversion(**fields), format="json")
        assert response.status_code == 400, (fields, response.json())
        assert field in response.json()["fields"], (fields, response.json())
    assert not Booking.objects.exists()


def test_convert_with_an_idempotency_key_answers_the_same(staff_client, san_jose, sj_agent):
    lead = lead_at(san_jose)
    client = staff_client(sj_agent)

    first = client.post(
        url(lead, "convert"), conversion(), format="json", HTTP_IDEMPOTENCY_KEY="conv-1"
    )
    again = client.post(
        url(lead, "convert"), conversion(), format="json", HTTP_IDEMPOTENCY_KEY="conv-1"
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1


# --- Metrics ---------------------------------------------------------------------------------


def test_metrics_cover_the_leads_the_user_sees(staff_client, san_jose, sacramento, sj_agent):
    contacted = lead_at(san_jose)
    lead_at(san_jose, source="referral")
    lead_at(sacramento)
    with time_machine.travel(NOW + timedelta(minutes=12), tick=False):
        services.lead_log(lead=contacted, kind="call", body="Hi", actor=services.SYSTEM)

    response = staff_client(sj_agent).get(f"{LEADS}metrics/")

    assert response.status_code == 200
    body = response.json()
    assert body["by_source"] == {"web": 1, "referral": 1}  # not sacramento's
    assert body["first_contact"]["contacted"] == 1
    assert body["first_contact"]["median_minutes"] == 12.0
    assert [row["key"] for row in body["conversion_by_station"]] == ["san-jose"]

    later = staff_client(sj_agent).get(f"{LEADS}metrics/", {"since": "2026-03-05T00:00:00Z"})
    assert later.json()["by_source"] == {}
    for bad_value in ("yesterday", "", "2026-03-05T00:00:00"):
        bad = staff_client(sj_agent).get(f"{LEADS}metrics/", {"since": bad_value})
        assert bad.status_code == 400, bad_value
        assert "since" in bad.json()["fields"]


# --- Routing the unassigned queue --------------------------------------------------------------


def test_an_owner_routes_an_unassigned_lead_to_a_station_they_own(
    staff_client, owner, sacramento, sj_manager, sac_manager
):
    nowhere = lead_at(None, zip_code="10001")
    client = staff_client(owner)

    for slug in ("nowhere", "bad slug"):
        refused = client.post(url(nowhere, "route"), {"station": slug}, format="json")
        assert refused.status_code == 400, slug
        assert "station" in refused.json()["fields"]
    routed = client.post(url(nowhere, "route"), {"station": "sacramento"}, format="json")

    assert routed.status_code == 200, routed.json()
    assert routed.json()["station"] == "sacramento"
    assert routed.json()["activities"][-1]["data"] == {"station": "sacramento"}
    assert Lead.objects.get(pk=nowhere.pk).station == sacramento
    again = client.post(url(nowhere, "route"), {"station": "san-jose"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"] == "lead_routed"
    # now the station's staff see it; a manager may not route (only owners do)
    assert staff_client(sac_manager).get(url(nowhere)).status_code == 200
    by_manager = staff_client(sac_manager).post(
        url(nowhere, "route"), {"station": "sacramento"}, format="json"
    )
    assert by_manager.status_code == 403


def test_an_owner_routes_only_to_a_station_they_own(staff_client, san_jose, sacramento):
    only_sj = MembershipFactory(station=san_jose, role="owner").user
    nowhere = lead_at(None, zip_code="10001")

    response = staff_client(only_sj).post(
        url(nowhere, "route"), {"station": "sacramento"}, format="json"
    )

    assert response.status_code == 400
    assert Lead.objects.get(pk=nowhere.pk).station is None
