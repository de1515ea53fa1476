"""
Catch up with Stripe after an outage: list the events (and PaymentIntents) of a window, store
what the ledger missed and apply it, exactly once (ledger rows are unique per event id).
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from payments import ledger, stripe_client
from payments.models import FINAL_OUTCOMES, EventOutcome, Payment, StripeEvent


class Command(BaseCommand):
    help = "Apply the Stripe events and payment results that the webhook missed since a date."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="YYYY-MM-DD (UTC)")

    def handle(self, *args, since: str, **opts):
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC)
        except ValueError as exc:
            raise CommandError("--since must be a date like 2026-11-01") from exc
        if stripe_client.is_offline():
            self.stdout.write("Payments are offline (no STRIPE_SECRET_KEY): nothing to reconcile.")
            return
        since_ts = int(start.timestamp())
        try:
            changed = self._events(since_ts) + self._intents(since_ts)
        except stripe_client.StripeError as exc:
            raise CommandError(f"Stripe: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Done: {changed} change(s) applied."))

    def _apply(self, event: dict, label: str) -> int:
        row_id = ledger.stripe_event_record(
            event_id=event["id"],
            event_type=event["type"],
            livemode=bool(event.get("livemode")),
            payload=event,
        )
        if row_id is None:
            row = StripeEvent.objects.get(event_id=event["id"])
            if row.outcome in FINAL_OUTCOMES:
                return 0
            row_id = row.pk
        outcome = ledger.stripe_event_apply(event_row_id=row_id)
        self.stdout.write(f"  {label}: {event['type']} {event['id']} -> {outcome}")
        return int(outcome == EventOutcome.PROCESSED)

    def _events(self, since_ts: int) -> int:
        changed = 0
        for event in stripe_client.list_events(since=since_ts, types=list(ledger.HANDLED_EVENTS)):
            changed += self._apply(event, "event")
        return changed

    def _intents(self, since_ts: int) -> int:
        """Intents whose final state our rows don't show (their events are older than Stripe
        keeps, or never came): applied as events named after the intent, so only once."""
        changed = 0
        for intent in stripe_client.list_payment_intents(since=since_ts):
            payment = Payment.objects.filter(stripe_payment_intent_id=intent["id"]).first()
            status = intent.get("status")
            if payment is None or status not in ("succeeded", "requires_payment_method"):
                continue
            if (status == "succeeded") == payment.succeeded:
                continue
            kind = "succeeded" if status == "succeeded" else "payment_failed"
            event = {
                "id": f"reconcile_{intent['id']}_{kind}",
                "object": "event",
                "type": f"payment_intent.{kind}",
                "created": intent.get("created"),
                "livemode": intent.get("livemode", False),
                "data": {"object": intent},
            }
            changed += self._apply(event, "intent")
        return changed
