"""`manage.py seed_demo`: the demo data people try the product with (DESIGN.md §6).

Seeding takes a second or two (it books demo events), so each test seeds as few times as it can.
"""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from bookings.models import AddOn, Booking, BookingEvent, BookingStatus, Notification, PriceList
from payments.models import Payment, PaymentKind, PaymentStatus, Refund, RefundStatus, StripeEvent
from stations.models import Chef, Membership, ServiceZone, Station

pytestmark = pytest.mark.django_db

DEMO_USERS = ["admin", "demo-owner", "sj-manager", "sj-agent", "sj-chef", "sac-manager"]
EXPECTED_ROLES = {
    ("demo-owner", "san-jose"): "owner",
    ("demo-owner", "sacramento"): "owner",
    ("sj-manager", "san-jose"): "manager",
    ("sj-agent", "san-jose"): "agent",
    ("sj-chef", "san-jose"): "chef",
    ("sac-manager", "sacramento"): "manager",
}


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = [
        Station,
        ServiceZone,
        Chef,
        get_user_model(),
        Membership,
        PriceList,
        AddOn,
        Booking,
        BookingEvent,
        Payment,
        Refund,
        StripeEvent,
        Notification,
    ]
    return {model.__name__: model.objects.count() for model in models}


def test_seed_creates_the_documented_demo_and_is_idempotent(settings, api_client):
    settings.DEBUG = True
    output = seed()

    lines = output.strip().splitlines()
    for step in [
        "stations, zones and chefs",
        "users and memberships",
        "price lists",
        "bookings and their payments",
    ]:
        assert any(step in line for line in lines), output
    assert "Demo data ready" in lines[-1]

    stations = {s.slug: s for s in Station.objects.all()}
    assert set(stations) == {"san-jose", "sacramento"}
    for station in stations.values():
        assert station.timezone == "America/Los_Angeles"
        assert station.active
        assert station.chefs.filter(active=True).count() == 3
        assert station.zones.exists()
        assert PriceList.objects.filter(station=station).exists()
        assert station.addons.count() == 5
        station.full_clean()  # the demo obeys the model's own rules

    roles = {
        (m.user.username, m.station.slug): m.role
        for m in Membership.objects.select_related("user", "station")
    }
    assert roles == EXPECTED_ROLES
    superusers = get_user_model().objects.filter(is_superuser=True)
    assert [u.username for u in superusers] == ["admin"]
    assert Chef.objects.get(user__username="sj-chef").station == stations["san-jose"]

    client = Client()
    for username in DEMO_USERS:
        assert client.login(username=username, password="hibachi-demo"), username
    response = api_client.post(
        "/api/v1/auth/token", {"username": "sj-manager", "password": "hibachi-demo"}
    )
    assert response.status_code == 200

    # Idempotent: a second run changes no counts and puts edited demo rows back.
    first = counts()
    Station.objects.filter(slug="san-jose").update(name="Renamed", active=False)
    seed()
    assert counts() == first
    station = Station.objects.get(slug="san-jose")
    assert (station.name, station.active) == ("San Jose", True)


def test_seed_refuses_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    before = counts()
    with pytest.raises(CommandError, match="DEBUG"):
        seed()
    assert counts() == before

    seed("--force", "--password", "another-secret-42")
    assert Station.objects.count() == 2
    client = Client()
    for username in DEMO_USERS:
        assert client.login(username=username, password="another-secret-42"), username
        assert not client.login(username=username, password="hibachi-demo")


@pytest.mark.parametrize("password", ["", "   "])
def test_seed_refuses_a_blank_password(settings, password):
    settings.DEBUG = True
    before = counts()
    with pytest.raises(CommandError, match="blank"):
        seed("--password", password)
    assert counts() == before


# --- Demo data tells the truth (issue 12, point 10) ------------------------------------------


