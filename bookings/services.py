"""
Writes of the bookings domain. Each is a keyword-only function with one transaction.

Double booking: the database refuses overlapping active bookings of a chef (exclusion
constraint `no_chef_double_booking`). On top of it, every write that picks or moves a chef takes
a transaction-level advisory lock on (station, local event date) first, so the per-chef daily cap
is counted without races and concurrent requests for the last chef queue for a few
milliseconds instead of failing on the constraint. Status changes are compare-and-swap updates:
of two concurrent transitions exactly one wins, the other gets 409.
"""

import hashlib
import hmac
import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from bookings import pricing, scheduling, sql
from bookings.models import (
    Booking,
    BookingEvent,
    BookingSource,
    BookingStatus,
    Customer,
)
from bookings.notifications import notify_customer
from bookings.policy import CancellationTerms, cancellation_terms, reschedule_terms
from config.exceptions import ApiError, Conflict
from config.money import format_money
from config.sql import instance_from_row
from stations import availability
from stations.models import Chef, Station

logger = logging.getLogger(__name__)

TRANSITIONS = {
    BookingStatus.PENDING_DEPOSIT: {
        BookingStatus.CONFIRMED,
        BookingStatus.CANCELLED,
        BookingStatus.EXPIRED,
    },
    BookingStatus.CONFIRMED: {
        BookingStatus.COMPLETED,
        BookingStatus.CANCELLED,
        BookingStatus.NO_SHOW,
    },
}
AFTER_EVENT_STATUSES = {BookingStatus.COMPLETED, BookingStatus.NO_SHOW}


@dataclass(frozen=True)
class Actor:
    """Who did it: a staff user, or a label such as "customer" or "system"."""

    user: object | None = None
    label: str = "system"

    @classmethod
    def of(cls, user) -> "Actor":
        return cls(user=user, label=user.get_username())

    @property
    def is_customer(self) -> bool:
        """The customer through their booking link or the public booking form (no login)."""
        return self.user is None and self.label == "customer"


