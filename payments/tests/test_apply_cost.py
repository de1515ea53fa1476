"""
The shortcuts that make applying a Stripe event cheap (payments/sql.py PAYMENT_FOR_INTENT,
and a success already recorded writing nothing), each held to the assumption it rests on:
the plain-SQL lookup loads exactly what the ORM would and locks what the ORM's lock order
needs (the payment and its booking) but not the station or the customer; a redelivered
success changes no row.
"""

import psycopg
import psycopg.sql
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings.models import Booking, Customer
from payments import ledger
from payments.models import Payment
from payments.tests.conftest import deposit_of, new_event_id
from stations.models import Station

SUCCEEDED = "payment_intent.succeeded"


def _values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
@pytest.mark.date_sensitive
def test_the_locked_lookup_loads_what_the_orm_would(paid_booking):
    expected = Payment.objects.select_related("booking__station", "booking__customer").get(
        pk=deposit_of(paid_booking).pk
    )
    with transaction.atomic():
        found = ledger._payment_locked(expected.stripe_payment_intent_id)
    assert _values(found) == _values(expected)
    assert _values(found.booking) == _values(expected.booking)
    assert _values(found.booking.station) == _values(expected.booking.station)
    assert _values(found.booking.customer) == _values(expected.booking.customer)
    with CaptureQueriesContext(connection) as queries:
        assert found.booking.station.slug == "san-jose"  # loaded: no query
        assert found.booking.customer.email == expected.booking.customer.email
    assert len(queries) == 0
    assert ledger._payment_locked("pi_not_ours") is None


def _locked_elsewhere(table: str, pk: int) -> bool:
    """Whether another connection finds the row locked (SELECT ... FOR UPDATE NOWAIT)."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        connect_timeout=5,
        autocommit=True,
    ) as other:
        try:
            query = psycopg.sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE NOWAIT")
            other.execute(query.format(psycopg.sql.Identifier(table)), [pk])
        except psycopg.errors.LockNotAvailable:
            return True
    return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.date_sensitive
def test_the_lookup_locks_the_payment_and_booking_not_the_station_or_customer(deposit_booking):
    payment = deposit_of(deposit_booking)
    booking = Booking.objects.get(pk=deposit_booking.pk)
    with transaction.atomic():
        ledger._payment_locked(payment.stripe_payment_intent_id)
        locked = {
            "payment": _locked_elsewhere(Payment._meta.db_table, payment.pk),
            "booking": _locked_elsewhere(Booking._meta.db_table, booking.pk),
            "station": _locked_elsewhere(Station._meta.db_table, booking.station_id),
            "customer": _locked_elsewhere(Customer._meta.db_table, booking.customer_id),
        }
    assert locked == {"payment": True, "booking": True, "station": False, "customer": False}
    assert _locked_elsewhere(Payment._meta.db_table, payment.pk) is False  # released on commit


@pytest.mark.django_db
@pytest.mark.date_sensitive
def test_a_redelivered_success_writes_nothing(paid_booking, apply_event, stripe_event):
    payment = deposit_of(paid_booking)
    event = stripe_event(SUCCEEDED, payment)
    with CaptureQueriesContext(connection) as queries:
        apply_event(event)
    writes = [
        q["sql"].replace("INSERT INTO", "INSERT").replace("DELETE FROM", "DELETE").split()[:2]
        for q in queries
        if q["sql"].startswith(("UPDATE", "INSERT", "DELETE"))
    ]
    assert writes == [
        ["INSERT", '"payments_stripeevent"'],  # stored by the webhook
        ["INSERT", '"payments_stripedrainqueued"'],  # a drain queued (payments.ledger)
        ["DELETE", '"payments_stripedrainqueued"'],  # ... and started
        ["UPDATE", '"payments_stripeevent"'],  # the event's outcome; nothing else
    ]
    payment_after = Payment.objects.get(pk=payment.pk)
    assert payment_after.updated_at == payment.updated_at


@pytest.mark.django_db
@pytest.mark.date_sensitive
def test_a_redelivered_success_naming_a_new_card_keeps_it(paid_booking, apply_event, stripe_event):
    payment = deposit_of(paid_booking)
    apply_event(
        {
            **stripe_event(SUCCEEDED, payment, customer="cus_New", payment_method="pm_New"),
            "id": new_event_id(),
        }
    )
    payment.refresh_from_db()
    assert (payment.stripe_customer_id, payment.stripe_payment_method_id) == ("cus_New", "pm_New")
    assert payment.status == "succeeded"
