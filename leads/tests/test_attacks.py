"""Attacks on the leads app (issue 15): an anonymous client on the public form, staff of another
station, a chef, an agent at an owner's task, a moving clock, races, and an operator importing
odd files. Each test names the defect it pins down, or the attack that found nothing."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from leads import services
from leads.imports import run_import
from leads.models import Lead
from leads.services import SYSTEM

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"
STAFF = "/api/v1/staff/leads/"
NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # 10:00 in San Jose
TODAY = date(2026, 3, 4)
HEADER = ["name", "email", "phone", "zip_code", "station", "event_date", "guests", "budget"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


_numbers = iter(range(100, 10_000))


def lead_at(station, **fields) -> Lead:
    n = next(_numbers)
    data = {
        "name": f"Lead {n}",
        "email": f"lead{n}@example.com",
        "phone": f"+1408555{n:04d}",
        "event_date": TODAY + timedelta(days=20),
        "guests": 12,
        **fields,
    }
    lead, _ = services.lead_capture(
        data=services.LeadInput(**data), station=station, first_reply=False
    )
    return lead


def csv_text(*rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *rows])
    return buffer.getvalue()


# --- import_leads: a bad row is refused, never the end of the import --------------------------


@pytest.mark.parametrize(
    "row",
    [
        ["NaN budget", "nan@example.com", "", "95110", "", "", "", "NaN"],
        ["sNaN budget", "snan@example.com", "", "95110", "", "", "", "sNaN"],
        ["Superscript", "sup@example.com", "", "95110", "", "", "²", ""],
        ["Long mail", "a" * 64 + "@" + ("b" * 60 + ".") * 4 + "com", "", "95110", "", "", "", ""],
        ["Nul\x00name", "nul@example.com", "", "95110", "", "", "", ""],
        ["Year one", "y1@example.com", "", "95110", "", "0001-01-01", "10", ""],
        ["Year 9999", "y9@example.com", "", "95110", "", "9999-12-31", "10", ""],
    ],
)
def test_an_odd_row_is_refused_or_taken_and_the_rows_after_it_still_import(world, row):
    text = csv_text(row, ["After", "after@example.com", "", "95110", "", "", "", ""])
    report = run_import(text=text, actor=SYSTEM)
    assert report.total == 2
    assert Lead.objects.filter(email="after@example.com").exists()


# --- The public form: odd dates never answer 500 -----------------------------------------------


@pytest.mark.parametrize("when", ["9999-12-31", "9999-12-30", "2999-01-01"])
def test_a_far_event_date_on_the_form_is_not_a_500(api_client, san_jose, when):
    body = {"name": "Kim", "email": "kim@example.com", "zip_code": "95112", "event_date": when}
    response = api_client.post(LEADS, body, format="json")
    assert response.status_code in (201, 400), response.content


@pytest.mark.parametrize("when", ["0001-01-01", "9999-12-31"])
def test_staff_patching_an_edge_date_is_not_a_500(staff_client, san_jose, sj_agent, when):
    lead = lead_at(san_jose)
    response = staff_client(sj_agent).patch(
        f"{STAFF}{lead.pk}/", {"event_date": when}, format="json"
    )
    assert response.status_code in (200, 400), response.content


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_a_follow_up_at_the_calendars_edge_does_not_break_the_pages(
    staff_client, client, san_jose, sj_agent, at
):
    lead = lead_at(san_jose)
    response = staff_client(sj_agent).post(
        f"{STAFF}{lead.pk}/follow-up/", {"at": at}, format="json"
    )
    assert response.status_code in (200, 400), response.content
    client.force_login(sj_agent)
    assert client.get("/admin/leads/lead/").status_code == 200
    assert client.get(f"/admin/leads/lead/{lead.pk}/change/").status_code == 200
    assert staff_client(sj_agent).get(f"{STAFF}{lead.pk}/").status_code == 200


# --- A task run twice at once: the same import key is one lead, never a merge into itself ------


def _hold_contact_lock(email: str):
    """Take the advisory lock lead_capture takes for this e-mail at no station, in its own
    transaction, so captures started meanwhile queue up behind it (the race made certain)."""
    import hashlib

    from django.db import connection

    key = f"lead:0:e:{email}"
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [digest])


def test_the_same_import_key_captured_twice_at_once_is_one_lead_and_no_merge(
    transactional_db, world
):
    """The inbox task (process_inbound, acks_late) or an import row run twice at once: both
    runs looked for the import key before taking the contact lock, so the second found no key,
    waited, then found the first run's lead and merged into it (a "merged" entry of itself)."""
    import threading
    import time

    from django.db import connection, transaction

    from leads.models import ActivityKind

    data = services.LeadInput(name="Kim", email="race@example.com", zip_code="10001")
    outcomes = []

    def run():
        try:
            outcomes.append(
                services.lead_capture(
                    data=data, import_key="message-424242", first_reply=False, explain=False
                )[1]
            )
        finally:
            connection.close()

    with transaction.atomic():
        _hold_contact_lock("race@example.com")
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # both are past the import key check, waiting for the lock
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == [False, True]
    lead = Lead.objects.get()
    assert not lead.activities.filter(kind=ActivityKind.MERGED).exists()


