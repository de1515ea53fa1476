"""
Reading leads from a CSV file (`manage.py import_leads`): each row is checked like the public
form checks a submission, then captured through `services.lead_capture` (routing, dedupe and
scoring as for every other lead), without the automatic first reply (an imported list was
collected elsewhere, and texting it all at once is not a reply to anyone).

Idempotent: a row's key is its `external_id` column when the file has one, else a hash of
its normalised contents; a row whose key was taken before (a new lead, or a merge into an open
one) is reported as already imported and changes nothing.

Columns (header names, any order, case-insensitive): name (required), email, phone (one of
the two required), zip_code (or zip), station (slug; else routed by ZIP), event_date
(YYYY-MM-DD or MM/DD/YYYY), guests, budget (dollars, e.g. 1500 or 1,500.00), message, source,
external_id.
"""

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from leads import services
from leads.models import ActivityKind, Lead, LeadActivity, LeadSource
from stations.models import Station
from stations.validators import normalize_phone

ALIASES = {"zip": "zip_code", "postal_code": "zip_code", "e-mail": "email", "date": "event_date"}
KNOWN = {
    "name",
    "email",
    "phone",
    "zip_code",
    "station",
    "event_date",
    "guests",
    "budget",
    "message",
    "source",
    "external_id",
}


class RowRefused(Exception):
    """The row cannot be imported; the message says why (one line of the report)."""


@dataclass
class ImportReport:
    created: int = 0
    merged: int = 0
    already: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)

    @property
    def total(self) -> int:
        return self.created + self.merged + self.already + len(self.refused)


def read_rows(text: str) -> Iterator[tuple[int, dict]]:
    """(line number, {column: value}) for each data row; the header names are normalised."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or "name" not in {_column(n) for n in reader.fieldnames}:
        raise RowRefused("the file needs a header row with at least a 'name' column")
    for row in reader:
        values = {_column(k): (v or "").strip() for k, v in row.items() if k is not None}
        if any(values.values()):
            yield reader.line_num, values


def _column(name: str) -> str:
    name = (name or "").strip().lower().replace(" ", "_")
    return ALIASES.get(name, name)


def _date(value: str) -> date | None:
    if not value:
        return None
    if not value.isascii():  # strptime reads an Arabic-Indic "٢٠٢٦" as 2026, which nobody typed
        raise RowRefused(f"event_date {value!r} is not a date (YYYY-MM-DD or MM/DD/YYYY)")
    for pattern in ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y"):
        try:
            return datetime.strptime(value, pattern).date()  # noqa: DTZ007 (a date)
        except ValueError:
            continue
    raise RowRefused(f"event_date {value!r} is not a date (YYYY-MM-DD or MM/DD/YYYY)")


def _guests(value: str) -> int | None:
    if not value:
        return None
    # isdecimal, not isdigit: "²" is a digit that int() cannot read.
    if not value.isdecimal() or not 1 <= int(value) <= 500:
        raise RowRefused(f"guests {value!r} is not a number from 1 to 500")
    return int(value)


def _budget_cents(value: str) -> int | None:
    cleaned = re.sub(r"[$,\s]", "", value)
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise RowRefused(f"budget {value!r} is not an amount") from None
    if (
        not amount.is_finite()
        or amount < 0
        or amount > 1_000_000
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise RowRefused(f"budget {value!r} is not an amount in dollars and cents")
    return int(amount * 100)


def parse_row(values: dict, stations: dict[str, Station]) -> tuple[Station | None, object]:
    """The row's station (None: route by ZIP) and LeadInput, or RowRefused."""
    name = values.get("name", "")
    if not name:
        raise RowRefused("no name")
    if any("\x00" in value for value in values.values()):
        raise RowRefused("a cell holds a NUL character")  # PostgreSQL text cannot
    email = values.get("email", "").lower()
    if len(email) > 254:  # the column's length: a longer one would stop the import
        raise RowRefused("e-mail is longer than 254 characters")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise RowRefused(f"e-mail {email!r} is not an address") from None
    phone = values.get("phone", "")
    if phone:
        try:
            phone = normalize_phone(phone)
        except ValidationError:
            raise RowRefused(f"phone {phone!r} is not a phone number") from None
    if not (email or phone):
        raise RowRefused("neither a phone number nor an e-mail address")
    zip_code = values.get("zip_code", "")[:5]
    if zip_code and not re.fullmatch(r"[0-9]{5}", zip_code):  # \d is any script's digit
        raise RowRefused(f"ZIP code {zip_code!r} is not five digits")
    slug = values.get("station", "")
    station = None
    if slug:
        station = stations.get(slug)
        if station is None:
            raise RowRefused(f"no active station {slug!r}")
    source = values.get("source", "").lower() or LeadSource.IMPORT
    if source not in LeadSource.values:
        source = LeadSource.IMPORT
    data = services.LeadInput(
        name=name[:120],
        email=email,
        phone=phone,
        zip_code=zip_code,
        event_date=_date(values.get("event_date", "")),
        guests=_guests(values.get("guests", "")),
        budget_cents=_budget_cents(values.get("budget", "")),
        message=values.get("message", "")[:5000],
        source=source,
    )
    return station, data