CUSTOMER = Actor(label="customer")
SYSTEM = Actor(label="system")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(booking: Booking, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(booking.manage_token_hash, hash_token(token))


def availability_changed(*, station_id: int) -> None:
    """Tell cached availability that a chef's time changed at this station, once the current
    transaction commits (stations.availability)."""
    availability.changed_on_commit(station_id)


def _lock_days(station_id: int, days: list[date]) -> None:
    """Serialise chef-picking writes per (station, local date); sorted, so no deadlocks."""
    with connection.cursor() as cursor:
        for day in sorted(set(days)):
            cursor.execute(sql.LOCK_STATION_DAY, [station_id, day.toordinal()])


def _event_started(what: str) -> Conflict:
    return Conflict(
        f"The event has started: it can no longer be {what} here. Please call the station.",
        code="event_started",
    )


def _constraint_of(exc: IntegrityError) -> str:
    """The name of the constraint the database refused a write for ("" when unknown)."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


@contextmanager
def _no_double_booking(detail: str, code: str = "slot_unavailable"):
    """Run a booking write in a savepoint and answer the database's no-overlap refusal
    (the `no_chef_double_booking` exclusion constraint) with a 409."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if _constraint_of(exc) == "no_chef_double_booking":
            raise Conflict(detail, code=code) from exc
        raise


def _record(
    booking: Booking,
    *,
    actor: Actor,
    from_status: str,
    to_status: str,
    reason: str = "",
    data: dict | None = None,
) -> BookingEvent:
    return BookingEvent.objects.create(
        booking=booking,
        actor=actor.user,
        actor_label=actor.label,
        from_status=from_status,
        to_status=to_status,
        reason=reason[:300],
        data=data or {},
    )


# --- Customers -------------------------------------------------------------------------------


def customer_upsert(
    *,
    station: Station,
    name: str,
    email: str = "",
    phone: str = "",
    sms_opt_in: bool = False,
    update_existing: bool = True,
) -> Customer:
    """The station's customer with this e-mail or phone (e-mail wins), created if new. With
    `update_existing` (staff, who know who they are talking to) a match gets the new name and
    sms consent, and the e-mail or phone it lacked unless another customer of the station
    already has it; without it (an unauthenticated request) a match is left exactly as stored.

    One statement, no savepoint (this runs inside the booking's transaction): the lookup, the
    update and an INSERT ... ON CONFLICT DO NOTHING (bookings.sql.CUSTOMER_UPSERT). A
    concurrent request creating the same person makes our insert do nothing; the next attempt
    reads their row. A new customer's other fields (consent flags...) are the model's defaults.
    """
    params = {
        "station": station.pk,
        "name": name,
        "email": (email or "").strip().lower(),
        "phone": phone or "",
        "sms_opt_in": bool(sms_opt_in),
        "update": bool(update_existing),
        **sql.NEW_CUSTOMER.defaults(),
    }
    if not params["email"] and not params["phone"]:
        return Customer.objects.create(station=station, name=name, sms_opt_in=bool(sms_opt_in))
    for _attempt in range(3):
        with connection.cursor() as cursor:
            cursor.execute(sql.CUSTOMER_UPSERT, params)
            row = cursor.fetchone()
        if row is not None:
            return instance_from_row(Customer, row)
    raise Conflict("Please try again.", code="try_again")


# --- Creating a booking ----------------------------------------------------------------------


def _submitted(customer: dict) -> dict:
    """The contact as the request gave it (normalised like the customer row)."""
    return {
        "name": customer.get("name", ""),
        "email": (customer.get("email") or "").strip().lower(),
        "phone": customer.get("phone") or "",
        "sms_opt_in": bool(customer.get("sms_opt_in")),
    }


def customer_apply_submitted_contact(*, booking: Booking, actor: Actor) -> Customer:
    """Staff accept the contact a booking request gave as the customer's own: name, e-mail and
    phone where given, and sms consent when it was given. 409 when another customer of the
    station has that e-mail or phone."""
    given = booking.submitted_contact or {}
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=booking.customer_id)
        before = {"name": customer.name, "email": customer.email, "phone": customer.phone}
        for field in ("name", "email", "phone"):
            if given.get(field):
                setattr(customer, field, given[field])
        customer.sms_opt_in = customer.sms_opt_in or bool(given.get("sms_opt_in"))
        try:
            with transaction.atomic():
                customer.save()
        except IntegrityError as exc:
            raise Conflict("Another customer of this station has that e-mail or phone.") from exc
        booking_note(
            booking=booking,
            actor=actor,
            reason="customer contact updated from this booking",
            data={"before": before},
        )
    return customer


def validate_start(
    *, station: Station, event_date: date, start_time: time, guests: int, now: datetime | None
) -> datetime:
    """Check a requested start against the station's rules; return the aware start instant."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if not 1 <= guests <= station.max_guests:
        errors["adults"] = [f"Parties of 1 to {station.max_guests} guests can book online."]
    earliest, last_day = scheduling.bookable_window(station, now)
    starts_at = None
    if event_date < scheduling.local_today(station, now):
        errors["event_date"] = ["This date is in the past."]
    elif event_date > last_day:
        errors["event_date"] = [f"Bookings open {station.booking_horizon_days} days ahead."]
    elif start_time not in scheduling.start_times(station):
        first, last = station.earliest_start, station.latest_start
        errors["start_time"] = [
            f"Start between {first:%H:%M} and {last:%H:%M}, "
            f"every {station.slot_interval_minutes} minutes."
        ]
    elif (starts_at := scheduling.local_instant(station, event_date, start_time)) is None:
        errors["start_time"] = ["This local time does not exist (daylight-saving change)."]
    elif starts_at < earliest:
        errors["event_date"] = [f"Book at least {station.min_notice_hours} hours ahead."]
    if errors:
        raise ApiError("Some fields are invalid.", code="validation_error", fields=errors)
    return starts_at


def _slot_taken() -> Conflict:
    """What a new booking gets when its slot's last free chef went to someone else: whether
    the free-chef query saw it first or the database's no-overlap constraint did."""
    return Conflict("That time was just taken. Please pick another slot.", code="slot_unavailable")


