"""
Hand-written SQL cannot drift from the models (config/sql.py).

Every INSERT in the apps' sql modules must write every NOT NULL column that has no database
default: checked against the model's fields and against the table as migrated. The checks
read the statements' text, not the Insert helper that built them, so a statement written by
hand is held to the same rule. The tests below them show the checks fail when a model (or the
table) gains such a column, and that the helpers take names and defaults from the model.
"""

import importlib
import re
import uuid

import pytest
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import IntegrityError, connection, models, transaction
from django.db.models.fields import AutoFieldMixin
from django.test.utils import isolate_apps

from bookings import sql as bookings_sql
from bookings.models import Customer
from config.sql import Insert, Table, columns

# One line per app that has a sql module.
SQL_MODULES = [
    "bookings.sql",
    "inbox.sql",
    "payments.sql",
]

INSERT_INTO = re.compile(r'INSERT\s+INTO\s+"?(\w+)"?\s*(?:\(([^)]*)\))?', re.IGNORECASE)


def inserts_in(module_name: str) -> list[tuple[str, str, list[str] | None]]:
    """(statement, table, the columns it lists or None) for each INSERT in the module's
    statements (its module-level strings)."""
    found = []
    for name, value in vars(importlib.import_module(module_name)).items():
        if isinstance(value, str):
            for match in INSERT_INTO.finditer(value):
                listed = match.group(2)
                written = [c.strip().strip('"') for c in listed.split(",")] if listed else None
                found.append((f"{module_name}.{name}", match.group(1), written))
    return found


ALL_INSERTS = [
    pytest.param(*insert, id=f"{insert[0]} into {insert[1]}")
    for module in SQL_MODULES
    for insert in inserts_in(module)
]


def model_of(table: str) -> type[models.Model]:
    for model in apps.get_models():
        if model._meta.db_table == table:
            return model
    raise AssertionError(f"no model owns the table {table}")


def required_by_model(fields) -> set[str]:
    """The columns an INSERT must write: NOT NULL, and nothing in the database fills them (an
    identity primary key, a db_default, a generated column)."""
    return {
        f.column
        for f in fields
        if not f.null
        and not isinstance(f, AutoFieldMixin)
        and not f.has_db_default()
        and not getattr(f, "generated", False)
    }


def required_by_table(table: str) -> set[str]:
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, table)
    return {
        c.name for c in description if not c.null_ok and c.default is None and not c.is_autofield
    }


def unwritten(written: list[str] | None, required: set[str]) -> list[str]:
    assert written is not None, "an INSERT must list the columns it writes"
    return sorted(required - set(written))


def test_the_statements_are_found():
    tables = {table for _, table, _ in inserts_in("bookings.sql")}
    assert tables == {"bookings_customer", "bookings_notification"}


@pytest.mark.parametrize(("statement", "table", "written"), ALL_INSERTS)
def test_every_insert_writes_every_not_null_column_of_its_model(statement, table, written):
    fields = model_of(table)._meta.concrete_fields
    assert unwritten(written, required_by_model(fields)) == [], statement


@pytest.mark.django_db
@pytest.mark.parametrize(("statement", "table", "written"), ALL_INSERTS)
def test_every_insert_writes_every_not_null_column_of_its_table(statement, table, written):
    assert unwritten(written, required_by_table(table)) == [], statement


# --- The checks fail when they should --------------------------------------------------------


def customer_insert_columns() -> list[str]:
    (written,) = [w for _, table, w in inserts_in("bookings.sql") if table == "bookings_customer"]
    return written


def extra_field(**options) -> models.Field:
    field = models.IntegerField(**options)
    field.set_attributes_from_name("loyalty_points")
    return field


def test_the_model_check_fails_when_the_model_gains_a_not_null_column():
    fields = [*Customer._meta.concrete_fields]
    written = customer_insert_columns()
    assert unwritten(written, required_by_model(fields)) == []
    # A default in Python is not one in the database: raw SQL must write it itself.
    for gained in (extra_field(), extra_field(default=0)):
        assert unwritten(written, required_by_model([*fields, gained])) == ["loyalty_points"]
    for harmless in (extra_field(null=True), extra_field(db_default=0)):
        assert unwritten(written, required_by_model([*fields, harmless])) == []


def test_an_insert_without_a_column_list_fails():
    with pytest.raises(AssertionError, match="must list the columns"):
        unwritten(None, {"id"})


@pytest.mark.django_db
def test_the_table_check_fails_when_the_table_gains_a_not_null_column(san_jose):
    """The migration a new NOT NULL field would bring, in this test's transaction only: the
    check names the column, and the statement it protects would now fail."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE bookings_customer ADD COLUMN loyalty_points integer NOT NULL")
    assert unwritten(customer_insert_columns(), required_by_table("bookings_customer")) == [
        "loyalty_points"
    ]
    params = {
        "station": san_jose.pk,
        "name": "Pat",
        "email": "pat@example.com",
        "phone": "",
        "sms_opt_in": False,
        "update": False,
        **bookings_sql.NEW_CUSTOMER.defaults(),
    }
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(bookings_sql.CUSTOMER_UPSERT, params)


# --- The helpers read the model --------------------------------------------------------------


def test_table_names_come_from_the_model():
    customer = Table(Customer)
    assert f"{customer} {customer.pk} {customer.station} {customer.email}" == (
        '"bookings_customer" "id" "station_id" "email"'
    )
    assert columns(Customer, "c").startswith('c."id", c."station_id", c."name"')
    with pytest.raises(FieldDoesNotExist):
        _ = customer.loyalty_points  # a statement naming a field that is gone fails at import


@isolate_apps("config")
def test_an_insert_writes_what_the_model_would():
    class Thing(models.Model):  # noqa: DJ008 (a throwaway model)
        name = models.CharField(max_length=10)
        note = models.TextField(blank=True)
        count = models.IntegerField(default=3)
        token = models.CharField(max_length=32, default=lambda: uuid.uuid4().hex)
        seen_at = models.DateTimeField(null=True)
        level = models.IntegerField(db_default=1)
        made_at = models.DateTimeField(auto_now_add=True)

    insert = Insert(Thing, {"name": "%(name)s", "made_at": "now()"})
    assert insert.columns == '"name", "note", "count", "token", "made_at"'
    assert insert.values == (
        "%(name)s, %(default_note)s, %(default_count)s, %(default_token)s, now()"
    )
    first, second = insert.defaults(), insert.defaults()
    assert (first["default_note"], first["default_count"]) == ("", 3)
    assert first["default_token"] != second["default_token"]  # a callable default, each call

    Thing._meta.get_field("count").default = 5  # a changed default is never a stale copy
    assert insert.defaults()["default_count"] == 5


@isolate_apps("config")
def test_an_insert_that_leaves_out_a_not_null_column_without_a_default_is_refused():
    class Thing(models.Model):  # noqa: DJ008 (a throwaway model)
        name = models.CharField(max_length=10)
        count = models.IntegerField()
        made_at = models.DateTimeField(auto_now_add=True)

    with pytest.raises(ImproperlyConfigured, match=r"Thing\.count is NOT NULL"):
        Insert(Thing, {"name": "%(name)s", "made_at": "now()"})
    with pytest.raises(ImproperlyConfigured, match=r"Thing\.made_at is NOT NULL"):
        Insert(Thing, {"name": "%(name)s", "count": "0"})
    with pytest.raises(FieldDoesNotExist):
        Insert(Thing, {"name": "%(name)s", "count": "0", "made_at": "now()", "gone": "1"})
    Insert(Thing, {"name": "%(name)s", "count": "0", "made_at": "now()"})
