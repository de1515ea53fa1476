"""Inbox background work. Thin: each task takes ids, calls a service, and is safe to run twice."""

from celery import shared_task

from inbox import services


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
    once, so a second run does nothing)."""
    return services.inbound_process(message_id=message_id)


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