def _pick_chef(
    station: Station,
    window: scheduling.EventWindow,
    event_date: date,
    *,
    prefer: int | None = None,
    exclude_booking_id: int | None = None,
    exclude_chef_id: int | None = None,
) -> int:
    """A free chef for the window (call under the day lock): the preferred one if free, else the
    one with the fewest events that day. Raises 409 slot_unavailable."""
    free = scheduling.free_chefs_for(
        station,
        window,
        event_date,
        exclude_booking_id=exclude_booking_id,
        exclude_chef_id=exclude_chef_id,
    )
    if not free:
        raise _slot_taken()
    if prefer in free:
        return prefer
    return min(free, key=lambda chef_id: (free[chef_id], chef_id))


def hold_minutes_for(station: Station, source: str) -> int:
    """How long a new unpaid booking holds its chef: staff bookings (phone, staff API) wait
    for a deposit link or cash, so they get the station's longer staff hold."""
    if source == BookingSource.STAFF:
        return station.staff_hold_minutes
    return station.hold_minutes


def booking_create(
    *,
    station: Station,
    event_date: date,
    start_time: time,
    adults: int,
    children: int,
    addon_codes: list[str],
    address: dict,
    customer: dict,
    notes: str = "",
    allergies: str = "",
    source: str = BookingSource.WEB,
    actor: Actor = CUSTOMER,
    now: datetime | None = None,
    request_ref: str = "",
    manage_token: str | None = None,
) -> tuple[Booking, str]:
    """Create a booking in pending_deposit with a free chef; return it and its manage token.

    Raises ApiError (400) for invalid input and Conflict (409 slot_unavailable) when no chef is
    free. The manage token is returned once; only its hash is stored.

    A request under an Idempotency-Key passes its claim (`request_ref`) and a `manage_token`
    derived from the key: a retry of a request that died after this committed (its claim
    taken over) gets the same booking and token back, never a second booking or a 409 for
    the slot its own first attempt holds.
    """
    if request_ref:
        existing = _booking_of_request(request_ref, manage_token)
        if existing is not None:
            return existing, manage_token
    now = now or timezone.now()
    guests = adults + children
    starts_at = validate_start(
        station=station, event_date=event_date, start_time=start_time, guests=guests, now=now
    )
    quote = pricing.quote(
        station=station,
        event_date=event_date,
        adults=adults,
        children=children,
        zip_code=address["zip_code"],
        addon_codes=addon_codes,
    )
    window = scheduling.event_window(station, starts_at, guests)
    token = manage_token or secrets.token_urlsafe(24)
    booking = Booking(
        station=station,
        manage_token_hash=hash_token(token),
        request_ref=request_ref,
        event_date=event_date,
        start_time=start_time,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        blocked=DateTimeTZRange(window.blocked_from, window.blocked_to),
        adults=adults,
        children=children,
        addon_codes=list(addon_codes),
        address_line1=address["line1"],
        address_line2=address.get("line2", ""),
        city=address["city"],
        state=address["state"],
        zip_code=address["zip_code"],
        notes=notes,
        allergies=allergies,
        source=source,
        submitted_contact=_submitted(customer),
        hold_expires_at=now + timedelta(minutes=hold_minutes_for(station, source)),
        currency=quote.currency,
        quote_lines=[line.__dict__ for line in quote.lines],
        subtotal_cents=quote.subtotal_cents,
        travel_fee_cents=quote.travel_fee_cents,
        gratuity_cents=quote.gratuity_cents,
        tax_cents=quote.tax_cents,
        total_cents=quote.total_cents,
        deposit_cents=quote.deposit_cents,
    )
    # No savepoints: the database's refusals abandon the whole transaction, which is then
    # answered (double booking: 409) or retried (a reference already taken, or a customer's
    # e-mail or phone claimed by a concurrent request between our read and our write).
    for attempt in range(3):
        try:
            with transaction.atomic():
                _lock_days(station.pk, [event_date])
                chef_id = _pick_chef(station, window, event_date)
                booking.chef_id = chef_id
                booking.customer = customer_upsert(
                    station=station, update_existing=not actor.is_customer, **customer
                )
                booking.save(force_insert=True)
                _record(
                    booking, actor=actor, from_status="", to_status=booking.status, reason="created"
                )
                availability_changed(station_id=station.pk)
            break
        except IntegrityError as exc:
            constraint = _constraint_of(exc)
            if constraint == "booking_request_ref_unique":  # its twin committed first
                return _booking_of_request(request_ref, manage_token), token
            if constraint == "no_chef_double_booking":
                raise _slot_taken() from exc
            if "reference" not in constraint and not constraint.startswith("customer_"):
                raise
            if attempt == 2:
                raise Conflict("Please try again.", code="try_again") from exc
            booking.pk, booking._state.adding = None, True
            booking.reference = Booking._meta.get_field("reference").default()
    logger.info("booking %s created at %s (chef %s)", booking.reference, station.slug, chef_id)
    return booking, token


