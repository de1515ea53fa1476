"""
Merging two customers of a station into one (issue 13 §3): staff found that two rows are one
person. Everything that points at the merged customer moves to the kept one, nothing is lost,
the merge is recorded (CustomerMerge, with counts), and the merged row is deleted.

- Every relation to Customer is found by introspection (`Customer._meta.related_objects`), so
  a later app's foreign key moves too: a plain foreign key is re-pointed; a one-to-one or a key
  under a unique constraint must have a rule here (the conversation has one), and an unknown
  one stops the merge (MergeUnsupported) instead of losing or breaking rows.
- Threads: the merged customer's messages join the kept customer's conversation (which is the
  merged one's, re-pointed, when the kept customer had none); the thread keeps the earliest
  start, first response and waiting time, the latest message, and is unread if either was.
- Contact: the kept customer gets the e-mail or phone it lacked (with that contact's consent);
  consent is otherwise the stricter of the two, and do-not-contact holds if either had it.
- Locking: one transaction; both customer rows are locked in id order, so two merges of the
  same pair (in either direction) run one after the other and the second finds its customer
  gone (404), never a half-merged pair.
"""

from django.db import transaction
from django.db.models import Model
from django.db.models.fields.reverse_related import ForeignObjectRel

from bookings.models import Booking, Customer
from config.exceptions import ApiError
from inbox.models import ContactIdentity, Conversation, ConversationStatus, CustomerMerge

# The most active status wins when two threads become one.
_STATUS_ORDER = [
    ConversationStatus.OPEN,
    ConversationStatus.PENDING,
    ConversationStatus.SNOOZED,
    ConversationStatus.CLOSED,
]


class MergeUnsupported(RuntimeError):
    """A relation the merge does not know how to move (a one-to-one or unique key)."""


def customers_merge(*, keep: Customer, merge: Customer, actor) -> CustomerMerge:
    """Merge `merge` into `keep` (both of one station) and record it. 400 for the same
    customer, customers of two stations or an erased one; 404 when one is gone meanwhile."""
    if keep.pk == merge.pk:
        _refuse("merge", "A customer cannot be merged into themselves.")
    if keep.station_id != merge.station_id:
        _refuse("merge", "Only customers of the same station can be merged.")
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update()
            .filter(pk__in=[keep.pk, merge.pk])
            .order_by("pk")
        }
        if keep.pk not in locked or merge.pk not in locked:
            raise ApiError(
                "That customer is gone (merged meanwhile?).", code="not_found", status_code=404
            )
        keep, merge = locked[keep.pk], locked[merge.pk]
        if keep.erased_at or merge.erased_at:
            _refuse("merge", "An erased customer cannot be merged.")
        moved: dict[str, int] = {}
        for relation in Customer._meta.related_objects:
            _mover_for(relation)(relation, keep, merge, moved)
        record = CustomerMerge.objects.create(
            station_id=keep.station_id,
            kept=keep,
            merged_customer_id=merge.pk,
            merged_name=merge.name[:120],
            moved=moved,
            actor=actor,
        )
        taken = _contact_and_consent(keep, merge)
        merge.delete()  # nothing points at it any more
        keep.save(update_fields=[*taken, "updated_at"])
    return record


def _refuse(field: str, message: str):
    raise ApiError(message, code="validation_error", fields={field: [message]})


# --- Moving what points at the merged customer -------------------------------------------------


def _mover_for(relation: ForeignObjectRel):
    """How rows of this relation move: a rule of this module, else re-pointing a plain foreign
    key; anything else is refused loudly."""
    special = _SPECIAL.get((relation.related_model, relation.field.name))
    if special is not None:
        return special
    if _is_plain_foreign_key(relation):
        return _repoint
    raise MergeUnsupported(
        f"{relation.related_model._meta.label}.{relation.field.name} points at a customer and "
        "the merge has no rule for it (a one-to-one or unique key): add one to inbox.merge."
    )


def _is_plain_foreign_key(relation: ForeignObjectRel) -> bool:
    """A many-to-one key that no uniqueness ties to its customer: re-pointing cannot collide."""
    if not relation.one_to_many or relation.field.unique:
        return False  # a one-to-one, a many-to-many, or a key that is unique on its own
    name, meta = relation.field.name, relation.related_model._meta
    unique_sets = [set(fields) for fields in meta.unique_together]
    unique_sets += [set(c.fields) for c in meta.constraints if getattr(c, "fields", None)]
    return not any(name in fields or relation.field.attname in fields for fields in unique_sets)


def _repoint(relation: ForeignObjectRel, keep: Customer, merge: Customer, moved: dict) -> None:
    field = relation.field.name
    count = relation.related_model._default_manager.filter(**{field: merge}).update(**{field: keep})
    if count:
        moved[_key(relation.related_model)] = moved.get(_key(relation.related_model), 0) + count


_KEYS = {ContactIdentity: "identities", CustomerMerge: "earlier_merges"}


def _key(model: type[Model]) -> str:
    """The name a kind of row is counted under in the record: "bookings", "payments",
    "booking_events", "messages"... (a model's plural name, unless named here)."""
    return _KEYS.get(model) or str(model._meta.verbose_name_plural).replace(" ", "_")


