"""Lead background work. Thin: each task takes ids, calls a service, and is safe to run twice."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from leads import selectors, services


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
)
def send_first_reply(lead_id: int) -> str:
    """The automatic first reply (claimed once: a second run does nothing)."""
    return services.lead_first_reply(lead_id=lead_id)


@shared_task(ignore_result=True)
def sweep_first_replies() -> int:
    """Queue again the first replies whose task was lost (beat: every minute)."""
    due = services.first_replies_due()
    for lead_id in due:
        services.enqueue_first_reply(lead_id)
    return len(due)


@shared_task(ignore_result=True)
def escalate_stale_leads() -> int:
    """Remind the assignee, then the managers, of leads nobody has contacted (beat: every
    minute; each level once per lead)."""
    return services.leads_escalate_stale()


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    max_retries=5,
)
def remind_staff(lead_id: int, emails: list[str], level: int) -> int:
    """E-mail staff that a lead is waiting (what the reminder activity recorded)."""
    reminder = selectors.reminder_text(lead_id=lead_id, level=level)
    if reminder is None:
        return 0
    subject, body = reminder
    return send_mail(
        subject=subject,
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=emails,
    )


@shared_task(acks_late=True, ignore_result=True, max_retries=0)
def explain_lead(lead_id: int) -> str:
    """The AI's reading of a lead's score (the gateway retries and audits its own calls)."""
    return services.lead_explain(lead_id=lead_id)
