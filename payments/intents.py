"""
Asking for money: the deposit and balance PaymentIntents, charging the card saved with the
deposit, and withdrawing intents the customer should no longer pay.

No network call inside a transaction: Stripe is called before or after the database work, with
an idempotency key derived from our ids, so a retry never charges twice.
"""

import logging

from django.db import IntegrityError
from django.utils import timezone

from bookings import services as bookings
from bookings.models import NO_PAYMENT_STATUSES, Booking, BookingStatus
from bookings.notifications import notify_customer
from config.db import savepoint_if_in_transaction
from config.exceptions import ApiError
from payments import stripe_client
from payments.models import OPEN_STATUSES, Payment, PaymentKind, PaymentStatus

logger = logging.getLogger(__name__)


def _metadata(booking: Booking, kind: str) -> dict:
    return {"booking_reference": booking.reference, "station": booking.station.slug, "kind": kind}


def payment_for_deposit(*, booking: Booking) -> Payment:
    """The booking's deposit PaymentIntent, created on first call (idempotent: the Stripe
    idempotency key and the one-deposit-per-booking constraint both stop a second one).
    Raises stripe_client.StripeError when Stripe can't be reached or refuses."""
    existing = booking.payments.filter(kind=PaymentKind.DEPOSIT).first()
    if existing is not None:
        return existing
    return _create_deposit(booking)


def _create_deposit(booking: Booking) -> Payment:
    # The card is saved on a Stripe Customer, so the balance can be charged to it later; the
    # payment records the customer when Stripe's success event confirms it (card attached).
    customer_id = stripe_client.create_customer(
        email=booking.customer.email,
        name=booking.customer.name,
        metadata={"booking_reference": booking.reference, "station": booking.station.slug},
        idempotency_key=f"booking-{booking.reference}-customer",
    )
    intent = stripe_client.create_payment_intent(
        amount_cents=booking.deposit_cents,
        currency=booking.currency,
        metadata=_metadata(booking, PaymentKind.DEPOSIT),
        idempotency_key=f"booking-{booking.reference}-deposit",
        customer_email=booking.customer.email,
        save_card_for=customer_id,
    )
    try:
        with savepoint_if_in_transaction():
            return Payment.objects.create(
                booking=booking,
                kind=PaymentKind.DEPOSIT,
                amount_cents=booking.deposit_cents,
                currency=booking.currency,
                stripe_payment_intent_id=intent.id,
                client_secret=intent.client_secret,
                offline=stripe_client.is_offline(),
            )
    except IntegrityError:  # a concurrent call (or the webhook) stored it first
        return booking.payments.get(kind=PaymentKind.DEPOSIT)


def booking_create_with_deposit(**booking_fields) -> tuple[Booking, str, Payment | None]:
    """Create a booking (bookings.services.booking_create), then its deposit PaymentIntent
    outside the booking's transaction. If Stripe is unreachable the booking still stands and
    the customer's booking link creates the intent later (payment None here). A retried
    request finds its booking (see booking_create) and its deposit, created once."""
    booking, token = bookings.booking_create(**booking_fields)
    try:
        payment = payment_for_deposit(booking=booking)
    except stripe_client.StripeError:
        logger.warning(
            "deposit intent for booking %s not created; will retry on read",
            booking.reference,
            exc_info=True,
        )
        payment = None
    return booking, token, payment


def payment_request_balance(*, booking: Booking, actor: bookings.Actor) -> Payment:
    """A PaymentIntent for what is still due, and a message to the customer with the link.
    Asking twice for the same balance while it is open gives the same intent; once it was
    paid and refunded (or withdrawn), asking again makes a new one. Whatever else was still
    open for payment (the deposit, an older request) is withdrawn: this one covers it all."""
    booking.refresh_from_db()
    due = booking.balance_due_cents
    if due <= 0:
        raise ApiError("Nothing is due on this booking.", code="nothing_due", status_code=409)
    if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED):
        raise ApiError(
            "Only confirmed bookings have a balance to collect.",
            code="invalid_transition",
            status_code=409,
        )
    try:
        payment = _balance_payment(booking, due)
    except stripe_client.StripeUnavailable as exc:
        raise ApiError(
            "Stripe did not answer; nothing was created. Try again in a minute.",
            code="payment_provider_unavailable",
            status_code=503,
        ) from exc
    except stripe_client.StripeRejected as exc:
        raise ApiError(
            f"Stripe refused the payment request: {exc}",
            code="payment_provider_refused",
            status_code=502,
        ) from exc
    payments_withdraw_stale(booking=booking, keep=payment)
    bookings.booking_note(
        booking=booking,
        actor=actor,
        reason="balance requested",
        data={"amount_cents": due, "payment_intent": payment.stripe_payment_intent_id},
    )
    notify_customer(  # the outbox: sent after this commits
        booking=booking,
        subject=f"Balance for your hibachi party ({booking.reference})",
        key=f"balance-requested-{payment.pk}-{due}",
        text=f"The balance of {due / 100:,.2f} {booking.currency} for booking "
        f"{booking.reference} can be paid from your booking link.",
    )
    return payment


