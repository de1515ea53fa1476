"""
Play Stripe's part (offline mode, or a test environment): build a real-format event for a
booking's payment, sign it with STRIPE_WEBHOOK_SECRET and POST it to our webhook endpoint.
"""

import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bookings.models import Booking
from payments import fake_events, intents
from payments.models import PaymentKind

TYPES = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
]


class Command(BaseCommand):
    help = "Sign and post a Stripe-format event about a booking's payment to the local webhook."

    def add_arguments(self, parser):
        parser.add_argument("type", choices=TYPES)
        parser.add_argument("--booking", required=True, help="booking reference, e.g. MH-7K2P9Q")
        parser.add_argument("--kind", choices=PaymentKind.values, default=PaymentKind.DEPOSIT)
        parser.add_argument("--amount", type=int, help="charge.refunded: refunded total in cents")
        parser.add_argument(
            "--url", help="webhook URL (default: PUBLIC_BASE_URL + /api/v1/webhooks/stripe)"
        )

    def handle(self, *args, **opts):
        booking = (
            Booking.objects.select_related("station")
            .filter(reference=opts["booking"].upper())
            .first()
        )
        if booking is None:
            raise CommandError(f"No booking {opts['booking']}.")
        if opts["kind"] == PaymentKind.DEPOSIT:
            payment = intents.payment_for_deposit(booking=booking)
        else:
            payment = booking.payments.filter(kind=opts["kind"]).order_by("-created_at").first()
            if payment is None:
                raise CommandError("That booking has no balance payment; request one first.")
        event = fake_events.build_event(opts["type"], payment, amount_cents=opts["amount"])
        payload = fake_events.encode(event)
        url = opts["url"] or f"{settings.PUBLIC_BASE_URL}/api/v1/webhooks/stripe"
        request = urllib.request.Request(
            url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": fake_events.signature_header(
                    payload, settings.STRIPE_WEBHOOK_SECRET
                ),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
        except urllib.error.URLError as exc:
            raise CommandError(
                f"Could not reach {url}: {exc.reason}. Is the server running?"
            ) from exc
        self.stdout.write(
            f"{event['type']} {event['id']} for {booking.reference} "
            f"({payment.stripe_payment_intent_id}) -> HTTP {status} {body}"
        )
        if status >= 300:
            raise CommandError("The webhook refused the event.")