def _booking_of_request(request_ref: str, manage_token: str | None) -> Booking | None:
    """The booking an earlier attempt of this request created, if any."""
    bookings = Booking.objects.select_related("station", "customer")
    booking = bookings.filter(request_ref=request_ref).first()
    if booking is not None and not token_matches(booking, manage_token):
        raise Conflict("This Idempotency-Key belongs to another booking.", code="conflict")
    return booking


# --- Status changes --------------------------------------------------------------------------


def booking_transition(
    *,
    booking: Booking,
    to_status: str,
    actor: Actor,
    reason: str = "",
    data: dict | None = None,
    now: datetime | None = None,
) -> Booking:
    """Move a booking to `to_status` if the lifecycle allows it, by compare-and-swap on its
    current status; of concurrent transitions exactly one wins (the others get 409)."""
    now = now or timezone.now()
    from_status = booking.status
    if to_status not in TRANSITIONS.get(from_status, ()):
        raise Conflict(
            f"A {booking.get_status_display().lower()} booking cannot become {to_status}.",
            code="invalid_transition",
        )
    if to_status in AFTER_EVENT_STATUSES and now < booking.starts_at:
        raise Conflict("The event has not started yet.", code="invalid_transition")
    if to_status == BookingStatus.CANCELLED and actor.is_customer and now >= booking.starts_at:
        raise _event_started("cancelled")
    with transaction.atomic():
        # An expired booking keeps when its hold ended: a deposit paid before then revives it.
        hold = {} if to_status == BookingStatus.EXPIRED else {"hold_expires_at": None}
        changed = Booking.objects.filter(pk=booking.pk, status=from_status).update(
            status=to_status, updated_at=now, **hold
        )
        if changed != 1:
            raise Conflict("The booking was changed meanwhile; reload it.", code="conflict")
        booking.refresh_from_db()
        availability_changed(station_id=booking.station_id)
        _record(
            booking,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            data=data,
        )
    return booking


def booking_cancel(
    *, booking: Booking, actor: Actor, reason: str = "", now: datetime | None = None
) -> tuple[Booking, CancellationTerms]:
    """Cancel under the station's policy; the terms (refund, forfeit) are recorded on the
    history line. Frees the chef. The customer cannot once the event has started (409
    event_started); staff still can, and choose the refund themselves (payments).

    The terms are computed with the booking's row locked, in the transaction that cancels it:
    a payment landing meanwhile waits (its sums are written to this row) and then finds the
    booking cancelled, so it is returned, never kept on a stale read."""
    with transaction.atomic():
        locked = Booking.objects.select_for_update().select_related("station").get(pk=booking.pk)
        terms = cancellation_terms(locked, now)
        booking = booking_transition(
            booking=locked,
            to_status=BookingStatus.CANCELLED,
            actor=actor,
            reason=reason or "cancelled",
            data={"policy": terms.as_dict()},
            now=now,
        )
    return booking, terms


def booking_revive(*, booking: Booking, actor: Actor, reason: str) -> bool:
    """Bring an expired booking back as confirmed (its deposit was paid before the hold
    ended): with its own chef if still free, else another free chef, under the day lock and
    the no-overlap constraint. False when no chef is free or the event has started: the
    caller returns the money."""
    now = timezone.now()
    with transaction.atomic():
        _lock_days(booking.station_id, [booking.event_date])
        locked = Booking.objects.select_for_update().select_related("station").get(pk=booking.pk)
        if locked.status != BookingStatus.EXPIRED or now >= locked.starts_at:
            return locked.status == BookingStatus.CONFIRMED
        try:
            chef_id = _pick_chef(
                locked.station,
                _window_of(locked),
                locked.event_date,
                prefer=locked.chef_id,
                exclude_booking_id=locked.pk,
            )
            with transaction.atomic():
                Booking.objects.filter(pk=locked.pk, status=BookingStatus.EXPIRED).update(
                    status=BookingStatus.CONFIRMED,
                    chef_id=chef_id,
                    hold_expires_at=None,
                    updated_at=now,
                )
        except Conflict:
            return False
        except IntegrityError as exc:
            if _constraint_of(exc) != "no_chef_double_booking":
                raise
            return False
        _record(
            locked,
            actor=actor,
            from_status=BookingStatus.EXPIRED,
            to_status=BookingStatus.CONFIRMED,
            reason=reason,
            data={"chef": chef_id},
        )
        availability_changed(station_id=locked.station_id)
    return True