# --- Another station's staff: every lead URL is 404 -------------------------------------------


ADMIN_LEAD_URLS = [
    "change/",
    "history/",
    "delete/",
    "log/",
    "status/",
    "assign/",
    "follow-up/",
    "route/",
    "convert/",
]


@pytest.mark.parametrize("path", ADMIN_LEAD_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_stations_lead_answers_like_a_lead_that_does_not_exist(
    client, sacramento, sj_agent, path, method
):
    """The project's rule for the admin: "doesn't exist" (the change and history pages redirect
    to the index, the work pages are 404, the delete page is 403 for every lead, since nobody
    deletes one), the same answer as for an id that was never used: nothing leaks."""
    lead = lead_at(sacramento)
    client.force_login(sj_agent)

    def answer(pk):
        response = getattr(client, method)(f"/admin/leads/lead/{pk}/{path}", {"x": "1"})
        return response.status_code, response.get("Location")

    assert answer(lead.pk) == answer(lead.pk + 1000)
    assert answer(lead.pk)[0] in (302, 403, 404)
    assert answer(lead.pk)[1] in (None, "/admin/")


# --- Staff API: another station's lead is 404 on every route; a chef has none ----------------

STAFF_ROUTES = [
    ("get", ""),
    ("patch", ""),
    ("post", "status/"),
    ("post", "assign/"),
    ("post", "activities/"),
    ("post", "follow-up/"),
    ("post", "route/"),
    ("post", "convert/"),
]


@pytest.mark.parametrize(("method", "action"), STAFF_ROUTES)
def test_another_stations_lead_is_404_on_every_staff_route(
    staff_client, sacramento, sj_agent, sj_chef, method, action
):
    lead = lead_at(sacramento)
    for user in (sj_agent, sj_chef):
        response = getattr(staff_client(user), method)(
            f"{STAFF}{lead.pk}/{action}", {"status": "lost"}, format="json"
        )
        assert response.status_code == 404, (user, response.content)
    assert lead.activities.count() == 1  # nothing but its capture


def test_a_chef_sees_no_lead_of_their_own_station_anywhere(staff_client, client, san_jose, sj_chef):
    lead = lead_at(san_jose)
    api = staff_client(sj_chef)
    assert api.get(STAFF).status_code == 403
    assert api.get(f"{STAFF}metrics/").status_code == 403
    assert api.get(f"{STAFF}{lead.pk}/").status_code == 404
    client.force_login(sj_chef)
    assert client.get("/admin/leads/lead/").status_code == 403
    assert client.get(f"/admin/leads/lead/{lead.pk}/log/").status_code in (403, 404)


def test_an_agent_cannot_route_and_sees_no_unassigned_lead(staff_client, san_jose, sj_agent):
    unrouted = lead_at(None, zip_code="10001")
    own = lead_at(san_jose)
    api = staff_client(sj_agent)
    answer = api.post(f"{STAFF}{unrouted.pk}/route/", {"station": "san-jose"}, format="json")
    assert answer.status_code == 404
    answer = api.post(f"{STAFF}{own.pk}/route/", {"station": "san-jose"}, format="json")
    assert answer.status_code == 403
    unrouted.refresh_from_db()
    assert unrouted.station is None


# --- The public form: what an anonymous client can learn and change -------------------------


def test_odd_public_input_is_400_never_500(api_client, san_jose):
    for body in (
        {"name": "x" * 10_000, "email": "a@example.com"},
        {"name": "Kim", "email": "a@example.com", "station": "../admin"},
        {"name": "Kim", "email": "a@example.com", "guests": 10**30},
        {"name": "Kim", "email": "a@example.com", "budget_cents": -1},
        {"name": "Kim", "email": "a@example.com", "event_date": "\u0662\u0660\u0662\u0667-01-01"},
        {"name": "Kim\x00", "email": "a@example.com"},
        {"name": "Kim", "phone": "+1" + "9" * 30},
        {"name": "Kim", "email": "a@example.com", "form_started_at": "0001-01-01T00:00:00+14:00"},
        {"name": ["Kim"], "email": {"a": 1}},
    ):
        response = api_client.post(LEADS, body, format="json")
        assert response.status_code == 400, (body, response.content)
    assert not Lead.objects.exists()


def test_an_emoji_name_from_far_away_is_taken(api_client, san_jose):
    body = {"name": "🍤 Kim 李", "email": "kim@example.com", "zip_code": "99999"}
    response = api_client.post(LEADS, body, format="json")
    assert response.status_code == 201
    assert Lead.objects.get().station is None  # the unassigned queue


# --- The clock: escalation across a change of the clocks -------------------------------------


def test_a_lead_that_came_in_the_night_the_clocks_sprang_forward_is_due_after_opening(
    san_jose, sj_agent
):
    """Came in at 01:30 PST on 8 Mar 2026 (at 02:00 the clocks jumped to 03:00); opening at
    09:00 PDT (16:00 UTC), the 15 minutes' target falls due at 16:15 UTC, not at 17:15."""
    came = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
    with time_machine.travel(came, tick=False):
        lead = lead_at(san_jose)
    assert services.leads_escalate_stale(now=datetime(2026, 3, 8, 16, 14, tzinfo=UTC)) == 0
    assert services.leads_escalate_stale(now=datetime(2026, 3, 8, 16, 15, tzinfo=UTC)) == 1
    assert services.leads_escalate_stale(now=datetime(2026, 3, 8, 16, 15, tzinfo=UTC)) == 0
    lead.refresh_from_db()
    assert lead.escalation_level == 1
    assert services.leads_escalate_stale(now=datetime(2026, 3, 8, 16, 30, tzinfo=UTC)) == 1
    lead.refresh_from_db()
    assert lead.escalation_level == 2


# --- Two converts at once ---------------------------------------------------------------------


def test_two_converts_of_one_lead_at_once_make_one_booking(transactional_db, world):
    import threading

    from django.db import connection

    from bookings.models import Booking
    from bookings.services import Actor
    from config.exceptions import ApiError
    from stations.models import Station

    san_jose = Station.objects.get(slug="san-jose")
    lead = lead_at(san_jose)
    barrier = threading.Barrier(2)
    outcomes = []

    def convert():
        try:
            barrier.wait(5)
            services.lead_convert(
                lead=lead,
                event_date=TODAY + timedelta(days=20),
                start_time=datetime(2026, 1, 1, 17, 0).time(),
                adults=10,
                children=0,
                addon_codes=[],
                address={
                    "line1": "1 Main St",
                    "line2": "",
                    "city": "San Jose",
                    "state": "CA",
                    "zip_code": "95112",
                },
                actor=Actor(label="test"),
            )
            outcomes.append("won")
        except ApiError as exc:
            outcomes.append(exc.error_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=convert) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["lead_converted", "won"]
    assert Booking.objects.count() == 1


# --- Midnight where the party is ----------------------------------------------------------------


def test_the_forms_today_is_the_stations_around_midnight(api_client, san_jose):
    body = {"name": "Kim", "email": "kim@example.com", "station": "san-jose"}
    # 23:30 on 4 March in San Jose, already 5 March in UTC: the 4th is still today there.
    with time_machine.travel(datetime(2026, 3, 5, 7, 30, tzinfo=UTC), tick=False):
        taken = api_client.post(LEADS, {**body, "event_date": "2026-03-04"}, format="json")
    assert taken.status_code == 201
    # 00:30 on 5 March there: the 4th has passed.
    with time_machine.travel(datetime(2026, 3, 5, 8, 30, tzinfo=UTC), tick=False):
        late = api_client.post(LEADS, {**body, "event_date": "2026-03-04"}, format="json")
    assert late.status_code == 400
    assert "event_date" in late.json()["fields"]


def test_the_reminder_email_tells_the_time_in_the_stations_zone(san_jose):
    """DESIGN.md §3: everything a person reads is in the station's local time; the reminder
    said "came in 2026-03-04 18:00 UTC" for a lead that came in at 10:00 in San Jose."""
    from leads import selectors

    lead = lead_at(san_jose)
    _subject, body = selectors.reminder_text(lead_id=lead.pk, level=1)
    assert "10:00" in body
    assert "18:00" not in body


# --- The admin: actions, quick-add and the list's parameters ----------------------------------


def _action(client, action, *pks, **extra):
    return client.post(
        "/admin/leads/lead/",
        {"action": action, "_selected_action": [str(pk) for pk in pks], **extra},
    )


def test_admin_actions_never_reach_another_stations_lead(client, san_jose, sacramento, sj_agent):
    foreign = lead_at(sacramento)
    unrouted = lead_at(None, zip_code="10001")
    client.force_login(sj_agent)
    for action, extra in (
        ("assign_to_me", {}),
        ("mark_contacted", {}),
        ("mark_lost", {"apply": "1", "reason": "Spam"}),
        ("route_to_station", {"apply": "1", "station": str(san_jose.pk)}),
        ("convert_to_booking", {}),
    ):
        response = _action(client, action, foreign.pk, unrouted.pk, **extra)
        assert response.status_code in (200, 302), action
    for lead in (foreign, unrouted):
        lead.refresh_from_db()
        assert (lead.status, lead.assignee, lead.station_id) == (
            "new",
            None,
            None if lead == unrouted else sacramento.pk,
        )
        assert lead.activities.count() == 1


def test_an_agent_cannot_run_the_owners_route_action_on_their_own_lead(client, san_jose, sj_agent):
    own = lead_at(san_jose)
    client.force_login(sj_agent)
    _action(client, "route_to_station", own.pk, apply="1", station=str(san_jose.pk))
    assert own.activities.count() == 1


def test_quick_add_refuses_another_stations_id(client, sacramento, sj_agent):
    client.force_login(sj_agent)
    response = client.post(
        "/admin/leads/lead/add/",
        {"station": str(sacramento.pk), "name": "Caller", "phone": "(408) 555-0199"},
    )
    assert response.status_code == 200  # the form again, with its error
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "status=../../etc",
        "tab=%00",
        "q=%00%00",
        "station__id__exact=99999999999999999999999",
        "assignee=abc",
        "follow_up=tomorrow%00",
        "o=99",
        "p=99999",
        "source=%F0%9F%8D%A4",
        "_to_field=email&_popup=1",
    ],
)
def test_odd_list_parameters_are_never_a_500(client, san_jose, sj_agent, query):
    lead_at(san_jose)
    client.force_login(sj_agent)
    response = client.get(f"/admin/leads/lead/?{query}")
    assert response.status_code in (200, 302, 400, 404), response.status_code


