"""The public lead form, POST /api/v1/leads/ (DESIGN.md §5, issue 15 point 1): routed by ZIP,
merged into the open lead, answered with only the id and status, quietly dropped when a program
filled it in, refused field by field when it is wrong (never a 500), throttled, idempotent."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from leads.models import ActivityKind, Lead, LeadActivity, LeadStatus
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"
NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # 10:00 in San Jose
TODAY = date(2026, 3, 4)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def form(**fields):
    return {
        "name": "Kim Lee",
        "email": "Kim@Example.com",
        "phone": "(408) 555-0177",
        "zip_code": "95112",  # San Jose's
        "event_date": (TODAY + timedelta(days=30)).isoformat(),
        "guests": 14,
        "message": "Birthday party in the backyard.",
        "source": "web",
        **fields,
    }


def test_a_lead_is_taken_and_answered_with_its_id_and_status_only(api_client, san_jose):
    response = api_client.post(LEADS, form(budget_cents=150000), format="json")

    assert response.status_code == 201, response.json()
    lead = Lead.objects.get()
    assert response.json() == {"id": lead.pk, "status": "new"}
    assert lead.station == san_jose  # routed by the ZIP code
    assert (lead.name, lead.email, lead.phone) == ("Kim Lee", "kim@example.com", "+14085550177")
    assert (lead.guests, lead.budget_cents, lead.source) == (14, 150000, "web")
    assert lead.event_date == TODAY + timedelta(days=30)
    assert lead.score > 0  # scored with its reasons
    assert lead.score_reasons
    assert LeadActivity.objects.get(lead=lead).kind == ActivityKind.CAPTURED


def test_the_zip_code_routes_the_lead_to_the_station_that_serves_it(api_client, sacramento):
    response = api_client.post(LEADS, form(zip_code="95811"), format="json")

    assert response.status_code == 201
    assert Lead.objects.get().station == sacramento


def test_a_station_named_takes_the_lead(api_client, sacramento):
    response = api_client.post(LEADS, form(station="sacramento"), format="json")

    assert response.status_code == 201
    assert Lead.objects.get().station == sacramento  # though San Jose serves the ZIP


def test_a_zip_code_no_station_serves_lands_in_the_unassigned_queue(api_client, world):
    response = api_client.post(LEADS, form(zip_code="10001"), format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "new"
    assert Lead.objects.get().station is None


def test_a_second_enquiry_from_the_same_person_merges_into_the_open_lead(api_client, san_jose):
    first = api_client.post(LEADS, form(guests=None), format="json")
    again = api_client.post(
        LEADS,
        form(name="K. Lee", email="", phone="408-555-0177", guests=20, message="Make it 20."),
        format="json",
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    lead = Lead.objects.get()
    assert lead.guests == 20  # what the open lead lacked is filled in
    assert lead.name == "Kim Lee"  # what it said stays
    assert LeadActivity.objects.filter(lead=lead, kind=ActivityKind.MERGED).count() == 1


def test_the_answer_never_reads_back_stored_data(api_client, san_jose):
    CustomerFactory(station=san_jose, name="Stored Name", email="kim@example.com")
    lead_before = api_client.post(LEADS, form(), format="json").json()
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.CONTACTED)

    answer = api_client.post(LEADS, form(name="Someone"), format="json")

    # Where the person is in the pipeline is not the visitor's to read: "new", as for anyone.
    assert answer.json() == {"id": lead_before["id"], "status": "new"}
    assert "Stored Name" not in answer.content.decode()
    assert "+1408" not in answer.content.decode()


def test_a_filled_honeypot_is_answered_alike_and_stores_nothing(api_client, san_jose):
    response = api_client.post(LEADS, form(website="http://spam.example"), format="json")

    assert response.status_code == 201
    assert set(response.json()) == {"id", "status"}
    assert response.json()["status"] == "new"
    assert not Lead.objects.exists()
    assert not LeadActivity.objects.exists()


def test_a_form_sent_faster_than_a_person_types_stores_nothing(api_client, san_jose):
    too_fast = api_client.post(LEADS, form(form_started_at="2026-03-04T17:59:58Z"), format="json")
    assert too_fast.status_code == 201
    assert not Lead.objects.exists()

    a_person = api_client.post(
        LEADS, form(form_started_at="2026-03-04T09:58:00-08:00"), format="json"
    )
    assert a_person.status_code == 201
    assert Lead.objects.count() == 1
    assert set(too_fast.json()) == set(a_person.json())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "", "phone": ""}, "email"),
        ({"email": "", "phone": ""}, "phone"),
        ({"email": "not-an-address"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"name": ""}, "name"),
        ({"zip_code": "9511"}, "zip_code"),
        ({"zip_code": "95112-1234"}, "zip_code"),
        ({"guests": 0}, "guests"),
        ({"guests": 501}, "guests"),
        ({"guests": "12"}, "guests"),
        ({"budget_cents": -1}, "budget_cents"),
        ({"event_date": "2026-03-03"}, "event_date"),  # yesterday in San Jose
        ({"event_date": "03/30/2026"}, "event_date"),
        ({"station": "nowhere"}, "station"),
        ({"station": "no such/slug"}, "station"),
        ({"source": "import"}, "source"),  # not the form's to claim
        ({"source": "phone"}, "source"),
        ({"form_started_at": "2026-03-04T17:00:00"}, "form_started_at"),  # no offset
        ({"extra": "field"}, "extra"),
    ],
)
def test_bad_input_is_400_with_the_field(api_client, san_jose, fields, field):
    response = api_client.post(LEADS, form(**fields), format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["fields"]
    assert not Lead.objects.exists()


def test_an_inactive_station_is_unknown(api_client, sacramento):
    sacramento.active = False
    sacramento.save()

    response = api_client.post(LEADS, form(station="sacramento"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"]["station"] == ["Unknown station."]


def test_today_is_the_stations_today(api_client, san_jose):
    """At 17:00 in San Jose on 3 March it is already 4 March in UTC: 3 March is still today."""
    with time_machine.travel(datetime(2026, 3, 4, 1, 0, tzinfo=UTC), tick=False):
        response = api_client.post(LEADS, form(event_date="2026-03-03"), format="json")

    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("body", [b"", b"[]", b'"text"', b"{", b'{"name": "\\u0000"}', b"null"])
def test_junk_bodies_are_400_never_500(api_client, world, body):
    response = api_client.generic("POST", LEADS, body, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail", "fields"}
    assert not Lead.objects.exists()


# One bad value for one field of an otherwise good form: each must be refused on that field.
BAD_VALUES = {
    "name": st.one_of(
        st.just(""), st.just("x" * 121), st.integers(), st.none(), st.lists(st.text())
    ),
    "email": st.one_of(
        st.text(alphabet="abc@. ", max_size=12).filter(
            lambda v: v.strip() and (v.count("@") != 1 or " " in v.strip())
        ),
        st.integers(),
        st.booleans(),
    ),
    "phone": st.one_of(st.from_regex(r"\A[0-9]{1,6}\Z"), st.integers(), st.just("call me")),
    "zip_code": st.one_of(
        st.from_regex(r"\A[0-9]{1,4}\Z"), st.from_regex(r"\A[0-9]{6,9}\Z"), st.integers()
    ),
    "station": st.one_of(
        st.from_regex(r"\A[a-z]{3,12}\Z").filter(lambda v: v not in ("sacramento",)), st.integers()
    ),
    "event_date": st.one_of(
        st.dates(min_value=date(2000, 1, 1), max_value=TODAY - timedelta(days=1)).map(
            date.isoformat
        ),
        st.text(max_size=10).filter(lambda v: v and "\x00" not in v),
        st.integers(),
    ),
    "guests": st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=501),
        st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: not (f.is_integer() and 1 <= f <= 500)
        ),
        st.text(),
        st.booleans(),
    ),
    "budget_cents": st.one_of(
        st.integers(max_value=-1), st.integers(min_value=100_000_001), st.text(), st.booleans()
    ),
    "source": st.text(max_size=12).filter(
        lambda v: (
            v
            not in (
                "web",
                "sms",
                "whatsapp",
                "messenger",
                "instagram",
                "email",
                "referral",
                "event",
                "other",
            )
        )
    ),
    "message": st.one_of(st.just("x" * 5001), st.integers(), st.lists(st.integers())),
    "form_started_at": st.one_of(
        st.just("yesterday"), st.just("2026-03-04T17:00:00"), st.integers()
    ),
}


@hypothesis_settings(
    max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(field=st.sampled_from(sorted(BAD_VALUES)), data=st.data())
def test_a_search_of_bad_bodies_meets_400_on_the_field_never_500(
    api_client, san_jose, settings, field, data
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": None, "lead_form": None}
    value = data.draw(BAD_VALUES[field], label=field)
    if isinstance(value, str) and "\x00" in value:
        value = value.replace("\x00", "")

    response = api_client.post(LEADS, form(**{field: value}), format="json")

    assert response.status_code == 400, (field, value, response.json())
    assert field in response.json()["fields"], (field, value, response.json())
    assert not Lead.objects.exists()


@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(
    body=st.dictionaries(
        st.sampled_from([*sorted(BAD_VALUES), "website", "zip", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=6,
        ),
        max_size=8,
    )
)
@example(body={"budget_cents": float("inf")})
@example(body={"guests": float("nan"), "name": "Kim"})
def test_any_body_is_answered_201_or_400_never_500(api_client, san_jose, settings, body):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": None, "lead_form": None}

    # Sent as a client may write it: NaN and Infinity as the bare tokens Python's json writes.
    raw = json.dumps(body, allow_nan=True)
    response = api_client.post(LEADS, raw, content_type="application/json")

    assert response.status_code in (201, 400), (body, response.content)
    assert set(response.json()) in ({"id", "status"}, {"error", "detail", "fields"})


def test_the_form_has_its_own_rate_limit(api_client, san_jose, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "lead_form": "2/min"}

    codes = [
        api_client.post(LEADS, form(email=f"p{n}@example.com", phone=""), format="json").status_code
        for n in range(3)
    ]

    assert codes == [201, 201, 429]
    assert Lead.objects.count() == 2
    assert api_client.post("/api/v1/contact/", {}, format="json").status_code != 429  # its own


def test_the_same_idempotency_key_answers_the_same(api_client, san_jose):
    first = api_client.post(LEADS, form(), format="json", HTTP_IDEMPOTENCY_KEY="lead-1")
    again = api_client.post(LEADS, form(), format="json", HTTP_IDEMPOTENCY_KEY="lead-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert LeadActivity.objects.filter(kind=ActivityKind.MERGED).count() == 0  # not run again

    other_body = api_client.post(
        LEADS, form(guests=3), format="json", HTTP_IDEMPOTENCY_KEY="lead-1"
    )
    assert other_body.status_code == 422
    assert other_body.json()["error"] == "idempotency_key_reused"


def test_nothing_of_the_visitor_reaches_the_logs(api_client, san_jose, caplog):
    caplog.set_level("DEBUG")

    api_client.post(LEADS, form(), format="json")
    api_client.post(LEADS, form(website="x", email="spam@example.com"), format="json")

    assert "kim@example.com" not in caplog.text.lower()
    assert "5550177" not in caplog.text
    assert "spam@example.com" not in caplog.text


def test_the_schema_documents_the_form(api_client):
    operation = api_client.get("/api/schema/", {"format": "json"}).json()["paths"][LEADS]["post"]

    assert {"201", "400", "409", "422", "429"} <= set(operation["responses"])
    assert "401" not in operation["responses"]
    assert {} in operation.get("security", [{}])  # no credentials
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
