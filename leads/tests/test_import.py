"""`manage.py import_leads`: rows routed, merged and scored like any lead, refused rows reported
with their line and reason, a dry run writes nothing, and a second run adds nothing."""

import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.models import Message
from leads.imports import run_import
from leads.models import ActivityKind, Lead, LeadActivity
from leads.services import SYSTEM

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)

ROWS = [
    ["name", "Email", "phone", "ZIP", "station", "event_date", "guests", "budget", "message"],
    [
        "Kim Lee",
        "kim@example.com",
        "(408) 555-0177",
        "95110",
        "",
        "2026-04-11",
        "12",
        "$1,500",
        "Bday",
    ],
    ["Ann Park", "", "916 555 0188", "95811", "", "04/18/2026", "30", "", ""],
    ["No Station", "far@example.com", "", "10001", "", "", "", "", ""],
    ["Kim again", "", "+1 408 555 0177", "95110", "", "", "14", "", "Also a cake?"],
    ["", "x@example.com", "", "95110", "", "", "", "", ""],
    ["Bad Phone", "", "12", "95110", "", "", "", "", ""],
    ["Bad Date", "d@example.com", "", "95110", "", "next week", "", "", ""],
    ["Bad Station", "s@example.com", "", "", "atlantis", "", "", "", ""],
    ["No Contact", "", "", "95110", "", "", "", "", ""],
    ["Bad Guests", "g@example.com", "", "95110", "", "", "zero", "", ""],
]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def write(tmp_path, rows=ROWS, name="leads.csv"):
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def run(path, *args) -> str:
    out = io.StringIO()
    call_command("import_leads", path, "--no-progress", *args, stdout=out)
    return out.getvalue()


def snapshot():
    return sorted(
        Lead.objects.values_list("name", "email", "phone", "station__slug", "guests", "message")
    )


def test_rows_are_routed_merged_and_refused_with_reasons(world, tmp_path):
    output = run(write(tmp_path))
    assert output.splitlines()[0] == (
        "10 rows: 3 new leads, 1 merged into open leads, 0 imported before, 6 refused (done)."
    )
    assert "  line 6: no name" in output
    assert "  line 7: phone '12' is not a phone number" in output
    assert "  line 8: event_date 'next week' is not a date (YYYY-MM-DD or MM/DD/YYYY)" in output
    assert "  line 9: no active station 'atlantis'" in output
    assert "  line 10: neither a phone number nor an e-mail address" in output
    assert "  line 11: guests 'zero' is not a number from 1 to 500" in output
    kim = Lead.objects.get(email="kim@example.com")
    assert (kim.station.slug, kim.phone, kim.guests, kim.budget_cents) == (
        "san-jose",
        "+14085550177",
        12,
        150_000,
    )
    assert kim.message == "Bday\n\nAlso a cake?"
    assert Lead.objects.get(name="Ann Park").station.slug == "sacramento"
    assert Lead.objects.get(name="No Station").station is None
    assert kim.score > 0
    assert kim.score_reasons
    assert not Message.objects.exists()  # no automatic first reply to an imported list


def test_a_second_run_of_the_same_file_changes_nothing(world, tmp_path):
    path = write(tmp_path)
    run(path)
    before, activities = snapshot(), LeadActivity.objects.count()
    output = run(path)
    assert output.startswith("10 rows: 0 new leads, 0 merged into open leads, 4 imported before")
    assert snapshot() == before
    assert LeadActivity.objects.count() == activities


def test_a_dry_run_writes_nothing_and_reports_what_would_happen(world, tmp_path):
    output = run(write(tmp_path), "--dry-run")
    assert output.splitlines()[0] == (
        "10 rows: 3 new leads, 1 merged into open leads, 0 imported before, 6 refused "
        "(dry run: nothing would be written)."
    )
    assert not Lead.objects.exists()


def test_an_external_id_is_the_rows_identity(world, tmp_path):
    rows = [["name", "email", "external_id"], ["Kim", "kim@example.com", "crm-1"]]
    run(write(tmp_path, rows))
    edited = [["name", "email", "external_id"], ["Kim Lee", "kim@example.com", "crm-1"]]
    output = run(write(tmp_path, edited, "edited.csv"))
    assert "1 imported before" in output
    assert list(Lead.objects.values_list("name", flat=True)) == ["Kim"]


def test_a_file_without_a_name_column_or_unreadable_is_refused(world, tmp_path):
    with pytest.raises(CommandError, match="header row"):
        run(write(tmp_path, [["email"], ["a@example.com"]]))
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "missing.csv"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00name\n")
    with pytest.raises(CommandError):
        run(str(binary))


cell = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cell, min_size=9, max_size=9), min_size=1, max_size=6))
def test_any_row_is_imported_or_refused_never_an_error(world, rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([ROWS[0], *rows])
    report = run_import(text=buffer.getvalue(), actor=SYSTEM, dry_run=False)
    assert report.total <= len(rows)
    again = run_import(text=buffer.getvalue(), actor=SYSTEM, dry_run=False)
    assert again.created == 0
    assert again.merged == 0
    assert not LeadActivity.objects.exclude(
        kind__in=[ActivityKind.CAPTURED, ActivityKind.MERGED]
    ).exists()