@pytest.mark.parametrize(
    "query",
    [
        "q=%00",
        "status=bogus",
        "assignee=99999999999999999999999",
        "ordering=station__name",
        "station=%F0%9F%8D%A4",
        "page=0",
        "page_size=100000",
    ],
)
def test_odd_staff_list_parameters_are_never_a_500(staff_client, san_jose, sj_agent, query):
    lead_at(san_jose)
    response = staff_client(sj_agent).get(f"{STAFF}?{query}")
    assert response.status_code in (200, 400, 404), response.content


# --- Tasks run twice: the first reply, the reminders ------------------------------------------


def test_the_first_reply_task_run_twice_queues_one_message(san_jose):
    from inbox.models import Message

    lead = lead_at(san_jose)
    first = services.lead_first_reply(lead_id=lead.pk)
    again = services.lead_first_reply(lead_id=lead.pk)
    assert again == "done before"
    assert first in ("sent", "refused", "no channel")
    assert Message.objects.filter(conversation__customer__leads=lead).count() <= 1


def test_the_escalation_sweep_run_twice_reminds_once(san_jose, sj_agent, mailoutbox):
    from leads.models import ActivityKind

    lead = lead_at(san_jose)
    services.lead_assign(lead=lead, assignee=sj_agent, actor=SYSTEM)
    later = NOW + timedelta(minutes=16)
    assert services.leads_escalate_stale(now=later) == 1
    assert services.leads_escalate_stale(now=later) == 0
    assert lead.activities.filter(kind=ActivityKind.REMINDER).count() == 1