def money_problems(booking: Booking) -> list[str]:
    """Where a booking's history or money fields claim money its payment and refund rows don't
    hold (empty: it tells the truth)."""
    ref = booking.reference
    problems = []
    payments = list(booking.payments.all())
    paid = [p for p in payments if p.succeeded]
    refund_rows = list(Refund.objects.filter(payment__booking=booking))
    deposits = [p for p in paid if p.kind == PaymentKind.DEPOSIT]
    deposit_is_paid = len(deposits) == 1 and deposits[0].amount_cents == booking.deposit_cents
    for line in booking.events.all():
        reason = line.reason.lower()
        if "deposit paid" in reason and not deposit_is_paid:
            problems.append(f"{ref}: history says {line.reason!r}, no paid deposit of it")
        if "balance requested" in reason:
            asked = line.data.get("amount_cents")
            intent = line.data.get("payment_intent")
            if not any(
                p.kind == PaymentKind.BALANCE
                and p.amount_cents == asked
                and p.stripe_payment_intent_id == intent
                for p in payments
            ):
                problems.append(f"{ref}: history says balance of {asked} asked, no such payment")
        if line.to_status == BookingStatus.CANCELLED and line.data.get("policy"):
            promised = line.data["policy"].get("refund_cents", 0)
            given = sum(r.amount_cents for r in refund_rows if r.status != RefundStatus.FAILED)
            if promised != given:
                problems.append(f"{ref}: cancelled with {promised} to refund, refunds {given}")
        if "paid" in reason and "deposit paid" not in reason and not paid:
            problems.append(f"{ref}: history says {line.reason!r} with no paid payment")
    if booking.amount_paid_cents != sum(p.amount_cents for p in paid):
        problems.append(f"{ref}: amount paid {booking.amount_paid_cents} != its paid payments")
    refunded = sum(p.amount_refunded_cents for p in paid)
    succeeded_refunds = sum(r.amount_cents for r in refund_rows if r.status == "succeeded")
    if not booking.amount_refunded_cents == refunded == succeeded_refunds:
        problems.append(
            f"{ref}: amount refunded {booking.amount_refunded_cents}, payments say {refunded}, "
            f"refunds {succeeded_refunds}"
        )
    if booking.amount_refund_pending_cents:
        problems.append(f"{ref}: a refund still pending offline")
    for payment in payments:
        if payment.currency != booking.currency or payment.offline is not True:
            problems.append(f"{ref}: payment {payment.pk} is not an offline {booking.currency} one")
        if (
            payment.succeeded
            and not StripeEvent.objects.filter(
                payload__data__object__id=payment.stripe_payment_intent_id, outcome="processed"
            ).exists()
        ):
            problems.append(f"{ref}: payment {payment.pk} paid without a Stripe event")
    expected_status = {
        BookingStatus.PENDING_DEPOSIT: (0, {PaymentStatus.PENDING}),
        BookingStatus.CONFIRMED: (booking.deposit_cents, {PaymentStatus.SUCCEEDED}),
        BookingStatus.NO_SHOW: (booking.deposit_cents, {PaymentStatus.SUCCEEDED}),
        BookingStatus.COMPLETED: (booking.total_cents, {PaymentStatus.SUCCEEDED}),
    }
    if booking.status in expected_status:
        amount, statuses = expected_status[booking.status]
        if booking.amount_paid_cents != amount:
            problems.append(f"{ref}: {booking.status} with {booking.amount_paid_cents} paid")
        if {p.status for p in payments} != statuses:
            problems.append(f"{ref}: {booking.status} with payments {[p.status for p in payments]}")
    if booking.status == BookingStatus.COMPLETED and booking.balance_due_cents:
        problems.append(f"{ref}: completed with {booking.balance_due_cents} still due")
    return problems


def test_demo_bookings_have_the_money_their_history_speaks_of(settings):
    settings.DEBUG = True
    seed()
    bookings = list(
        Booking.objects.select_related("station").prefetch_related("events", "payments")
    )
    statuses = {b.status for b in bookings}
    # A demo worth trying: every kind of booking, at both stations.
    assert {
        BookingStatus.PENDING_DEPOSIT,
        BookingStatus.CONFIRMED,
        BookingStatus.COMPLETED,
        BookingStatus.CANCELLED,
    } <= statuses, statuses
    assert {b.station.slug for b in bookings} == {"san-jose", "sacramento"}
    assert BookingEvent.objects.filter(reason="deposit paid").count() > 20
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).exists()
    assert Payment.objects.filter(kind=PaymentKind.BALANCE, succeeded=True).exists()

    problems = [problem for booking in bookings for problem in money_problems(booking)]
    assert not problems, f"{len(problems)} untruths:\n" + "\n".join(problems)

    # Idempotent: a second run makes no booking, payment, refund or event.
    first = counts()
    seed()
    assert counts() == first


def test_the_truth_check_catches_a_booking_that_claims_money_it_lacks(settings):
    """The check above can fail: a booking confirmed by hand with "deposit paid" (what the demo
    used to do) and no payment is caught."""
    from testing.factories import make_booking

    settings.DEBUG = True
    seed("--password", "another-secret-42")
    station = Station.objects.get(slug="san-jose")
    liar = make_booking(station, days=45, status="confirmed")
    BookingEvent.objects.filter(booking=liar).update(reason="deposit paid")
    Booking.objects.filter(pk=liar.pk).update(amount_paid_cents=liar.deposit_cents)
    liar.refresh_from_db()
    problems = money_problems(liar)
    assert any("no paid deposit" in p for p in problems), problems
    assert any("amount paid" in p for p in problems), problems
