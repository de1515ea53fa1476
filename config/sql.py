"""
Plumbing for hand-written SQL: names and INSERT columns from the models, never typed in.

An app that needs raw SQL (a hot path where building the ORM query costs more than running it)
keeps every statement in one module, `<app>/sql.py` (bookings/sql.py is the example to copy),
built once at import from these helpers:

- `Table(Model)` names a table and its columns from `Model._meta`. In a statement template,
  `{t}` is the quoted table name, `{t.email}` the quoted column of the field `email`, a foreign
  key by its field name (`{t.station}` is "station_id") and `{t.pk}` the primary key. A field
  renamed or removed fails at import, not on the first request.
- `columns(Model, alias)` lists every concrete column in field order, and `instance_from_row`
  turns a row of them back into a model instance, as the ORM would.
- `Insert(Model, {field: sql})` is the column list and the VALUES of an INSERT. The statement
  writes the fields it names with the SQL given (a parameter such as "%(email)s", or "now()");
  every other field gets what `Model()` would: its model default, bound as a parameter that
  `insert.defaults()` computes from `field.get_default()` on each call (so a changed default,
  or a callable one, is never a stale copy); nothing when the database has a default (the
  primary key, `db_default`) or the field is nullable. A NOT NULL field with no default that
  the statement does not write raises ImproperlyConfigured at import. Statements with an
  Insert use named parameters: run them with `{**params, **insert.defaults()}`.

For example (payments/sql.py, the event ledger's one statement):

    _event = Table(StripeEvent)
    NEW_STRIPE_EVENT = Insert(StripeEvent, {
        "event_id": "%(event_id)s", "type": "%(type)s", "payload": "%(payload)s::jsonb",
        "livemode": "%(livemode)s", "outcome": "%(outcome)s", "received_at": "now()",
    })
    STRIPE_EVENT_INSERT = (
        f"INSERT INTO {_event} ({NEW_STRIPE_EVENT.columns}) VALUES ({NEW_STRIPE_EVENT.values}) "
        f"ON CONFLICT ({_event.event_id}) DO NOTHING RETURNING {_event.pk}"
    )

Every INSERT in the modules listed in config/tests/test_sql.py (SQL_MODULES) is checked there
against the model and the database: a NOT NULL column without a database default that the
statement does not write fails the suite. A new `<app>/sql.py` is one line in that list, and one
in each of its app's domain contracts in .importlinter.

Statements that name no table and belong to one check (config/health.py's `SELECT 1` and
`SET LOCAL statement_timeout`) stay where they run.
"""

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Field, Model

quote = connection.ops.quote_name


class Table:
    """A model's table (`{t}` in a template) and its columns (`{t.<field name>}`, `{t.pk}`),
    quoted, from `_meta`."""

    def __init__(self, model: type[Model]):
        self._meta = model._meta

    def __str__(self) -> str:
        return quote(self._meta.db_table)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "pk":
            return quote(self._meta.pk.column)
        field = self._meta.get_field(name)
        if not field.concrete:
            raise AttributeError(f"{self._meta.label}.{name} has no column")
        return quote(field.column)


def columns(model: type[Model], alias: str = "") -> str:
    """The model's concrete columns, in field order (the order instance_from_row reads)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{quote(f.column)}" for f in model._meta.concrete_fields)


def instance_from_row(model: type[Model], values):
    """A model instance from a row of all its concrete fields, converted as the ORM would
    (JSON fields arrive as text)."""
    fields = model._meta.concrete_fields
    values = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def instances_from_row(row, *models: type[Model]) -> list:
    """One instance per model from a row holding each model's columns in turn (as `columns()`
    lists them), in the order given; None for a model whose primary key is NULL (an outer
    join that found nothing)."""
    instances = []
    for model in models:
        n = len(model._meta.concrete_fields)
        part, row = row[:n], row[n:]
        pk_index = model._meta.concrete_fields.index(model._meta.pk)
        instances.append(None if part[pk_index] is None else instance_from_row(model, part))
    return instances


def written_by_database(field: Field) -> bool:
    """The database fills this column when an INSERT leaves it out: an auto-incrementing
    primary key, a `db_default`, a generated column."""
    return (
        getattr(field, "db_returning", False)
        or field.has_db_default()
        or getattr(field, "generated", False)
    )


class Insert:
    """The `columns` and `values` of an INSERT of `model` that writes `given` ({field name:
    SQL}) and every other field as `Model()` would (see the module docstring); the defaults'
    parameters come from `defaults()`, on each call."""

    def __init__(self, model: type[Model], given: Mapping[str, str]):
        meta = model._meta
        given_by_column = {}
        for name, expression in given.items():
            field = meta.get_field(name)
            if not field.concrete:
                raise ImproperlyConfigured(f"{meta.label}.{name} has no column to insert into")
            given_by_column[field.column] = expression
        names, expressions, self._defaulted = [], [], []
        for field in meta.concrete_fields:
            if field.column in given_by_column:
                expression = given_by_column[field.column]
            elif written_by_database(field):
                continue
            elif field.has_default() or (not field.null and field.get_default() is not None):
                # the model's default, or "" for a string field without one (as Model() writes)
                parameter = f"default_{field.attname}"
                expression = f"%({parameter})s"
                self._defaulted.append((parameter, field))
            elif field.null:
                continue  # NULL, as Model() writes
            else:
                raise ImproperlyConfigured(
                    f"{meta.label}.{field.name} is NOT NULL and has no default: the INSERT "
                    "must write it (add it to the fields the statement gives)."
                )
            names.append(quote(field.column))
            expressions.append(expression)
        self.model = model
        self.columns = ", ".join(names)
        self.values = ", ".join(expressions)

    def defaults(self) -> dict:
        """The parameters of the fields written with their model default, as the ORM would
        send them (`field.get_default()`, then `get_db_prep_save`)."""
        return {
            parameter: field.get_db_prep_save(field.get_default(), connection)
            for parameter, field in self._defaulted
        }