def test_anonymous_merges_cannot_grow_a_leads_message_without_end(api_client, san_jose):
    """Each public submission with the phone of an open lead appended its message (up to 5,000
    characters) to the lead's: a stranger who knew the number could grow one row, its page and
    its API answer by megabytes. The lead's message is capped; every word stays in the merge
    activities."""
    from leads.models import ActivityKind

    lead = lead_at(san_jose, message="Birthday, 12 people.")
    for n in range(6):
        body = {
            "name": "X",
            "phone": lead.phone,
            "station": "san-jose",
            "message": f"{n} " + "x " * 2000,
        }
        assert api_client.post(LEADS, body, format="json").status_code == 201
    lead.refresh_from_db()
    assert lead.message.startswith("Birthday, 12 people.")
    assert len(lead.message) <= services.MERGED_MESSAGE_MAX
    assert lead.activities.filter(kind=ActivityKind.MERGED).count() == 6


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("zip_code", "\u0669\u0665\u0661\u0661\u0660"),  # 95110 in Arabic-Indic digits
        ("event_date", "\u0662\u0660\u0662\u0666-04-11"),  # 2026 in Arabic-Indic digits
    ],
)
def test_an_import_reads_only_ascii_digits(world, column, value):
    """As the admin's forms do (DayField): a number nobody typed in ASCII is refused, not read
    as one; the ZIP code was stored in Arabic-Indic digits, which no ZIP code lookup matches."""
    row = dict(zip(HEADER, ["Kim", "kim@example.com", "", "95110", "", "", "", ""], strict=True))
    row[column] = value
    report = run_import(text=csv_text(list(row.values())), actor=SYSTEM)
    assert report.created == 0
    assert [why for _line, why in report.refused]


