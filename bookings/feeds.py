"""
Calendar feeds (iCalendar) per station and per chef, behind a secret URL token that staff can
rotate (stations.services). Calendar apps poll these URLs, so they are plain GETs with no login;
the token is the credential, compared by a unique-index lookup, and a wrong one is 404.
"""

from datetime import timedelta

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone
from icalendar import Calendar, Event

from bookings.models import Booking, BookingStatus
from stations.models import Chef, Station

FEED_STATUSES = (BookingStatus.PENDING_DEPOSIT, BookingStatus.CONFIRMED, BookingStatus.COMPLETED)
PAST_DAYS = 30
FUTURE_DAYS = 365


def _calendar(name: str, tz: str, bookings) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Hibachi operations//bookings//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", tz)
    host = settings.PUBLIC_BASE_URL.split("://")[-1]
    for booking in bookings:
        event = Event()
        event.add("uid", f"{booking.reference}@{host}")
        event.add("dtstamp", booking.updated_at)
        event.add("dtstart", booking.starts_at)
        event.add("dtend", booking.ends_at)
        status = "" if booking.status != BookingStatus.PENDING_DEPOSIT else " (deposit pending)"
        event.add("summary", f"Hibachi for {booking.guests}: {booking.customer.name}{status}")
        event.add(
            "location",
            ", ".join(
                filter(
                    None,
                    [
                        booking.address_line1,
                        booking.address_line2,
                        booking.city,
                        f"{booking.state} {booking.zip_code}",
                    ],
                )
            ),
        )
        event.add(
            "description",
            "\n".join(
                filter(
                    None,
                    [
                        f"Booking {booking.reference}, chef {booking.chef.name}",
                        f"ALLERGIES: {booking.allergies}" if booking.allergies else "",
                        f"{booking.adults} adults, {booking.children} children",
                        f"Add-ons: {', '.join(booking.addon_codes)}" if booking.addon_codes else "",
                        f"Notes: {booking.notes}" if booking.notes else "",
                        f"Customer phone: {booking.customer.phone}"
                        if booking.customer.phone
                        else "",
                    ],
                )
            ),
        )
        event.add("status", "CONFIRMED" if booking.status != "pending_deposit" else "TENTATIVE")
        cal.add_component(event)
    return cal.to_ical()


def _feed(queryset, name: str, tz: str) -> HttpResponse:
    now = timezone.now()
    bookings = (
        queryset.filter(
            status__in=FEED_STATUSES,
            starts_at__gte=now - timedelta(days=PAST_DAYS),
            starts_at__lte=now + timedelta(days=FUTURE_DAYS),
        )
        .select_related("customer", "chef")
        .order_by("starts_at")
    )
    response = HttpResponse(
        _calendar(name, tz, bookings), content_type="text/calendar; charset=utf-8"
    )
    response["Cache-Control"] = "private, max-age=300"
    return response


def station_feed(request, token: str):
    station = Station.objects.filter(calendar_token=token).first()
    if station is None:
        raise Http404
    return _feed(
        Booking.objects.filter(station=station), f"{station.name} bookings", station.timezone
    )


def chef_feed(request, token: str):
    chef = Chef.objects.filter(calendar_token=token).select_related("station").first()
    if chef is None:
        raise Http404
    return _feed(
        Booking.objects.filter(chef=chef), f"{chef.name}: hibachi events", chef.station.timezone
    )
