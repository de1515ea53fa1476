"""The bookings back office, one module per screen: bookings (list, page, actions, calendar),
prices (price list and add-ons), customers, the outbox of notifications, and the forms."""

from bookings.admin import booking, customers, notifications, prices  # noqa: F401 (registers)
from bookings.admin.booking import BookingAdmin

__all__ = ["BookingAdmin"]
