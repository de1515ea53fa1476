"""Staff bookings and customers API: scoped, filterable, actions, roles, constant query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus
from bookings.tests.helpers import booking_payload
from stations.models import Chef
from testing.factories import make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

BOOKINGS = "/api/v1/staff/bookings/"


def test_list_is_scoped_to_the_users_stations(staff_client, sj_manager, san_jose, sacramento):
    mine = make_booking(san_jose)
    other = make_booking(sacramento)

    response = staff_client(sj_manager).get(BOOKINGS)

    assert response.status_code == 200
    assert [b["reference"] for b in response.json()["results"]] == [mine.reference]
    assert staff_client(sj_manager).get(f"{BOOKINGS}{other.pk}/").status_code == 404
    assert staff_client(sj_manager).post(f"{BOOKINGS}{other.pk}/confirm").status_code == 404
    other.refresh_from_db()
    assert other.status == BookingStatus.PENDING_DEPOSIT


@pytest.mark.parametrize(
    ("who", "station"),
    [
        ("sj_manager", "san-jose"),
        ("sj_agent", "san-jose"),
        ("sj_chef", "san-jose"),
        ("sac_manager", "sacramento"),
        ("sac_agent", "sacramento"),
        ("sac_chef", "sacramento"),
    ],
)
def test_each_stations_staff_list_its_bookings_only(
    request, staff_client, san_jose, sacramento, who, station
):
    user = request.getfixturevalue(who)
    cooks = {san_jose: "Kenji Tanaka", sacramento: "Hiro Sato"}  # sj_chef's and sac_chef's
    events = {
        s.slug: make_booking(s, chef=Chef.objects.get(station=s, name=name))
        for s, name in cooks.items()
    }

    listed = staff_client(user).get(BOOKINGS).json()["results"]

    assert [b["reference"] for b in listed] == [events[station].reference]


def test_owner_of_both_sees_both_and_can_filter(staff_client, owner, san_jose, sacramento):
    a = make_booking(san_jose, days=10)
    b = make_booking(sacramento, days=20)
    client = staff_client(owner)

    assert {r["reference"] for r in client.get(BOOKINGS).json()["results"]} == {
        a.reference,
        b.reference,
    }
    only_sac = client.get(BOOKINGS, {"station": "sacramento"}).json()["results"]
    assert [r["reference"] for r in only_sac] == [b.reference]
    by_date = client.get(BOOKINGS, {"date_from": b.event_date.isoformat()}).json()["results"]
    assert [r["reference"] for r in by_date] == [b.reference]
    by_status = client.get(BOOKINGS, {"status": "confirmed"}).json()["results"]
    assert by_status == []
    by_chef = client.get(BOOKINGS, {"chef": a.chef_id}).json()["results"]
    assert [r["reference"] for r in by_chef] == [a.reference]


def test_detail_has_the_status_history(staff_client, sj_manager, san_jose):
    booking = make_booking(san_jose)
    staff_client(sj_manager).post(f"{BOOKINGS}{booking.pk}/confirm", {"reason": "paid cash"})

    history = staff_client(sj_manager).get(f"{BOOKINGS}{booking.pk}/").json()["history"]

    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("", "pending_deposit"),
        ("pending_deposit", "confirmed"),
    ]
    assert history[1]["actor_label"] == "sj-manager"
    assert history[1]["reason"] == "paid cash"


def test_transitions_and_illegal_ones(staff_client, sj_agent, san_jose):
    booking = make_booking(san_jose)
    client = staff_client(sj_agent)

    assert client.post(f"{BOOKINGS}{booking.pk}/complete").status_code == 409  # not confirmed
    assert client.post(f"{BOOKINGS}{booking.pk}/confirm").json()["status"] == "confirmed"
    early = client.post(f"{BOOKINGS}{booking.pk}/no-show")
    assert early.status_code == 409  # the event has not started
    assert early.json()["error"] == "invalid_transition"
    assert client.post(f"{BOOKINGS}{booking.pk}/cancel").json()["status"] == "cancelled"
    assert client.post(f"{BOOKINGS}{booking.pk}/confirm").status_code == 409


def test_complete_after_the_event(staff_client, sj_manager, san_jose):
    booked = timezone.now() - timezone.timedelta(days=30)
    booking = make_booking(san_jose, now=booked, days=10, status="confirmed")  # 20 days ago

    response = staff_client(sj_manager).post(f"{BOOKINGS}{booking.pk}/complete")

    assert response.status_code == 200
    assert response.json()["status"] == "completed"


def test_reassign_to_a_free_chef_and_refuse_a_busy_one(staff_client, sj_manager, san_jose):
    first = make_booking(san_jose)
    second = make_booking(san_jose)  # same slot, another chef
    idle = (
        Chef.objects.filter(station=san_jose).exclude(pk__in=[first.chef_id, second.chef_id]).get()
    )
    client = staff_client(sj_manager)

    busy = client.post(f"{BOOKINGS}{first.pk}/reassign", {"chef": second.chef_id})
    assert busy.status_code == 409
    assert busy.json()["error"] == "chef_unavailable"
    moved = client.post(f"{BOOKINGS}{first.pk}/reassign", {"chef": idle.pk})
    assert moved.status_code == 200
    assert moved.json()["chef"] == idle.pk
    foreign = Chef.objects.exclude(station=san_jose).first()
    assert client.post(f"{BOOKINGS}{first.pk}/reassign", {"chef": foreign.pk}).status_code == 400


def test_staff_can_take_a_booking_by_phone(staff_client, sj_agent, san_jose, sacramento):
    client = staff_client(sj_agent)
    response = client.post(BOOKINGS, booking_payload(san_jose), format="json")
    assert response.status_code == 201
    booking = Booking.objects.get()
    assert booking.source == "staff"
    # The customer's own answer (the schema says BookingCreated): staff pass the link on.
    assert response.json()["reference"] == booking.reference
    assert services.token_matches(booking, response.json()["manage_token"])
    foreign = booking_payload(sacramento)
    foreign["address"] = {**foreign["address"], "zip_code": "95811"}
    refused = client.post(BOOKINGS, foreign, format="json")
    assert refused.status_code == 400
    assert "station" in refused.json()["fields"]


def test_chef_sees_only_own_events_and_cannot_act(staff_client, sj_chef, san_jose):
    kenji = Chef.objects.get(user=sj_chef)
    mine = make_booking(san_jose, chef=kenji)
    other = make_booking(san_jose)  # the same slot: another chef
    client = staff_client(sj_chef)

    listed = [b["reference"] for b in client.get(BOOKINGS).json()["results"]]
    assert listed == [mine.reference]
    assert client.get(f"{BOOKINGS}{other.pk}/").status_code == 404
    assert client.post(f"{BOOKINGS}{mine.pk}/confirm").status_code == 403
    assert client.get("/api/v1/staff/customers/").json()["results"] == []


def test_customers_are_scoped_and_editable(staff_client, sj_manager, san_jose, sacramento):
    mine = make_booking(san_jose, customer__name="Robin Mine").customer
    theirs = make_booking(sacramento).customer
    client = staff_client(sj_manager)

    listed = client.get("/api/v1/staff/customers/").json()["results"]
    assert [c["id"] for c in listed] == [mine.pk]
    assert client.get(f"/api/v1/staff/customers/{theirs.pk}/").status_code == 404
    found = client.get("/api/v1/staff/customers/", {"q": "robin mine"}).json()["results"]
    assert [c["id"] for c in found] == [mine.pk]
    patched = client.patch(
        f"/api/v1/staff/customers/{mine.pk}/", {"do_not_contact": True, "phone": "(408) 555-0177"}
    )
    assert patched.status_code == 200
    assert patched.json()["phone"] == "+14085550177"
    mine.refresh_from_db()
    assert mine.do_not_contact is True
    bad = client.patch(f"/api/v1/staff/customers/{mine.pk}/", {"phone": "nope"})
    assert bad.status_code == 400
    assert "phone" in bad.json()["fields"]


@pytest.mark.parametrize("url", [BOOKINGS, "/api/v1/staff/customers/"])
def test_list_query_count_does_not_grow_with_page_size(staff_client, sj_manager, san_jose, url):
    for n in range(12):
        make_booking(san_jose, days=10 + n // 3, start=["12:00", "15:00", "18:00"][n % 3])
    # Rescheduled once: their policy line prices the next change (the change fee).
    Booking.objects.filter(station=san_jose).update(reschedule_count=1)
    client = staff_client(sj_manager)

    counts = []
    for size in (1, 50):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"page_size": size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(size, 12)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_customer_email_of_another_customer_is_a_conflict(staff_client, sj_manager, san_jose):
    """409, as when the database's unique constraint refuses it in a race: the request is well
    formed, the station's customers are what it collides with."""
    first = make_booking(san_jose).customer
    second = make_booking(san_jose, days=11).customer

    response = staff_client(sj_manager).patch(
        f"/api/v1/staff/customers/{second.pk}/", {"email": first.email}
    )

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "email" in response.json()["fields"]
    second.refresh_from_db()
    assert second.email != first.email