def bookings_expire_holds(*, now: datetime | None = None) -> int:
    """Expire pending_deposit bookings whose hold has run out; returns how many expired."""
    now = now or timezone.now()
    due = Booking.objects.filter(
        status=BookingStatus.PENDING_DEPOSIT, hold_expires_at__lte=now
    ).select_related("station")
    expired = 0
    for booking in due.iterator():
        try:
            booking_transition(
                booking=booking,
                to_status=BookingStatus.EXPIRED,
                actor=SYSTEM,
                reason="deposit not paid in time",
                now=now,
            )
            expired += 1
        except Conflict:
            continue  # paid or cancelled meanwhile
    return expired


# --- Moving a booking ------------------------------------------------------------------------


def _window_of(booking: Booking) -> scheduling.EventWindow:
    return scheduling.EventWindow(
        booking.starts_at, booking.ends_at, booking.blocked.lower, booking.blocked.upper
    )


def chef_is_free(*, booking: Booking, chef: Chef) -> bool:
    """Whether the chef could take this booking now (a read; the write re-checks under lock)."""
    free = scheduling.free_chefs_for(
        booking.station,
        _window_of(booking),
        booking.event_date,
        exclude_booking_id=booking.pk,
        only_chef_id=chef.pk,
    )
    return chef.pk in free


def _move_to_chef(locked: Booking, chef_id: int, actor: Actor) -> Booking:
    previous = locked.chef_id
    locked.chef_id = chef_id
    with _no_double_booking("That chef is not free then.", code="chef_unavailable"):
        locked.save(update_fields=["chef", "updated_at"])
    availability_changed(station_id=locked.station_id)
    booking_note(
        booking=locked,
        actor=actor,
        reason="chef reassigned",
        data={"from_chef": previous, "to_chef": chef_id},
    )
    return locked


def _lock_active(booking: Booking) -> Booking:
    """Take the day lock and the booking's row lock; refuse if it is no longer active."""
    _lock_days(booking.station_id, [booking.event_date])
    locked = Booking.objects.select_for_update().select_related("station").get(pk=booking.pk)
    if not locked.is_active:
        raise Conflict("Only active bookings can be reassigned.", code="invalid_transition")
    return locked


def booking_reassign_chef(*, booking: Booking, chef: Chef, actor: Actor) -> Booking:
    """Give the booking to a given chef of its station, under the no-overlap guarantee."""
    if chef.station_id != booking.station_id or not chef.active:
        raise ApiError(
            "Pick an active chef of this station.",
            code="validation_error",
            fields={"chef": ["Not available."]},
        )
    with transaction.atomic():
        locked = _lock_active(booking)
        if locked.chef_id == chef.pk:
            return locked
        if not chef_is_free(booking=locked, chef=chef):
            raise Conflict(f"{chef.name} is not free then.", code="chef_unavailable")
        return _move_to_chef(locked, chef.pk, actor)


def booking_reassign_to_any_free_chef(*, booking: Booking, actor: Actor) -> Booking:
    """Give the booking to the least busy other chef who is free (admin bulk action)."""
    with transaction.atomic():
        locked = _lock_active(booking)
        chef_id = _pick_chef(
            locked.station,
            _window_of(locked),
            locked.event_date,
            exclude_booking_id=locked.pk,
            exclude_chef_id=locked.chef_id,
        )
        return _move_to_chef(locked, chef_id, actor)


