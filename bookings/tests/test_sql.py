"""
bookings/sql.py takes what it does not write from the models: a changed model default is what
the raw INSERTs write, with no copy of it to update. (That each INSERT writes every NOT NULL
column is checked for every app in config/tests/test_sql.py.)
"""

import pytest

from bookings import notifications, services
from bookings.models import Customer, Notification
from testing.factories import make_booking

pytestmark = pytest.mark.django_db


def change_default(monkeypatch, model, name, value):
    field = model._meta.get_field(name)
    monkeypatch.setattr(field, "default", value)
    monkeypatch.delitem(field.__dict__, "_get_default", raising=False)  # Django caches it


def test_a_new_customers_consent_flags_are_the_models_defaults(san_jose, monkeypatch):
    changed = {"email_opt_in": False, "marketing_opt_in": True, "do_not_contact": True}
    for name, value in changed.items():
        change_default(monkeypatch, Customer, name, value)

    made = services.customer_upsert(station=san_jose, name="Pat", email="pat@example.com")

    stored = Customer.objects.get(pk=made.pk)
    for customer in (made, stored):
        assert {name: getattr(customer, name) for name in changed} == changed
    assert not stored.sms_opt_in  # what the request gave still wins over the default


def test_the_models_defaults_unchanged_are_what_a_new_customer_gets(san_jose):
    made = services.customer_upsert(station=san_jose, name="Pat", phone="+14085550100")
    model = Customer(station=san_jose, name="Pat", phone="+14085550100")
    fields = ("sms_opt_in", "email_opt_in", "marketing_opt_in", "do_not_contact", "erased_at")
    assert [getattr(made, f) for f in fields] == [getattr(model, f) for f in fields]


@pytest.mark.date_sensitive
def test_a_queued_notification_takes_the_models_defaults(san_jose, monkeypatch):
    booking = make_booking(san_jose)  # (before the change: creating it may queue messages)
    change_default(monkeypatch, Notification, "attempts", 2)
    change_default(monkeypatch, Notification, "last_error", "not sent yet")

    queued = notifications.notify_customer(booking=booking, subject="Hi", text="Hi", key="k-1")

    row = Notification.objects.get(pk=queued)
    assert (row.attempts, row.last_error, row.status) == (2, "not sent yet", "pending")
