"""Inbox background work. Thin: each task takes ids, calls a service, and is safe to run twice."""

from celery import shared_task

from inbox import services
from leads import services as lead_services


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def process_inbound(message_id: int) -> str:
    """The background work of one inbound message (inbox.services.inbound_process: claimed
    once, so a second run does nothing). An unknown sender's first message also becomes a lead
    (leads.services.lead_from_inbound: once per message, so a retry does nothing new)."""
    outcome = services.inbound_process(message_id=message_id)
    lead_services.lead_from_inbound(message_id=message_id)
    return outcome


@shared_task(ignore_result=True)
def sweep_inbound() -> int:
    """Enqueue again the inbound messages whose task was lost (beat: every minute)."""
    lost = services.inbound_unprocessed()
    for message_id in lost:
        services.enqueue_inbound(message_id)
    return len(lost)


@shared_task(ignore_result=True)
def wake_snoozed() -> int:
    """Snoozed conversations whose time has come are open again (beat: every minute)."""
    return services.conversations_wake()


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=8)
def send_message(self, message_id: int) -> str:
    """Send one outbound message (inbox.sending.message_send: claimed with a lease, the
    provider called at most once per claim, the outcome recorded). A retryable provider error
    is retried with backoff; when eager, the sweeper retries instead of a loop in place."""
    from inbox import sending

    try:
        return sending.message_send(message_id=message_id)
    except sending.RetryLater as exc:
        if self.request.is_eager:
            return "retry later"
        raise self.retry(exc=exc, countdown=exc.countdown, queue="notifications") from None


@shared_task(ignore_result=True)
def sweep_outbound() -> int:
    """Enqueue again the outbound messages whose task was lost or whose retry is due (beat:
    every minute)."""
    from inbox import outbound, sending

    due = sending.messages_due()
    for message_id in due:
        outbound.enqueue_send(message_id)
    return len(due)


@shared_task(ignore_result=True)
def renew_ringcentral_subscriptions() -> int:
    """Renew RingCentral webhook subscriptions before they expire (beat: hourly); a blacklisted
    one is recorded on its channel, shown on /api/v1/health and in the admin."""
    from inbox import subscriptions

    return subscriptions.subscriptions_renew()


@shared_task(acks_late=True, ignore_result=True)
def drain_inbound_events() -> int:
    """Thread the inbound messages the Twilio webhook stored (inbox.ledger: queued when a row
    is stored, unless a drain is already queued; safe to run twice)."""
    from inbox import ledger

    return ledger.inbound_events_drain()


@shared_task(ignore_result=True)
def sweep_inbound_events() -> int:
    """Queue a drain of the inbound ledger when rows waited past the grace (their drain was
    lost, e.g. the broker was down) (beat: every minute)."""
    from inbox import ledger

    return ledger.inbound_events_sweep()