def booking_reschedule(
    *,
    booking: Booking,
    event_date: date,
    start_time: time,
    actor: Actor,
    now: datetime | None = None,
) -> tuple[Booking, dict]:
    """Move an active booking to a new date and time under the station's policy: keep its chef
    when free, else another free chef; re-price for the new date (the people, add-ons and
    travel fee as sold; the minimum spend and rates of the new date); add the change fee when
    due. Payments made stay on the booking (the reschedule credit; payments refunds what
    exceeds the new total). Refused for everyone once the event has started."""
    now = now or timezone.now()
    if not booking.is_active:
        raise Conflict("Only active bookings can be rescheduled.", code="invalid_transition")
    if now >= booking.starts_at:
        raise _event_started("rescheduled")
    station = booking.station
    terms = reschedule_terms(booking, now)
    starts_at = validate_start(
        station=station,
        event_date=event_date,
        start_time=start_time,
        guests=booking.guests,
        now=now,
    )
    quote = pricing.quote(
        station=station,
        event_date=event_date,
        adults=booking.adults,
        children=booking.children,
        zip_code=booking.zip_code,
        addon_codes=booking.addon_codes,
        sold_lines=booking.quote_lines,
        travel_fee_cents=booking.travel_fee_cents,
    )
    window = scheduling.event_window(station, starts_at, booking.guests)
    with transaction.atomic():
        _lock_days(station.pk, [booking.event_date, event_date])
        locked = Booking.objects.select_for_update().get(pk=booking.pk)
        if locked.status != booking.status or locked.reschedule_count != booking.reschedule_count:
            raise Conflict("The booking was changed meanwhile; reload it.", code="conflict")
        if now >= locked.starts_at:
            raise _event_started("rescheduled")
        chef_id = _pick_chef(
            station, window, event_date, prefer=locked.chef_id, exclude_booking_id=locked.pk
        )
        old = {
            "event_date": locked.event_date.isoformat(),
            "start_time": f"{locked.start_time:%H:%M}",
        }
        locked.event_date, locked.start_time = event_date, start_time
        locked.starts_at, locked.ends_at = window.starts_at, window.ends_at
        locked.blocked = DateTimeTZRange(window.blocked_from, window.blocked_to)
        locked.chef_id = chef_id
        locked.reschedule_count += 1
        # Reminders are keyed by the start they announce: the new start's are due again.
        locked.fees_cents += terms.fee_cents
        locked.quote_lines = [line.__dict__ for line in quote.lines]
        locked.subtotal_cents = quote.subtotal_cents
        locked.travel_fee_cents = quote.travel_fee_cents
        locked.gratuity_cents = quote.gratuity_cents
        locked.tax_cents = quote.tax_cents
        locked.total_cents = quote.total_cents + locked.fees_cents
        with _no_double_booking("That time was just taken."):
            locked.save()
        availability_changed(station_id=station.pk)
        data = {
            "from": old,
            "to": {"event_date": event_date.isoformat(), "start_time": f"{start_time:%H:%M}"},
            "policy": terms.as_dict(),
        }
        booking_note(booking=locked, actor=actor, reason="rescheduled", data=data)
    return locked, terms.as_dict()


# --- Money (written by the payments app) and history notes --------------------------------


def booking_set_payment_totals(
    *, booking_id: int, paid_cents: int, refunded_cents: int, refund_pending_cents: int = 0
) -> None:
    """Record what the booking's payments add up to (payments computes the sums)."""
    Booking.objects.filter(pk=booking_id).update(
        amount_paid_cents=paid_cents,
        amount_refunded_cents=refunded_cents,
        amount_refund_pending_cents=refund_pending_cents,
        updated_at=timezone.now(),
    )


def booking_update_details(
    *, booking: Booking, actor: Actor, notes: str | None = None, allergies: str | None = None
) -> Booking:
    """Staff edit the booking's notes or the party's allergies. Only those columns are written
    (a concurrent change of status or money is not undone); a change of allergies, which the
    chef cooks by, is recorded in the history with the old and new text."""
    changes = {}
    if notes is not None and notes != booking.notes:
        changes["notes"] = notes
    if allergies is not None and allergies != booking.allergies:
        changes["allergies"] = allergies
    if not changes:
        return booking
    with transaction.atomic():
        now = timezone.now()
        Booking.objects.filter(pk=booking.pk).update(**changes, updated_at=now)
        if "allergies" in changes:
            _record(
                booking,
                actor=actor,
                from_status=booking.status,
                to_status=booking.status,
                reason="allergies changed",
                data={"allergies": [booking.allergies, changes["allergies"]]},
            )
    for name, value in changes.items():
        setattr(booking, name, value)
    booking.updated_at = now
    return booking


