"""
Demo data people try the product with (DESIGN.md §6): two stations, their chefs, zones and price
lists, and the named demo users. Idempotent: running it again updates rather than duplicates.
Each app's `demo.py` contributes its STEPS.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bookings import demo as bookings_demo
from inbox import demo as inbox_demo
from leads import demo as leads_demo
from payments import demo as payments_demo
from reviews import demo as reviews_demo
from stations import demo


class Command(BaseCommand):
    help = (
        "Create or refresh the demo stations, users, chefs and price lists, demo bookings "
        "with their payments, the inbox's channels and conversations, and reviews."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default=demo.DEFAULT_PASSWORD)
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (never on production)."
        )

    def handle(self, *args, password: str, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with a known password; it refuses to run with DEBUG off. "
                "Pass --force if this really is a demo or staging database."
            )
        if not password.strip():
            raise CommandError("--password must not be blank: the demo users log in with it.")
        for step, builder in [
            *demo.STEPS,
            *bookings_demo.STEPS,
            *payments_demo.STEPS,
            *inbox_demo.STEPS,
            *leads_demo.STEPS,
            *reviews_demo.STEPS,
        ]:
            self.stdout.write(f"  {step}...", ending="")
            self.stdout.flush()
            with transaction.atomic():
                summary = builder(password=password)
            self.stdout.write(self.style.SUCCESS(f" {summary}"))
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready. Log in as sj-manager / {password}.")
        )