def row_key(values: dict) -> str:
    """The row's import key: its external id, else a hash of what it says."""
    if values.get("external_id"):
        basis = "id:" + values["external_id"]
    else:
        basis = "row:" + "\x1f".join(f"{k}={values.get(k, '')}" for k in sorted(KNOWN))
    return "import-" + hashlib.sha256(basis.encode()).hexdigest()[:48]


def already_imported(key: str) -> bool:
    return (
        Lead.objects.filter(import_key=key).exists()
        or LeadActivity.objects.filter(
            kind=ActivityKind.MERGED, data__contains={"import_key": key}
        ).exists()
    )


def import_row(
    *, values: dict, stations: dict[str, Station], actor, dry_run: bool, seen: set
) -> str:
    """Import one row: "created", "merged" or "already"; RowRefused says why not. `seen` holds
    the (station, contact) pairs of this run, so a dry run reports a second row for the same
    person as the merge the real run will make."""
    station, data = parse_row(values, stations)
    key = row_key(values)
    if already_imported(key) or key in seen:
        return "already"
    seen.add(key)
    if dry_run:
        station = station or services.station_for_zip(data.zip_code)
        contacts = {
            (station and station.pk, kind, v)
            for kind, v in (("e", data.email), ("p", data.phone))
            if v
        }
        repeat = bool(contacts & seen)
        seen.update(contacts)
        if repeat or services.open_duplicate_exists(station, data):
            return "merged"
        return "created"
    with transaction.atomic():
        lead, created = services.lead_capture(
            data=data,
            station=station,
            actor=actor,
            import_key=key,
            first_reply=False,
            explain=False,
        )
        if not created:
            merge = lead.activities.filter(kind=ActivityKind.MERGED).order_by("-pk").first()
            if merge is not None:
                merge.data = {**merge.data, "import_key": key}
                merge.save(update_fields=["data"])
    return "created" if created else "merged"


def run_import(*, text: str, actor, dry_run: bool = False, progress=None) -> ImportReport:
    """Import every row of a CSV text; `progress(advance)` is called once per row. Each row is
    its own transaction: a refused or failing row never undoes the others."""
    stations = {s.slug: s for s in Station.objects.filter(active=True)}
    report = ImportReport()
    seen: set = set()
    rows = list(read_rows(text))
    for line, values in rows:
        try:
            outcome = import_row(
                values=values, stations=stations, actor=actor, dry_run=dry_run, seen=seen
            )
        except RowRefused as refused:
            report.refused.append((line, str(refused)))
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)
        if progress is not None:
            progress(1)
    return report