def booking_note(*, booking: Booking, actor: Actor, reason: str, data: dict | None = None) -> None:
    """A line in the booking's history that changes nothing else (e.g. a dispute opened)."""
    _record(
        booking,
        actor=actor,
        from_status=booking.status,
        to_status=booking.status,
        reason=reason,
        data=data,
    )


# --- The customer's booking link (sent by staff) -------------------------------------------


def booking_manage_link(*, booking: Booking, token: str) -> str:
    """The customer's self-service page on the booking site for this booking. The token rides
    in the fragment: browsers never send it to a server, so it stays out of access logs; the
    booking site reads it there and sends it as X-Booking-Token to the API."""
    return f"{settings.BOOKING_SITE_URL}/booking/{booking.reference}#token={token}"


def deposit_link_refusal(booking: Booking) -> str:
    """Why the deposit link can't be e-mailed for this booking now ("" when it can)."""
    customer = booking.customer
    if booking.status != BookingStatus.PENDING_DEPOSIT:
        return (
            f"This booking is {booking.get_status_display().lower()}: "
            "it is not waiting for a deposit."
        )
    if booking.deposit_cents <= 0 or booking.net_paid_cents >= booking.deposit_cents:
        return "This booking needs no deposit (nothing is left to pay for it)."
    if customer.erased_at or customer.do_not_contact:
        return "The customer is marked do not contact: call them instead."
    if not customer.email:
        return "The customer has no e-mail address: add one on the customer's page, or call them."
    if not customer.email_opt_in:
        return "The customer opted out of booking e-mails: call them instead."
    return ""


def booking_send_deposit_link(*, booking: Booking, actor: Actor, request_key: str) -> bool:
    """E-mail the customer a fresh link to their booking, where they pay the deposit.

    Only the hash of a manage token is stored, so sending a link means issuing a new token:
    the link sent before this one stops working (one valid link at a time). The new link goes
    through the outbox (sent after commit) and the history records who sent it.

    Idempotent per request: `request_key` names one click (the form's one-time key); the same
    key again (a double click, a retried POST) sends nothing and keeps the token of the first,
    and returns False. The booking's row is locked, so two clicks at once queue one message.
    Raises Conflict (409 invalid_transition) with the reason when there is nothing to send
    (deposit_link_refusal)."""
    key = f"deposit-link-{booking.pk}-{request_key}"[:200]
    with transaction.atomic():
        locked = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("station", "customer")
            .get(pk=booking.pk)
        )
        if locked.notifications.filter(key=key).exists():
            return False
        refusal = deposit_link_refusal(locked)
        if refusal:
            raise Conflict(refusal, code="invalid_transition")
        token = secrets.token_urlsafe(24)
        Booking.objects.filter(pk=locked.pk).update(
            manage_token_hash=hash_token(token), updated_at=timezone.now()
        )
        money = format_money(locked.deposit_cents - max(0, locked.net_paid_cents), locked.currency)
        local = scheduling.station_tz(locked.station)
        when = locked.starts_at.astimezone(local)
        hold = ""
        if locked.hold_expires_at:
            hold = f" by {locked.hold_expires_at.astimezone(local):%b %d, %I:%M %p %Z}"
        notify_customer(
            booking=locked,
            channel="email",
            key=key,
            subject=f"Pay the deposit for your hibachi party ({locked.reference})",
            text=f"Hello {locked.customer.name},\n\nThank you for booking with "
            f"{locked.station.name}: {when:%A, %B %d at %I:%M %p %Z}, {locked.guests} guests "
            f"(booking {locked.reference}).\n\nPlease pay the deposit of {money}{hold} to keep "
            f"your date:\n{booking_manage_link(booking=locked, token=token)}\n\n"
            "The same link shows your booking and lets you change or cancel it. "
            "It replaces any link we sent you before.",
        )
        booking_note(
            booking=locked,
            actor=actor,
            reason="deposit link e-mailed (a new booking link: older links no longer work)",
            data={"notification": key},
        )
    return True