def _balance_payment(booking: Booking, due: int, saved_card: tuple | None = None) -> Payment:
    """The open balance intent for exactly `due` of this kind (a request for the customer to
    pay, or a charge of the saved card), else a new one.

    The Stripe idempotency key counts the booking's balance payments, so a retry after Stripe
    answered but before our row was stored gets the same intent, while a new request after
    the last one was paid and refunded, or withdrawn, gets a new one (reusing a key would
    bring back the old, finished intent)."""
    off_session = saved_card is not None
    existing = booking.payments.filter(
        kind=PaymentKind.BALANCE,
        amount_cents=due,
        off_session=off_session,
        status__in=OPEN_STATUSES,
    ).first()
    if existing is not None:
        return existing
    number = booking.payments.filter(kind=PaymentKind.BALANCE).count() + 1
    kind = "autobalance" if off_session else "balance"
    key = f"booking-{booking.reference}-{kind}-{number}-{due}"
    intent = stripe_client.create_payment_intent(
        amount_cents=due,
        currency=booking.currency,
        metadata=_metadata(booking, PaymentKind.BALANCE),
        idempotency_key=key,
        customer_email=booking.customer.email,
        off_session_with=saved_card,
    )
    payment, _ = Payment.objects.get_or_create(
        stripe_payment_intent_id=intent.id,
        defaults={
            "booking": booking,
            "kind": PaymentKind.BALANCE,
            "amount_cents": due,
            "currency": booking.currency,
            "client_secret": intent.client_secret,
            "offline": stripe_client.is_offline(),
            "off_session": off_session,
        },
    )
    return payment


def payment_charge_saved_card(*, booking: Booking) -> Payment | None:
    """Charge the balance to the card saved with the deposit (the station's automatic option);
    None when there is no saved card or nothing due. Safe to retry: same key, same intent.
    A balance request still open for the customer does not stop it (it is withdrawn once
    the card is charged)."""
    booking.refresh_from_db()
    due = booking.balance_due_cents
    deposit = (
        booking.payments.filter(kind=PaymentKind.DEPOSIT, succeeded=True)
        .exclude(stripe_payment_method_id="")
        .first()
    )
    if due <= 0 or deposit is None or not deposit.stripe_customer_id:
        return None
    card = (deposit.stripe_customer_id, deposit.stripe_payment_method_id)
    return _balance_payment(booking, due, card)


# --- Withdrawing intents ---------------------------------------------------------------------


def payments_withdraw_stale(*, booking: Booking, keep: Payment | None = None) -> list[Payment]:
    """Cancel the PaymentIntents the customer should no longer pay: all of them once the
    booking takes no more money, else those asking for more than is due and balance requests
    for another amount than the balance (and, with `keep`, every other open one). Returns the
    payments withdrawn. One Stripe cannot cancel (it is being paid right now) stays; if its
    money lands, the booking shows the credit for staff."""
    booking.refresh_from_db()
    due = booking.balance_due_cents
    withdrawn = []
    for payment in booking.payments.filter(status__in=OPEN_STATUSES).order_by("pk"):
        if keep is not None and payment.pk == keep.pk:
            continue
        stale = (
            keep is not None
            or booking.status in NO_PAYMENT_STATUSES
            or payment.amount_cents > due
            or (payment.kind == PaymentKind.BALANCE and payment.amount_cents != due)
        )
        if stale and _withdraw(payment):
            withdrawn.append(payment)
    return withdrawn


def payments_withdraw_open(*, booking: Booking) -> int:
    """Withdraw what an ended booking still offered (the sweeper's call); how many."""
    return len(payments_withdraw_stale(booking=booking))


def _withdraw(payment: Payment) -> bool:
    """Cancel one intent at Stripe, then mark it withdrawn (unless its money arrived)."""
    try:
        stripe_client.cancel_payment_intent(
            payment_intent_id=payment.stripe_payment_intent_id,
            idempotency_key=f"withdraw-{payment.pk}",
        )
    except stripe_client.StripeError:
        logger.warning("intent of payment %s not cancelled at Stripe; sweeper retries", payment.pk)
        return False
    Payment.objects.filter(pk=payment.pk, succeeded=False).update(
        status=PaymentStatus.CANCELED, updated_at=timezone.now()
    )
    return True
