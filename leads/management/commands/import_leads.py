"""`manage.py import_leads FILE.csv [--dry-run]`: leads from a spreadsheet (see leads.imports for
the columns). Safe to run again on the same file: rows imported before are reported as such."""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import Progress

from bookings.services import Actor
from leads.imports import RowRefused, read_rows, run_import


class Command(BaseCommand):
    help = (
        "Import leads from a CSV file (columns: name, email, phone, zip_code, station, "
        "event_date, guests, budget, message, source, external_id). Rows are routed, "
        "deduplicated and scored like any lead; a second run of the same file adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file (UTF-8, with a header row)")
        parser.add_argument(
            "--dry-run", action="store_true", help="check every row and report; write nothing"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, file: str, dry_run: bool, no_progress: bool, **options):
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            count = sum(1 for _ in read_rows(text))
        except (RowRefused, csv.Error) as exc:
            raise CommandError(f"{file}: {exc}") from exc
        console = Console(file=self.stdout, highlight=False)
        actor = Actor(label=f"import {path.name}")
        with Progress(console=console, disable=no_progress, transient=True) as progress:
            task = progress.add_task("Importing" if not dry_run else "Checking", total=count)
            report = run_import(
                text=text,
                actor=actor,
                dry_run=dry_run,
                progress=lambda n: progress.advance(task, n),
            )
        verb = "would be" if dry_run else "were"
        self.stdout.write(
            f"{report.total} rows: {report.created} new leads, {report.merged} merged into open "
            f"leads, {report.already} imported before, {len(report.refused)} refused "
            f"({'dry run: nothing ' + verb + ' written' if dry_run else 'done'})."
        )
        for line, why in report.refused:
            self.stdout.write(f"  line {line}: {why}")
