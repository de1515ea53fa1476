"""The booking list and the booking page in the admin (issue 12, points 1, 2, 5, 6 and 8):
station time, the "When" filter in each station's own today, money in dollars, payments and a
readable history on the page, what a chef may see, and Reschedule / Cancel with the policy's
terms shown before staff confirm."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings import services
from bookings.admin import BookingAdmin
from bookings.models import Booking, BookingStatus
from bookings.scheduling import local_today
from payments import stripe_client
from payments.models import Payment, Refund
from stations.models import Chef, Station
from testing.factories import PaymentFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

LA = ZoneInfo("America/Los_Angeles")
# A Saturday in winter (PST), late afternoon: already tomorrow in UTC.
CLOCK = datetime(2026, 12, 5, 16, 30, tzinfo=LA)
BOOKED = CLOCK - timedelta(days=30)  # when the test bookings were taken (notice rules pass)
LIST = reverse("admin:bookings_booking_changelist")


def page_url(booking) -> str:
    return reverse("admin:bookings_booking_change", args=[booking.pk])


def cancel_url(booking) -> str:
    return reverse("admin:bookings_booking_cancel", args=[booking.pk])


def reschedule_url(booking) -> str:
    return reverse("admin:bookings_booking_reschedule", args=[booking.pk])


@pytest.fixture
def clock():
    with time_machine.travel(CLOCK, tick=True) as traveller:
        yield traveller


def on(day: int, month: int = 12, year: int = 2026) -> date:
    return date(year, month, day)


def book(station, day: date, start="17:00", **fields) -> Booking:
    return make_booking(station, event_date=day, start=start, now=BOOKED, **fields)


def as_user(client, user):
    client.force_login(user)
    return client


def listed(response) -> list[str]:
    assert response.status_code == 200
    return [b.reference for b in response.context["cl"].result_list]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- station time ---


def test_page_reads_station_time_with_its_zone_never_utc(client, clock, sj_manager, san_jose):
    booking = book(san_jose, on(12), start="18:00")  # 18:00 PST is 02:00 UTC the next day

    html = as_user(client, sj_manager).get(page_url(booking)).content.decode()

    assert "Sat Dec 12, 6 p.m." in html  # the event, as the customer booked it
    assert "Dec. 12, 2026, 6 p.m. PST" in html  # starts_at, an instant, in the station's zone
    assert "America/Los_Angeles" in html
    assert "2 a.m." not in html
    assert "UTC" not in html


def test_list_shows_local_event_time(client, clock, sj_manager, san_jose):
    book(san_jose, on(12), start="18:00")

    html = as_user(client, sj_manager).get(LIST).content.decode()

    assert "Sat Dec 12, 6 p.m." in html
    assert "2 a.m." not in html


# --- the When filter ---


@pytest.fixture
def december(clock, san_jose):
    """San Jose bookings around the pinned clock (Sat Dec 5, 4:30 p.m. there)."""
    return {
        "past": book(san_jose, on(1)),
        "today": book(san_jose, on(5), start="18:00"),
        "tomorrow": book(san_jose, on(6)),
        "in5": book(san_jose, on(10)),
        "in10": book(san_jose, on(15)),
    }


def test_list_opens_on_upcoming_soonest_first(client, december, sj_manager):
    refs = listed(as_user(client, sj_manager).get(LIST))

    b = december
    assert refs == [b[k].reference for k in ("today", "tomorrow", "in5", "in10")]


def test_when_filter_uses_the_stations_today_not_utcs(client, december, sj_manager):
    client = as_user(client, sj_manager)
    b = december

    def when(value):
        return listed(client.get(LIST, {"when": value}))

    assert when("today") == [b["today"].reference]  # in UTC it is already Dec 6
    assert when("tomorrow") == [b["tomorrow"].reference]
    assert when("week") == [b[k].reference for k in ("today", "tomorrow", "in5")]
    assert when("past") == [b["past"].reference]
    assert set(when("all")) == {x.reference for x in b.values()}
    assert when("all")[0] == b["in10"].reference  # latest first when the past is included


def test_when_filter_is_computed_per_station(client, clock, owner, san_jose, sacramento):
    # Auckland is already on Sunday Dec 6 (13:30) when San Jose is at Saturday 4:30 p.m.
    Station.objects.filter(pk=sacramento.pk).update(timezone="Pacific/Auckland")
    sacramento.refresh_from_db()
    assert local_today(sacramento) == on(6)
    sj_today, sj_tomorrow = book(san_jose, on(5), start="18:00"), book(san_jose, on(6))
    nz_saturday, nz_today = book(sacramento, on(5)), book(sacramento, on(6))

    client = as_user(client, owner)
    today = set(listed(client.get(LIST, {"when": "today"})))
    upcoming = set(listed(client.get(LIST)))

    assert today == {sj_today.reference, nz_today.reference}
    assert nz_saturday.reference not in upcoming
    assert {sj_today.reference, sj_tomorrow.reference, nz_today.reference} <= upcoming


def test_when_filter_with_facets_and_date_drilldown(client, december, sj_manager):
    client = as_user(client, sj_manager)

    facets = client.get(LIST, {"_facets": "True"})
    every_filter = client.get(
        LIST, {"_facets": "True", "money": "outstanding", "chef": "1", "when": "past"}
    )
    drill = client.get(LIST, {"event_date__year": "2026", "event_date__month": "12"})

    assert facets.status_code == 200
    assert every_filter.status_code == 200
    assert "Outstanding (balance due) (" in every_filter.content.decode()
    assert "Upcoming (4)" in facets.content.decode()
    assert len(listed(drill)) == 5  # the date drill-down reaches past days


def test_list_query_count_does_not_grow_with_filters_on(client, clock, sj_manager, san_jose):
    client = as_user(client, sj_manager)
    params = {"when": "week", "money": "outstanding"}

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST, params).status_code == 200
        return len(queries)

    book(san_jose, on(7))
    one = count()
    for n in range(10):
        book(san_jose, on(8 + n % 4), start=["12:00", "15:00", "18:00"][n % 3])
    assert count() == one


# --- money on the list ---


def test_paid_and_balance_columns_and_outstanding_filter(client, clock, sj_manager, san_jose):
    unpaid = book(san_jose, on(10))
    deposit = book(san_jose, on(11), status="confirmed")
    PaymentFactory(booking=deposit, paid=True)
    settled = book(san_jose, on(12), status="confirmed")
    services.booking_set_payment_totals(
        booking_id=settled.pk, paid_cents=settled.total_cents, refunded_cents=0
    )
    refunded = book(san_jose, on(13), status="confirmed")
    services.booking_set_payment_totals(
        booking_id=refunded.pk,
        paid_cents=refunded.total_cents,
        refunded_cents=5_000,
        refund_pending_cents=2_500,
    )
    cancelled = book(san_jose, on(14), status="cancelled")
    client = as_user(client, sj_manager)

    outstanding = set(listed(client.get(LIST, {"money": "outstanding", "when": "all"})))
    settled_refs = set(listed(client.get(LIST, {"money": "settled", "when": "all"})))

    everything = Booking.objects.filter(station=san_jose)
    expected = {
        b.reference
        for b in everything
        if b.status in ("pending_deposit", "confirmed", "completed") and b.balance_due_cents
    }
    assert outstanding == expected  # the SQL mirrors Booking.balance_due_cents
    assert outstanding == {unpaid.reference, deposit.reference, refunded.reference}
    assert settled_refs == {settled.reference, cancelled.reference}

    deposit.refresh_from_db()
    row = client.get(LIST).content.decode()
    assert f"${deposit.deposit_cents // 100:,}.00" in row
    assert f"${deposit.balance_due_cents // 100:,}.{deposit.balance_due_cents % 100:02d}" in row


def test_balance_column_counts_refunds(client, clock, sj_manager, san_jose):
    booking = book(san_jose, on(10), status="confirmed")
    services.booking_set_payment_totals(
        booking_id=booking.pk, paid_cents=booking.total_cents, refunded_cents=12_345
    )
    client = as_user(client, sj_manager)

    cl = client.get(LIST).context["cl"]
    admin = cl.model_admin
    row = cl.result_list[0]

    assert admin.balance_display(row) == "$123.45"
    assert admin.paid_display(row).startswith("$")


# --- chef filter ---


def test_chef_filter_offers_only_my_stations_chefs(client, clock, sj_manager, san_jose):
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    mine = book(san_jose, on(10), chef=kenji)
    other = book(san_jose, on(10), start="12:00")
    other_chef = Chef.objects.exclude(pk=kenji.pk).filter(station=san_jose).first()
    services.booking_reassign_chef(booking=other, chef=other_chef, actor=services.SYSTEM)
    client = as_user(client, sj_manager)

    response = client.get(LIST)
    html = response.content.decode()
    filtered = listed(client.get(LIST, {"chef": kenji.pk}))

    assert "Kenji Tanaka" in html
    assert "Hiro Sato" not in html  # a Sacramento chef
    assert filtered == [mine.reference]


# --- the booking page, per role ---


@pytest.fixture
def paid_booking(clock, san_jose):
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    booking = book(san_jose, on(12), start="18:00", chef=kenji)
    PaymentFactory(booking=booking, paid=True)
    services.booking_transition(
        booking=booking, to_status="confirmed", actor=services.SYSTEM, reason="deposit paid"
    )
    booking.refresh_from_db()
    return booking


@pytest.mark.parametrize("who", ["sj_manager", "sj_agent"])
def test_staff_see_money_payments_and_tools(client, paid_booking, who, request):
    html = as_user(client, request.getfixturevalue(who)).get(page_url(paid_booking))
    html = html.content.decode()

    deposit = f"${paid_booking.deposit_cents // 100:,}.00"
    assert "Balance due" in html
    assert "Credit owed" in html
    assert "Refund pending" in html
    assert deposit in html
    assert "payments-group" in html
    assert paid_booking.payments.get().stripe_payment_intent_id in html
    assert "Stripe (offline mode" in html
    assert reschedule_url(paid_booking) in html
    assert cancel_url(paid_booking) in html
    assert "_cents" not in html
    assert "(cents)" not in html
    assert "Money (cents)" not in html


def test_chef_sees_the_event_but_nothing_about_money(client, paid_booking, sj_chef, san_jose):
    someone_elses = book(san_jose, on(12), start="12:00")
    client = as_user(client, sj_chef)

    response = client.get(page_url(paid_booking))
    html = response.content.decode()

    assert response.status_code == 200
    assert "Sat Dec 12, 6 p.m." in html
    for money in ("$", "Balance due", "Deposit", "payments-group", "Refund", "Money", "Paid"):
        assert money not in html, money
    assert reschedule_url(paid_booking) not in html
    assert cancel_url(paid_booking) not in html
    assert client.get(page_url(someone_elses)).status_code == 302  # not theirs: not shown
    listing = client.get(LIST)
    assert listed(listing) == [paid_booking.reference]
    assert "$" not in listing.content.decode()
    assert 'name="action"' not in listing.content.decode()  # no bulk actions for a chef
    assert client.get(cancel_url(paid_booking)).status_code == 403
    assert client.post(reschedule_url(paid_booking), {}).status_code == 403


def test_another_stations_manager_sees_nothing(client, paid_booking, sac_manager):
    client = as_user(client, sac_manager)

    assert client.get(page_url(paid_booking)).status_code == 302  # "doesn't exist"
    assert client.get(cancel_url(paid_booking)).status_code == 404
    assert client.post(cancel_url(paid_booking), {"version": "x"}).status_code == 404
    assert client.get(reschedule_url(paid_booking)).status_code == 404
    assert paid_booking.reference not in client.get(LIST, {"when": "all"}).content.decode()
    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CONFIRMED


def test_payment_tools_of_the_phone_mixin_are_rendered(
    client, paid_booking, sj_manager, sj_chef, monkeypatch
):
    def payment_tools(self, request, booking):
        return [{"label": "Send deposit link", "url": f"/deposit-link/{booking.pk}/"}]

    monkeypatch.setattr(BookingAdmin, "payment_tools", payment_tools, raising=False)

    manager_page = as_user(client, sj_manager).get(page_url(paid_booking)).content.decode()
    chef_page = as_user(client, sj_chef).get(page_url(paid_booking)).content.decode()

    assert f'href="/deposit-link/{paid_booking.pk}/"' in manager_page
    assert "Send deposit link" in manager_page
    assert "Send deposit link" not in chef_page


# --- history in words ---


def test_history_names_chefs_and_shows_money_in_dollars(client, paid_booking, sj_manager, san_jose):
    maria = Chef.objects.get(station=san_jose, name="Maria Lopez")
    services.booking_reassign_chef(booking=paid_booking, chef=maria, actor=services.SYSTEM)
    services.booking_note(
        booking=paid_booking,
        actor=services.SYSTEM,
        reason="balance requested",
        data={"amount_cents": 123_456, "payment_intent": "pi_123", "gate": "4521"},
    )

    html = as_user(client, sj_manager).get(page_url(paid_booking)).content.decode()

    assert "chef: Kenji Tanaka → Maria Lopez" in html
    assert "amount: $1,234.56" in html
    assert "Stripe payment pi_123" in html
    assert "gate: 4521" in html
    assert "to_chef" not in html
    assert "Pending deposit → Confirmed" in html


def test_history_costs_the_same_queries_for_many_lines(client, paid_booking, sj_manager, san_jose):
    client = as_user(client, sj_manager)
    chefs = list(Chef.objects.filter(station=san_jose).exclude(pk=paid_booking.chef_id))

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page_url(paid_booking)).status_code == 200
        return len(queries)

    services.booking_reassign_chef(booking=paid_booking, chef=chefs[0], actor=services.SYSTEM)
    one = count()
    for n in range(6):
        services.booking_reassign_chef(
            booking=Booking.objects.get(pk=paid_booking.pk),
            chef=chefs[(n + 1) % 2],
            actor=services.SYSTEM,
        )
    assert count() == one


# --- Cancel ---


def test_cancel_shows_the_policy_then_refunds_on_confirm(client, paid_booking, sj_manager):
    client = as_user(client, sj_manager)
    deposit = f"${paid_booking.deposit_cents // 100:,}.00"

    preview = client.get(cancel_url(paid_booking))
    html = preview.content.decode()
    assert "everything paid is refunded" in html
    assert deposit in html
    assert "The deposit is not forfeited" in html
    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CONFIRMED  # looking changes nothing

    version = preview.context["form"].initial["version"]
    done = client.post(cancel_url(paid_booking), {"version": version}, follow=True)

    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CANCELLED
    refund = Refund.objects.get(payment__booking=paid_booking)
    assert refund.amount_cents == paid_booking.deposit_cents
    assert f"is cancelled; {deposit} refunded" in " ".join(messages_of(done))


def test_cancel_inside_the_window_forfeits_the_deposit(client, clock, sj_manager, san_jose):
    booking = book(san_jose, on(7), status="confirmed")  # 2 days ahead: inside 72 hours
    PaymentFactory(booking=booking, paid=True)
    client = as_user(client, sj_manager)

    preview = client.get(cancel_url(booking))
    html = preview.content.decode()
    deposit = f"${booking.deposit_cents // 100:,}.00"

    assert "the deposit is forfeited" in html
    assert f"{deposit} is kept" in html
    assert "Refund to the customer: <strong>$0.00</strong>" in html
    client.post(cancel_url(booking), {"version": preview.context["form"].initial["version"]})
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert not Refund.objects.filter(payment__booking=booking).exists()


def test_a_stale_cancel_is_refused(client, paid_booking, sj_manager):
    client = as_user(client, sj_manager)
    version = client.get(cancel_url(paid_booking)).context["form"].initial["version"]
    PaymentFactory(booking=paid_booking, kind="balance", paid=True)  # money moved meanwhile

    response = client.post(cancel_url(paid_booking), {"version": version}, follow=True)

    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CONFIRMED
    assert "changed since these terms were shown" in " ".join(messages_of(response))
    assert not Refund.objects.exists()


def test_cancel_reports_stripe_trouble_as_a_message(client, paid_booking, sj_manager, monkeypatch):
    from bookings.admin import booking_changes

    def down(**kwargs):
        raise stripe_client.StripeUnavailable("Stripe is not answering")

    monkeypatch.setattr(booking_changes.payment_refunds, "booking_cancel_with_refund", down)
    client = as_user(client, sj_manager)
    version = client.get(cancel_url(paid_booking)).context["form"].initial["version"]

    response = client.post(cancel_url(paid_booking), {"version": version}, follow=True)

    assert response.status_code == 200
    assert "Stripe: Stripe is not answering" in messages_of(response)


def test_cancel_of_a_cancelled_booking_is_refused(client, clock, sj_manager, san_jose):
    booking = book(san_jose, on(10), status="cancelled")

    response = as_user(client, sj_manager).get(cancel_url(booking), follow=True)

    assert "cannot be cancelled" in " ".join(messages_of(response))


# --- Reschedule ---


def test_reschedule_offers_free_times_previews_and_moves(client, paid_booking, sj_manager):
    client = as_user(client, sj_manager)
    new_day = on(19)

    day = client.get(reschedule_url(paid_booking), {"date": new_day.isoformat()})
    html = day.content.decode()
    assert "start=17:00" in html
    assert "5 p.m." in html
    assert "11 a.m." in html

    preview = client.get(reschedule_url(paid_booking), {"date": "2026-12-19", "start": "17:00"})
    html = preview.content.decode()
    assert "Move to Sat Dec 19, 5 p.m." in html
    assert "free reschedule" in html
    assert f"${preview.context['preview'].total_cents // 100:,}" in html
    paid_booking.refresh_from_db()
    assert paid_booking.event_date == on(12)  # looking changes nothing

    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in ("date", "start", "version")}
    done = client.post(reschedule_url(paid_booking), data, follow=True)

    paid_booking.refresh_from_db()
    assert (paid_booking.event_date, f"{paid_booking.start_time:%H:%M}") == (new_day, "17:00")
    assert paid_booking.reschedule_count == 1
    assert any("moved to Sat Dec 19, 5 p.m. (free)" in m for m in messages_of(done))
    assert "moved: Sat Dec 12, 6 p.m. → Sat Dec 19, 5 p.m." in done.content.decode()


def test_second_reschedule_shows_the_change_fee(client, paid_booking, sj_manager):
    Booking.objects.filter(pk=paid_booking.pk).update(reschedule_count=1)
    client = as_user(client, sj_manager)

    preview = client.get(reschedule_url(paid_booking), {"date": "2026-12-19", "start": "17:00"})

    assert "change fee $50.00" in preview.content.decode()
    assert preview.context["preview"].total_cents == paid_booking.total_cents + 5_000


def test_reschedule_to_a_slot_taken_meanwhile_is_a_message(
    client, paid_booking, sj_manager, san_jose
):
    client = as_user(client, sj_manager)
    preview = client.get(reschedule_url(paid_booking), {"date": "2026-12-19", "start": "17:00"})
    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in ("date", "start", "version")}
    for _ in range(Chef.objects.filter(station=san_jose, active=True).count()):
        book(san_jose, on(19))  # every chef taken at 17:00 meanwhile

    response = client.post(reschedule_url(paid_booking), data, follow=True)

    assert response.status_code == 200
    assert any(
        m.startswith("Not rescheduled: That time was just taken") for m in messages_of(response)
    )
    paid_booking.refresh_from_db()
    assert paid_booking.event_date == on(12)


def test_a_stale_reschedule_is_refused(client, paid_booking, sj_manager):
    client = as_user(client, sj_manager)
    preview = client.get(reschedule_url(paid_booking), {"date": "2026-12-19", "start": "17:00"})
    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in ("date", "start", "version")}
    services.booking_set_payment_totals(
        booking_id=paid_booking.pk, paid_cents=paid_booking.total_cents, refunded_cents=0
    )

    response = client.post(reschedule_url(paid_booking), data, follow=True)

    assert "changed since these terms were shown" in " ".join(messages_of(response))
    paid_booking.refresh_from_db()
    assert paid_booking.event_date == on(12)


def test_reschedule_bad_input_is_a_form_error_not_a_500(client, paid_booking, sj_manager):
    client = as_user(client, sj_manager)

    bad_day = client.get(reschedule_url(paid_booking), {"date": "2026-13-45"})
    bad_start = client.get(reschedule_url(paid_booking), {"date": "2026-12-19", "start": "03:07"})
    past = client.get(reschedule_url(paid_booking), {"date": "2026-11-01"})
    bad_post = client.post(
        reschedule_url(paid_booking), {"date": "x", "start": "y", "version": ""}, follow=True
    )

    assert bad_day.status_code == 200
    assert "Enter a valid date" in bad_day.content.decode()
    assert bad_start.status_code == 200
    assert "preview" not in bad_start.context
    assert "No free start time that day" in past.content.decode()
    assert "Pick a date and a free start time." in messages_of(bad_post)
    paid_booking.refresh_from_db()
    assert paid_booking.event_date == on(12)


def test_reschedule_refused_for_chef_and_other_station(client, paid_booking, sj_chef, sac_manager):
    data = {"date": "2026-12-19", "start": "17:00", "version": "x"}

    assert as_user(client, sj_chef).post(reschedule_url(paid_booking), data).status_code == 403
    assert as_user(client, sac_manager).post(reschedule_url(paid_booking), data).status_code == 404
    paid_booking.refresh_from_db()
    assert paid_booking.event_date == on(12)


# --- the customer page ---


def test_customer_page_lists_bookings_and_payments(client, paid_booking, sj_manager, sac_manager):
    customer = paid_booking.customer
    url = reverse("admin:bookings_customer_change", args=[customer.pk])
    payment = Payment.objects.get(booking=paid_booking)

    html = as_user(client, sj_manager).get(url).content.decode()

    assert f'href="{page_url(paid_booking)}"' in html
    assert paid_booking.reference in html
    assert "Sat Dec 12, 6 p.m." in html
    assert "Confirmed" in html
    assert f"${payment.amount_cents // 100:,}.00" in html
    assert "Deposit" in html
    assert "PST" in html  # the payment's time, in the station's zone
    assert as_user(client, sac_manager).get(url).status_code == 302  # another station's


def test_the_page_names_the_add_ons(client, san_jose, sj_manager):
    booking = make_booking(san_jose, days=12, addon_codes=["gyoza", "edamame"])
    html = as_user(client, sj_manager).get(page_url(booking)).content.decode()
    assert "Gyoza (12 pieces), Edamame (per person)" in html
    assert '["gyoza", "edamame"]' not in html
