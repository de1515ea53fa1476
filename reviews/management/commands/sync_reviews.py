"""
manage.py sync_reviews --platform google [--station SLUG] [--max-pages N]

Pulls recent reviews (newest first, page by page) for every active Google location with
credentials, stores each once (idempotent) and prints one line per station. Yelp and Facebook
have no pull API for businesses: use import_reviews with their exports.
"""

from django.core.management.base import BaseCommand, CommandError

from reviews import services
from reviews.models import GoogleLocation


class Command(BaseCommand):
    help = "Pull recent Google reviews for the stations with Google credentials."

    def add_arguments(self, parser):
        parser.add_argument("--platform", required=True, choices=["google"])
        parser.add_argument("--station", help="only this station (slug)")
        parser.add_argument("--max-pages", type=int, default=20)

    def handle(self, *args, platform: str, station: str | None, max_pages: int, **options):
        if max_pages < 1:
            raise CommandError("--max-pages must be at least 1.")
        locations = GoogleLocation.objects.filter(
            active=True, credentials_sealed__isnull=False
        ).select_related("station")
        if station:
            locations = locations.filter(station__slug=station)
        failed = 0
        for location in locations.order_by("station__slug"):
            result = services.google_location_sync(location=location, max_pages=max_pages)
            line = (
                f"{result.station}: {result.seen} reviews seen on {result.pages} pages, "
                f"{result.created} new"
            )
            if result.error:
                failed += 1
                self.stdout.write(self.style.ERROR(f"{line}; stopped: {result.error}"))
            else:
                self.stdout.write(self.style.SUCCESS(line))
        if not locations.exists():
            self.stdout.write(
                "No station has Google credentials (admin: Reviews → Google locations)."
            )
        if failed:
            raise CommandError(f"{failed} station(s) could not be synced.")
