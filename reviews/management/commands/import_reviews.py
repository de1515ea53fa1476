"""
manage.py import_reviews FILE --platform yelp|facebook --station SLUG [--dry-run]

Reads a Yelp or Facebook export (CSV or JSON, see reviews.imports) and stores each review once
under the platform's id (running it again changes nothing). Rows that cannot be read are
reported with their number and the reason; the rest are imported. With --dry-run nothing is
written: the report says what would be.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.progress import Progress

from reviews import imports, services
from reviews.models import Review
from stations.models import Station

MAX_BYTES = 50 * 1024 * 1024


class Command(BaseCommand):
    help = "Import reviews from a Yelp or Facebook export (CSV or JSON); idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--platform", required=True, choices=imports.PLATFORMS)
        parser.add_argument("--station", required=True, help="the station's slug")
        parser.add_argument("--dry-run", action="store_true", help="read and report only")

    def handle(self, *args, file: str, platform: str, station: str, dry_run: bool, **options):
        target = Station.objects.filter(slug=station).first()
        if target is None:
            raise CommandError(f"No station {station!r}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file {file}.")
        if path.stat().st_size > MAX_BYTES:
            raise CommandError(f"{file} is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        try:
            content = path.read_text(encoding="utf-8-sig")
            rows = list(imports.parse_rows(platform, content))
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text.") from exc
        except imports.UnreadableFile as exc:
            raise CommandError(f"{file}: {exc}") from exc
        created = updated = unchanged = 0
        refused = [row for row in rows if isinstance(row, imports.Refused)]
        wanted = [row for row in rows if isinstance(row, imports.ParsedReview)]
        known = set(
            Review.objects.filter(station=target, platform=platform).values_list(
                "external_id", flat=True
            )
        )
        with Progress(console=None, transient=True, disable=not wanted) as progress:
            task = progress.add_task(f"{platform} → {target.slug}", total=len(wanted))
            for row in wanted:
                if dry_run:
                    created += row.external_id not in known
                    unchanged += row.external_id in known
                else:
                    result = services.review_upsert(
                        station=target,
                        platform=platform,
                        external_id=row.external_id,
                        rating=row.rating,
                        author=row.author,
                        text=row.text,
                        created_on_platform=row.created,
                    )
                    created += result.created
                    updated += result.changed and not result.created
                    unchanged += not result.changed
                progress.advance(task)
        verb = "would import" if dry_run else "imported"
        self.stdout.write(
            f"{verb} {created} new, {updated} updated, {unchanged} unchanged; "
            f"{len(refused)} refused"
        )
        for row in refused:
            self.stdout.write(f"  row {row.row}: {row.reason}")
