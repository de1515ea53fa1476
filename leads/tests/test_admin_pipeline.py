"""The leads pipeline list in the admin (issue 15, point 7): status tabs with their counts, the
owners' unassigned queue, the columns (score with its reasons, how long ago a lead came in, red
past the station's response target), filters, search, ordering, who sees what (chefs nothing,
another station's lead never), and a query count that does not grow with the page, served by
the (station, status) index."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads import services
from leads.models import Lead, LeadStatus
from leads.services import LeadInput
from stations.models import Role
from testing.factories import MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

LA = ZoneInfo("America/Los_Angeles")
# A Wednesday morning, inside the stations' opening hours (9:00-21:00).
CLOCK = datetime(2026, 12, 9, 10, 30, tzinfo=LA)
LIST = reverse("admin:leads_lead_changelist")


@pytest.fixture
def clock():
    with time_machine.travel(CLOCK, tick=False) as traveller:
        yield traveller


def capture(station, name, phone="", **fields) -> Lead:
    lead, _new = services.lead_capture(
        data=LeadInput(name=name, phone=phone, **fields), station=station, first_reply=False
    )
    return lead


def as_user(client, user):
    client.force_login(user)
    return client


def listed(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return [lead.name for lead in response.context["cl"].result_list]


def tabs(response) -> dict[str, int]:
    return {tab["value"]: tab["count"] for tab in response.context["lead_tabs"]}


@pytest.fixture
def pipeline(clock, san_jose, sacramento, sj_agent, sj_manager):
    """San Jose: two new leads, one contacted, one quoted, one won-like (lost here), one lost;
    Sacramento: one new; and one lead no station serves."""
    agent = services.Actor.of(sj_agent)
    leads = {
        "ana": capture(san_jose, "Ana New", "+14085550101", guests=20, zip_code="95112"),
        "ben": capture(san_jose, "Ben New", "+14085550102", guests=6),
        "cam": capture(san_jose, "Cam Contacted", "+14085550103", guests=12),
        "dee": capture(san_jose, "Dee Quoted", "+14085550104"),
        "eve": capture(san_jose, "Eve Lost", "+14085550105"),
        "sac": capture(sacramento, "Sal Sacramento", "+19165550106"),
        "nowhere": capture(None, "Nora Nowhere", "+14085550107", zip_code="10001"),
    }
    services.lead_set_status(lead=leads["cam"], status=LeadStatus.CONTACTED, actor=agent)
    services.lead_set_status(lead=leads["dee"], status=LeadStatus.QUOTED, actor=agent)
    services.lead_set_status(
        lead=leads["eve"], status=LeadStatus.LOST, reason="Booked another caterer", actor=agent
    )
    services.lead_assign(lead=leads["ana"], assignee=sj_agent, actor=agent)
    services.lead_assign(lead=leads["cam"], assignee=sj_manager, actor=agent)
    return leads


# --- Tabs and counts -------------------------------------------------------------------------


def test_the_tabs_count_each_status_of_the_users_stations(client, pipeline, sj_agent):
    response = as_user(client, sj_agent).get(LIST)

    assert tabs(response) == {
        "open": 4,
        "new": 2,
        "contacted": 1,
        "qualified": 0,
        "quoted": 1,
        "won": 0,
        "lost": 1,
    }
    current = [tab["value"] for tab in response.context["lead_tabs"] if tab["current"]]
    assert current == ["open"]
    # Open leads, open first by score (Ana: 20 guests, routed ZIP), then newest.
    assert listed(response) == ["Ana New", "Cam Contacted", "Ben New", "Dee Quoted"]
    html = response.content.decode()
    assert 'id="tab-lost"' in html
    assert 'Lost<span class="count">1</span>' in html
    assert "Unassigned" not in html  # the queue is the owners'


def test_a_tab_lists_its_status_and_keeps_the_other_filters(client, pipeline, sj_agent):
    client = as_user(client, sj_agent)

    assert listed(client.get(LIST, {"status": "lost"})) == ["Eve Lost"]
    assert listed(client.get(LIST, {"status": "contacted"})) == ["Cam Contacted"]
    mine = client.get(LIST, {"assignee": "mine"})
    assert listed(mine) == ["Ana New"]
    # The counts are those of the list as filtered (here: the agent's own leads).
    assert tabs(mine)["open"] == 1
    assert tabs(mine)["new"] == 1
    assert tabs(mine)["contacted"] == 0
    lost_tab = next(t for t in mine.context["lead_tabs"] if t["value"] == "lost")
    assert "assignee=mine" in lost_tab["url"]
    assert "status=lost" in lost_tab["url"]


def test_owners_see_the_unassigned_queue(client, pipeline, owner, sj_agent):
    response = as_user(client, owner).get(LIST)

    counts = tabs(response)
    assert counts["unassigned"] == 1
    assert counts["open"] == 6  # both stations' open leads and the unrouted one
    assert listed(client.get(LIST, {"status": "unassigned"})) == ["Nora Nowhere"]
    # An agent asking for the queue gets nothing from it.
    other = as_user(type(client)(), sj_agent)
    assert listed(other.get(LIST, {"status": "unassigned"})) == []
    assert "Nora Nowhere" not in listed(other.get(LIST, {"status": "new"}))


def test_the_counts_are_one_query_of_pipeline_counts(client, pipeline, sj_agent):
    client = as_user(client, sj_agent)
    with CaptureQueriesContext(connection) as queries:
        client.get(LIST)
    grouped = [q["sql"] for q in queries if 'AS "unrouted"' in q["sql"]]
    assert len(grouped) == 1, grouped


# --- Columns -----------------------------------------------------------------------------------


def test_came_in_turns_red_after_the_stations_target_with_nobody_contacting(
    client, clock, san_jose, sj_agent
):
    waiting = capture(san_jose, "Wes Waiting", "+14085550111")
    called = capture(san_jose, "Cal Called", "+14085550112")
    services.lead_log(
        lead=called, kind="call", body="Left a voicemail", actor=services.Actor.of(sj_agent)
    )
    client = as_user(client, sj_agent)

    clock.shift(timedelta(minutes=12))
    html = client.get(LIST).content.decode()
    assert "12 min ago" in html
    assert 'class="lead-late"' not in html  # inside the 15-minute target

    clock.shift(timedelta(minutes=4))
    response = client.get(LIST)
    html = response.content.decode()
    row = {lead.name: lead for lead in response.context["cl"].result_list}
    assert set(row) == {"Wes Waiting", "Cal Called"}
    assert html.count('class="lead-late"') == 1
    late = html[html.index('class="lead-late"') :][:200]
    assert "16 min ago" in late
    assert "Nobody has contacted it yet" in late
    waiting.refresh_from_db()
    assert waiting.first_human_contact_at is None


def test_the_target_counts_opening_hours_only(client, san_jose, sj_agent):
    """A lead that came in at night is not late until the target has passed after opening."""
    night = datetime(2026, 12, 9, 23, 0, tzinfo=LA)
    with time_machine.travel(night, tick=False) as traveller:
        capture(san_jose, "Nia Night", "+14085550113")
        traveller.move_to(datetime(2026, 12, 10, 9, 10, tzinfo=LA))
        client = as_user(client, sj_agent)
        assert 'class="lead-late"' not in client.get(LIST).content.decode()
        traveller.move_to(datetime(2026, 12, 10, 9, 16, tzinfo=LA))
        assert 'class="lead-late"' in client.get(LIST).content.decode()


def test_the_score_shows_its_reasons(client, clock, san_jose, sj_agent):
    day = CLOCK.date() + timedelta(days=21)
    capture(san_jose, "Sky Scored", "+14085550114", guests=20, event_date=day, zip_code="95112")
    html = as_user(client, sj_agent).get(LIST).content.decode()

    lead = Lead.objects.get(name="Sky Scored")
    assert f'score-badge score-hot">{lead.score}<' in html
    assert "Party size 20/20: 20 guests" in html  # the tooltip
    assert "Timing 20/20: In 21 days: ready to book" in html
    assert "<b>Availability</b> 15/15" in html  # the list a click opens


def test_an_overdue_follow_up_is_red(client, clock, san_jose, sj_agent):
    lead = capture(san_jose, "Fay Follow", "+14085550115")
    services.lead_set_follow_up(
        lead=lead, at=CLOCK + timedelta(hours=1), actor=services.Actor.of(sj_agent)
    )
    client = as_user(client, sj_agent)
    html = client.get(LIST).content.decode()
    assert "Dec. 9, 11:30 a.m." in html
    assert 'title="Overdue"' not in html

    clock.shift(timedelta(hours=2))
    assert 'title="Overdue"' in client.get(LIST).content.decode()
    assert listed(client.get(LIST, {"follow_up": "overdue"})) == ["Fay Follow"]
    assert listed(client.get(LIST, {"follow_up": "none"})) == []


# --- Filters and search ----------------------------------------------------------------------


def test_filters_by_source_assignee_and_station(client, pipeline, owner, sj_agent, sj_manager):
    client = as_user(client, owner)

    assert set(listed(client.get(LIST, {"assignee": "nobody"}))) == {
        "Ben New",
        "Dee Quoted",
        "Sal Sacramento",
        "Nora Nowhere",
    }
    assert listed(client.get(LIST, {"assignee": str(sj_manager.pk)})) == ["Cam Contacted"]
    station = pipeline["sac"].station_id
    assert listed(client.get(LIST, {"station": str(station)})) == ["Sal Sacramento"]
    capture(pipeline["ana"].station, "Pat Phone", "+14085550120", source="phone")
    assert listed(client.get(LIST, {"source__exact": "phone"})) == ["Pat Phone"]


def test_search_by_name_email_or_a_phone_typed_any_way(client, pipeline, sj_agent):
    capture(pipeline["ana"].station, "Quinn Mail", email="quinn@example.com")
    client = as_user(client, sj_agent)

    assert listed(client.get(LIST, {"q": "ben"})) == ["Ben New"]
    assert listed(client.get(LIST, {"q": "QUINN@example"})) == ["Quinn Mail"]
    assert listed(client.get(LIST, {"q": "(408) 555-0101"})) == ["Ana New"]
    assert listed(client.get(LIST, {"q": "Sal"})) == []  # another station's
    assert client.get(LIST, {"q": "a\x00b"}).status_code == 200


# --- Who sees what ---------------------------------------------------------------------------


def test_chefs_have_no_leads_admin(client, pipeline, sj_chef):
    client = as_user(client, sj_chef)

    assert client.get(LIST).status_code == 403
    assert client.get(reverse("admin:leads_lead_add")).status_code == 403
    page = reverse("admin:leads_lead_change", args=[pipeline["ana"].pk])
    assert client.get(page).status_code == 403
    assert "leads" not in {app["app_label"] for app in client.get("/admin/").context["app_list"]}


def test_a_chef_at_one_station_and_agent_at_another_sees_only_the_second(
    client, pipeline, san_jose, sacramento
):
    user = get_user_model().objects.create_user("mixed", password="x", is_staff=True)
    MembershipFactory(user=user, station=san_jose, role=Role.CHEF)
    MembershipFactory(user=user, station=sacramento, role=Role.AGENT)
    client = as_user(client, user)

    assert listed(client.get(LIST)) == ["Sal Sacramento"]
    page = client.get(reverse("admin:leads_lead_change", args=[pipeline["ana"].pk]))
    assert page.status_code == 302
    assert page["Location"] == reverse("admin:index")


def test_another_stations_lead_is_not_found(client, pipeline, sac_manager):
    client = as_user(client, sac_manager)
    ana = pipeline["ana"]

    assert listed(client.get(LIST)) == ["Sal Sacramento"]
    assert listed(client.get(LIST, {"q": "Ana"})) == []
    page = client.get(reverse("admin:leads_lead_change", args=[ana.pk]))
    assert page.status_code == 302
    assert page["Location"] == reverse("admin:index")
    for name in ("convert", "log", "status", "assign", "follow_up"):
        url = reverse(f"admin:leads_lead_{name}", args=[ana.pk])
        assert client.get(url).status_code == 404, name
        assert (
            client.post(url, {"kind": "call", "status": "lost", "reason": "x"}).status_code == 404
        )
    client.post(LIST, {"action": "mark_contacted", "_selected_action": [ana.pk]})
    ana.refresh_from_db()
    assert ana.status == LeadStatus.NEW
    assert ana.activities.count() == 2  # came in, assigned: nothing from Sacramento


# --- Query count and the index ---------------------------------------------------------------


def _many_leads(stations, people, count: int, statuses=None) -> None:
    """`count` leads spread over the stations (and the unassigned queue), assignees and
    statuses, as rows (the list only reads them)."""
    statuses = statuses or [LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUOTED]
    reasons = [{"factor": "guests", "points": 12, "max": 20, "detail": "8 guests"}]
    Lead.objects.bulk_create(
        Lead(
            station=stations[i % len(stations)],
            assignee=people[i % len(people)] if stations[i % len(stations)] else None,
            name=f"Lead {i:03d}",
            phone=f"+1408555{1000 + i:04d}",
            guests=8,
            event_date=date(2027, 1, 10),
            score=40 + i % 50,
            score_reasons=reasons,
            status=statuses[i % len(statuses)],
            lost_reason="No reply" if statuses[i % len(statuses)] == LeadStatus.LOST else "",
            follow_up_at=CLOCK + timedelta(hours=i),
        )
        for i in range(count)
    )


def _list_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST)
    assert response.status_code == 200
    return [q["sql"] for q in queries]


@pytest.mark.parametrize("persona", ["owner", "sj_agent"])
def test_the_lists_query_count_does_not_grow_with_the_page(
    client, clock, request, persona, san_jose, sacramento, owner, sj_agent, sj_manager
):
    """5 leads on the page or a full page of 50 (of more), the same queries: each column reads
    its row (and the station and assignee joined to it), the tab counts are one GROUP BY, no
    full count."""
    user = request.getfixturevalue(persona)
    stations, people = [san_jose, sacramento, None], [sj_agent, sj_manager, owner]
    client = as_user(client, user)

    _many_leads(stations, people, 15)  # 5 for the agent (san-jose's)
    few = _list_queries(client)
    assert len(client.get(LIST).context["cl"].result_list) == (15 if persona == "owner" else 5)
    _many_leads(stations, people, 165)
    many = _list_queries(client)

    assert len(client.get(LIST).context["cl"].result_list) == 50
    assert len(many) == len(few), "\n".join(many)
    # ...and none of them reads every lead: the rows come a page at a time, the rest count.
    for sql in many:
        if 'FROM "leads_lead"' in sql:
            assert "COUNT(" in sql or "LIMIT" in sql, sql


def _plan(sql: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is small: insist
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside the test's transaction
def test_the_station_status_index_serves_the_pipeline(
    client, clock, san_jose, sacramento, sj_agent
):
    """The list's rows, its count and the tab counts all filter by station and status: the
    planner reads them through lead_station_status_idx (the seed's index, DESIGN.md §4). A test
    table is small, so sequential scans are switched off: which index then serves the query is
    what the planner would pick on a big table."""
    # A pipeline as it grows: most leads were lost long ago, a page and more are open, and
    # other stations have theirs.
    lost = [LeadStatus.LOST] * 8
    _many_leads([san_jose, sacramento], [sj_agent], 1200, statuses=[*lost, LeadStatus.NEW])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")
    queries = [q for q in _list_queries(as_user(client, sj_agent)) if 'FROM "leads_lead"' in q]

    rows = next(q for q in queries if "ORDER BY" in q and "LIMIT" in q)
    counts = next(q for q in queries if 'AS "unrouted"' in q)
    total = next(q for q in queries if "COUNT(*)" in q and "GROUP BY" not in q)
    for sql in (rows, counts, total):
        plan = _plan(sql)
        assert "lead_station_status_idx" in plan, f"{sql}\n{plan}"
    # The tab counts read the index alone (station and status are all they need).
    assert "Index Only Scan using lead_station_status_idx" in _plan(counts)
