"""
Deciding an AI draft (issue 14 point 6): approve it as written, send an edited text, or reject
it with a reason. Managers and owners of the draft's station decide (DESIGN.md §3: managers
"approve AI drafts"); agents read drafts and answer with their own replies.

- Only a proposed (L2) draft can be decided: the decision claims it with a conditional UPDATE
  of its status, so approving twice (two clicks, two staff, a retried request) sends one
  message; the second answers 409 `draft_decided`.
- A draft whose conversation a person answered after the customer's message is superseded
  (409 `draft_superseded`): the customer was answered, nothing is answered twice.
- The reply goes out through outbound.message_queue as the approver's (sender "user", author
  the approver), on the channel the customer wrote on, under the key "draft-<id>"; compliance
  applies first (409 `send_refused` with the reason, the draft stays proposed). The draft
  records who decided, when, whether the text was edited and the message sent; its audit rows
  (AIInteraction.draft) lead from the model's call to that decision.
"""

from django.db import transaction
from django.utils import timezone

from config.exceptions import ApiError
from inbox import compliance, outbound
from inbox.ai.ladder import answered_after, reply_channel_for
from inbox.models import Conversation, Draft, DraftStatus, Message, Sender
from stations import tenancy

REASON_MAX_LENGTH = Draft._meta.get_field("reject_reason").max_length


def may_decide(user, draft: Draft) -> bool:
    return tenancy.has_role(user, draft.station_id, tenancy.MANAGE_ROLES)


def _check_actor(actor, draft: Draft) -> None:
    if not may_decide(actor, draft):
        raise ApiError(
            "Managers and owners decide AI drafts.", code="permission_denied", status_code=403
        )


def _undecidable(draft: Draft) -> ApiError:
    if draft.status == DraftStatus.SUPERSEDED:
        return ApiError(
            "A person already answered this message: the draft is superseded.",
            code="draft_superseded",
            status_code=409,
        )
    return ApiError(
        f"This draft is already {draft.get_status_display()}.",
        code="draft_decided",
        status_code=409,
    )


def _supersede_if_answered(draft: Draft) -> None:
    """A person replied after the customer's message: the draft is superseded (kept so)."""
    if answered_after(draft.message):
        Draft.objects.filter(pk=draft.pk, status=DraftStatus.PROPOSED).update(
            status=DraftStatus.SUPERSEDED, decided_at=timezone.now()
        )
        draft.refresh_from_db()
        raise _undecidable(draft)


def draft_approve(*, draft: Draft, actor) -> Draft:
    """Send the draft as written."""
    return _send(draft=draft, actor=actor, body=draft.body)


def draft_edit_and_send(*, draft: Draft, actor, body: str) -> Draft:
    """Send a text of the approver's, in place of the draft's (edited when it differs)."""
    return _send(draft=draft, actor=actor, body=body)


def _send(*, draft: Draft, actor, body: str) -> Draft:
    _check_actor(actor, draft)
    if draft.status != DraftStatus.PROPOSED:
        raise _undecidable(draft)
    body = (body or "").replace("\x00", "").strip()
    if not body:
        raise ApiError("Write the reply first.", code="empty_reply", status_code=400)
    message = Message.objects.select_related("channel", "conversation__customer").get(
        pk=draft.message_id
    )
    draft.message = message
    _supersede_if_answered(draft)
    conversation = message.conversation
    channel = reply_channel_for(message)
    if channel is None:
        raise ApiError(
            "This station has no channel to answer this customer on.",
            code="no_channel",
            status_code=409,
        )
    refusal = compliance.send_refusal(
        customer=conversation.customer, channel=channel, conversation_id=conversation.pk
    )
    if refusal:
        raise ApiError(f"Not sent: {refusal}.", code="send_refused", status_code=409)
    now = timezone.now()
    edited = body != draft.body.strip()
    with transaction.atomic():
        # A person's reply and this approval exclude each other: both write the conversation
        # row (a reply updates the thread's clock), so this lock orders them, and the reply
        # that landed since the first look is seen here.
        list(Conversation.objects.select_for_update().filter(pk=conversation.pk).values("pk"))
        answered = answered_after(message)
        if not answered:
            claimed = Draft.objects.filter(pk=draft.pk, status=DraftStatus.PROPOSED).update(
                status=DraftStatus.SENT, decided_by=actor, decided_at=now, edited=edited
            )
            if not claimed:
                draft.refresh_from_db()
                raise _undecidable(draft)
            sent = outbound.message_queue(
                conversation=conversation,
                channel=channel,
                body=body,
                sender=Sender.USER,
                author=actor,
                key=f"draft-{draft.pk}",
            )
            Draft.objects.filter(pk=draft.pk).update(sent_message=sent)
    if answered:
        _supersede_if_answered(draft)  # raises 409 draft_superseded
    draft.refresh_from_db()
    return draft


def draft_reject(*, draft: Draft, actor, reason: str) -> Draft:
    """Reject the draft with a reason (kept for the audit and for improving the prompts);
    nothing is sent, the customer's message waits for a person's reply."""
    _check_actor(actor, draft)
    reason = " ".join((reason or "").replace("\x00", "").split())
    if not reason:
        raise ApiError(
            "Say why the draft is rejected.",
            code="validation_error",
            status_code=400,
            fields={"reason": ["Say why the draft is rejected."]},
        )
    claimed = Draft.objects.filter(pk=draft.pk, status=DraftStatus.PROPOSED).update(
        status=DraftStatus.REJECTED,
        decided_by=actor,
        decided_at=timezone.now(),
        reject_reason=reason[:REASON_MAX_LENGTH],
    )
    draft.refresh_from_db()
    if not claimed:
        raise _undecidable(draft)
    return draft
