"""The chef's week: a chef's own events for seven days (address with a map link, guests,
allergies, the customer's name and phone, notes) and the "Subscribe" links of their calendar
feed. Nothing about money, the Stripe ledger or bulk actions: a chef reads, and cooks.

Any signed-in admin user with a chef row linked to their login sees their own events (only
theirs, at the stations they belong to); anyone else gets a page that says why there is none.
"""

from datetime import date, timedelta
from urllib.parse import quote

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from bookings import board
from bookings.scheduling import local_today
from stations import admin_time

TEMPLATE = "admin/agenda.html"
GOOGLE_CALENDAR_ADD = "https://calendar.google.com/calendar/r?cid="
MAX_WEEKS_AHEAD = 104  # browsing further ahead than two years is a typo in the URL


def feed_links(chef) -> dict:
    """The chef's feed URL (from the site's public address), as webcal:// for calendar apps
    and as a Google Calendar "add by URL" link."""
    url = settings.PUBLIC_BASE_URL + reverse("chef-feed", kwargs={"token": chef.calendar_token})
    webcal = "webcal://" + url.split("://", 1)[-1]
    return {"url": url, "webcal": webcal, "google": GOOGLE_CALENDAR_ADD + quote(webcal, safe="")}


def _first_day(request, today: date) -> date:
    """?from=YYYY-MM-DD, between today and two years ahead; else today."""
    try:
        wanted = date.fromisoformat(request.GET.get("from", ""))
    except ValueError:
        return today
    return min(max(wanted, today), today + timedelta(weeks=MAX_WEEKS_AHEAD))


def _event(booking) -> dict:
    return {
        "booking": booking,
        "address": board.address_text(booking),
        "map_url": board.map_url(booking),
    }


def agenda_context(request) -> dict:
    """The page's context: the chef, their week and the feed links (no chef: the title only)."""
    context = {"title": "My week"}
    chef = board.chef_of(request.user)
    if chef is None:
        return context
    timezone.activate(admin_time.zone_of(chef.station))  # the chef's station's local time
    today = local_today(chef.station)
    agenda = board.chef_week(request.user, chef, _first_day(request, today))
    context.update(
        chef=chef,
        agenda=agenda,
        days=[{"day": day.day, "events": [_event(b) for b in day.bookings]} for day in agenda.days],
        feed=feed_links(chef),
    )
    return context


def agenda_view(site, request):
    context = {**site.each_context(request), **agenda_context(request)}
    return render(request, TEMPLATE, context)
