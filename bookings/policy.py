"""
The station's cancellation and reschedule policy: one piece of code, used by the customer's
self-service link, the staff API and the admin alike.

Cancel: at least `deposit_forfeit_hours` before the event, everything paid is refunded; inside
that window the deposit is kept and anything paid beyond it is refunded.
Reschedule: the first reschedule asked at least `free_reschedule_notice_hours` before the event
is free; any other pays the price list's change fee. Money already paid stays on the booking
(the reschedule credit); what it holds above the new total is refunded.
Once the event has started the customer can neither cancel nor reschedule; staff record what
happened (completed, no-show, or a cancellation with a refund they choose).
"""

from dataclasses import asdict, dataclass
from datetime import date, datetime

from django.utils import timezone

from bookings import pricing
from bookings.models import Booking
from bookings.pricing import price_list_for


@dataclass(frozen=True)
class CancellationTerms:
    hours_before: int
    refund_cents: int
    forfeit_cents: int
    rule: str  # "full_refund", "deposit_forfeited" or "event_started" (staff decide)
    allowed: bool = True  # whether the customer may still do it themselves

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RescheduleTerms:
    hours_before: int
    free: bool
    fee_cents: int
    rule: str  # "free_reschedule", "change_fee" or "event_started"
    allowed: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def _hours_before(booking: Booking, now: datetime | None) -> int:
    seconds = (booking.starts_at - (now or timezone.now())).total_seconds()
    return int(seconds // 3600)


def event_started(booking: Booking, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= booking.starts_at


def cancellation_terms(booking: Booking, now: datetime | None = None) -> CancellationTerms:
    """What cancelling now gives back. `paid` is what the business holds: refunds already sent
    (even if Stripe has not confirmed them yet) are not counted twice."""
    hours = _hours_before(booking, now)
    paid = max(0, booking.net_paid_cents)
    if event_started(booking, now):
        return CancellationTerms(hours, 0, paid, "event_started", allowed=False)
    if hours >= booking.station.deposit_forfeit_hours:
        return CancellationTerms(hours, paid, 0, "full_refund")
    forfeit = min(booking.deposit_cents, paid)
    return CancellationTerms(hours, paid - forfeit, forfeit, "deposit_forfeited")


def reschedule_terms(booking: Booking, now: datetime | None = None) -> RescheduleTerms:
    hours = _hours_before(booking, now)
    if event_started(booking, now):
        return RescheduleTerms(hours, False, 0, "event_started", allowed=False)
    if booking.reschedule_count == 0 and hours >= booking.station.free_reschedule_notice_hours:
        return RescheduleTerms(hours, True, 0, "free_reschedule")
    return RescheduleTerms(
        hours, False, price_list_for(booking.station).change_fee_cents, "change_fee"
    )


@dataclass(frozen=True)
class ReschedulePreview:
    """What a reschedule to another date would do, before anyone confirms it (staff see it on
    the booking page): the policy's terms, the new total (re-priced as booking_reschedule does,
    plus fees), what would then be due, and what the booking would hold above it (refunded)."""

    terms: RescheduleTerms
    total_cents: int
    balance_due_cents: int
    refund_cents: int


def reschedule_preview(
    booking: Booking, event_date: date, now: datetime | None = None
) -> ReschedulePreview:
    """The terms and money of moving `booking` to `event_date` now: the same re-pricing as
    `bookings.services.booking_reschedule` (the people, add-ons and travel fee as sold; the
    new date's minimum spend and rates). Raises ApiError when the booking can no longer be
    priced (an add-on or ZIP the station dropped)."""
    terms = reschedule_terms(booking, now)
    quote = pricing.quote(
        station=booking.station,
        event_date=event_date,
        adults=booking.adults,
        children=booking.children,
        zip_code=booking.zip_code,
        addon_codes=booking.addon_codes,
        sold_lines=booking.quote_lines,
        travel_fee_cents=booking.travel_fee_cents,
    )
    total = quote.total_cents + booking.fees_cents + terms.fee_cents
    held = max(0, booking.net_paid_cents)
    return ReschedulePreview(terms, total, max(0, total - held), max(0, held - total))