def test_a_reminder_never_goes_to_an_assignee_who_left_the_station(
    san_jose, sj_agent, sj_manager, mailoutbox
):
    """The stale-lead reminder e-mails the lead's name to its assignee: once the assignee has
    left the station (membership gone, or the account switched off) it went to them anyway;
    the station's managers are reminded instead."""
    from django.db import transaction as db_transaction

    from stations.models import Membership

    leaver = lead_at(san_jose)
    services.lead_assign(lead=leaver, assignee=sj_agent, actor=SYSTEM)
    Membership.objects.filter(user=sj_agent).delete()
    sj_agent.email = "agent@example.com"
    sj_agent.save()
    sj_manager.email = "manager@example.com"
    sj_manager.save()
    with db_transaction.atomic():
        assert services.leads_escalate_stale(now=NOW + timedelta(minutes=16)) == 1
    reminded = leaver.activities.get(kind="reminder").data["to"]
    assert sj_agent.get_username() not in reminded
    assert sj_manager.get_username() in reminded


def test_markup_in_a_public_lead_is_shown_as_text_in_the_admin(api_client, client, san_jose, owner):
    evil = '<img src=x onerror="alert(1)">'
    body = {"name": evil, "email": "x@example.com", "station": "san-jose", "message": evil}
    assert api_client.post(LEADS, body, format="json").status_code == 201
    lead = Lead.objects.get()
    client.force_login(owner)
    for url in ("/admin/leads/lead/", f"/admin/leads/lead/{lead.pk}/change/"):
        page = client.get(url).content.decode()
        assert "<img src=x" not in page, url


def test_a_page_of_the_staff_list_reads_leads_in_one_query_plus_its_count(
    staff_client, owner, san_jose, sacramento, sj_agent
):
    """api.py's claim: the page is one query with station, assignee and booking joined, plus
    the page's COUNT, however the page is made up (assigned, converted, unassigned leads)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for station in (san_jose, sacramento, None):
        for _ in range(3):
            lead = lead_at(station, **({"zip_code": "10001"} if station is None else {}))
            if station is not None:
                services.lead_assign(lead=lead, assignee=owner, actor=SYSTEM)
    client = staff_client(owner)
    client.get(STAFF)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(STAFF, {"page_size": 50})
    assert len(response.json()["results"]) == 9
    lead_queries = [q["sql"] for q in queries if 'FROM "leads_lead"' in q["sql"]]
    assert len(lead_queries) == 2, "\n".join(lead_queries)
