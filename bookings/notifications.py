"""
Messages to a customer about their booking, through their consented channel: SMS when they
opted in and have a number, else e-mail; nothing for "do not contact". Until the inbox lands,
SMS goes to the log (without the number) and e-mail through Django's e-mail backend.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail

from bookings.models import Booking, Customer

logger = logging.getLogger(__name__)


def channel_for(customer: Customer) -> str | None:
    if customer.do_not_contact or customer.erased_at:
        return None
    if customer.sms_opt_in and customer.phone:
        return "sms"
    if customer.email_opt_in and customer.email:
        return "email"
    return None


def notify_customer(
    *, booking: Booking, subject: str, text: str, channel: str | None = None
) -> str | None:
    """Send one message; returns the channel used (None when the customer can't be reached)."""
    channel = channel or channel_for(booking.customer)
    if channel == "email":
        send_mail(
            subject=subject,
            message=text,
            from_email=booking.station.email or settings.DEFAULT_FROM_EMAIL,
            recipient_list=[booking.customer.email],
        )
    elif channel == "sms":
        logger.info(
            "SMS for booking %s (customer %s): %s", booking.reference, booking.customer_id, text
        )
    return channel