def _move_bookings(relation: ForeignObjectRel, keep: Customer, merge: Customer, moved: dict):
    """Bookings are re-pointed; what hangs off a booking (payments, refunds, its history and
    notifications) follows it untouched, and is counted so the record shows it."""
    booking_ids = list(Booking.objects.filter(customer=merge).values_list("pk", flat=True))
    _repoint(relation, keep, merge, moved)
    if not booking_ids:
        return
    for child in Booking._meta.related_objects:
        if child.multiple and not child.many_to_many:
            count = child.related_model._default_manager.filter(
                **{f"{child.field.name}__in": booking_ids}
            ).count()
            if count:
                moved[_key(child.related_model)] = count


def _move_thread(relation: ForeignObjectRel, keep: Customer, merge: Customer, moved: dict):
    """The merged customer's thread joins the kept one's (or becomes it)."""
    threads = {
        c.customer_id: c
        for c in Conversation.objects.select_for_update()
        .filter(customer_id__in=[keep.pk, merge.pk])
        .order_by("pk")
    }
    gone, kept = threads.get(merge.pk), threads.get(keep.pk)
    if gone is None:
        return
    if kept is None:
        Conversation.objects.filter(pk=gone.pk).update(customer=keep)
        moved["conversations"] = 1
        moved["messages"] = gone.messages.count()
        return
    for child in Conversation._meta.related_objects:  # messages, and any later app's rows
        if not _is_plain_foreign_key(child):
            raise MergeUnsupported(
                f"{child.related_model._meta.label}.{child.field.name} points at a "
                "conversation and the merge has no rule for it."
            )
        count = child.related_model._default_manager.filter(**{child.field.name: gone}).update(
            **{child.field.name: kept}
        )
        if count:
            moved[_key(child.related_model)] = count
    _combine_threads(kept, gone)
    gone.delete()
    moved["conversations"] = 1


def _combine_threads(kept: Conversation, gone: Conversation) -> None:
    """One thread's state from two: the earliest start, first response and waiting time, the
    latest message (with its preview and channel), unread if either was, the more active
    status, and the kept thread's assignee unless it had none."""
    latest = _latest(kept, gone, "last_message_at")
    latest_inbound = _latest(kept, gone, "last_inbound_at")
    status = min(kept.status, gone.status, key=_STATUS_ORDER.index)
    snoozes = [c.snoozed_until for c in (kept, gone) if c.status == status and c.snoozed_until]
    Conversation.objects.filter(pk=kept.pk).update(
        created_at=min(kept.created_at, gone.created_at),
        first_response_at=_earliest(kept.first_response_at, gone.first_response_at),
        waiting_since=_earliest(kept.waiting_since, gone.waiting_since),
        unread=kept.unread or gone.unread,
        last_message_at=latest.last_message_at,
        last_message_preview=latest.last_message_preview,
        last_inbound_at=latest_inbound.last_inbound_at,
        last_inbound_channel=latest_inbound.last_inbound_channel_id,
        status=status,
        snoozed_until=min(snoozes) if status == ConversationStatus.SNOOZED and snoozes else None,
        assignee=kept.assignee_id or gone.assignee_id,
    )


def _earliest(*values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _latest(kept: Conversation, gone: Conversation, field: str) -> Conversation:
    """The thread whose `field` is later (the kept one on a tie or when neither has it)."""
    if getattr(gone, field) is None:
        return kept
    if getattr(kept, field) is None or getattr(gone, field) > getattr(kept, field):
        return gone
    return kept


_SPECIAL = {
    (Booking, "customer"): _move_bookings,
    (Conversation, "customer"): _move_thread,
}


# --- Contact and consent -------------------------------------------------------------------------


def _contact_and_consent(keep: Customer, merge: Customer) -> list[str]:
    """Set the kept customer's contact and consent (saved by the caller once the merged row,
    which holds the same e-mail or phone under the station's unique constraints, is gone).
    A contact the kept customer lacked comes with its consent; otherwise the stricter wins."""
    taken = ["sms_opt_in", "email_opt_in", "marketing_opt_in", "do_not_contact"]
    keep.sms_opt_in = _consent(keep.phone, merge.phone, keep.sms_opt_in, merge.sms_opt_in)
    keep.email_opt_in = _consent(keep.email, merge.email, keep.email_opt_in, merge.email_opt_in)
    keep.marketing_opt_in = keep.marketing_opt_in and merge.marketing_opt_in
    keep.do_not_contact = keep.do_not_contact or merge.do_not_contact
    for field in ("email", "phone"):
        if not getattr(keep, field) and getattr(merge, field):
            setattr(keep, field, getattr(merge, field))
            taken.append(field)
    return taken


def _consent(kept_contact: str, merged_contact: str, kept: bool, merged: bool) -> bool:
    if not kept_contact and merged_contact:
        return merged  # the contact the kept customer takes over, with its consent
    if kept_contact and not merged_contact:
        return kept
    return kept and merged
