"""Today's board: the admin's first page for staff (owners, managers, agents, superusers).

The selected station's events today and for the rest of the week, with chef, address, guests,
allergies, status, paid and balance, and its unpaid holds about to expire; a station picker
for people with several (the choice is kept in the session; `?station=<id>` picks one). The
data comes from bookings.board; this module only chooses the station and shapes the money.

A chef who is staff nowhere lands on their week instead (bookings.admin.agenda), at /admin/
itself (and at admin:chef_agenda, where a chef who is also staff finds it).
"""

from django.http import Http404
from django.utils import timezone

from bookings import board
from bookings.admin import agenda
from config.money import format_money
from stations import admin_time, tenancy
from stations.models import Role

SESSION_KEY = "board_station"


def is_chef_only(user) -> bool:
    """A chef somewhere and staff nowhere (a superuser is staff everywhere)."""
    return not tenancy.has_any_role(user, tenancy.STAFF_WRITE_ROLES) and bool(
        tenancy.station_ids_for(user, roles=[Role.CHEF])
    )


def _row(booking) -> dict:
    return {
        "booking": booking,
        "deposit": format_money(booking.deposit_cents, booking.currency),
        "paid": format_money(booking.net_paid_cents, booking.currency),
        "balance": format_money(booking.balance_due_cents, booking.currency),
        "address": board.address_text(booking),
    }


def _selected_station(request, stations):
    """?station=<id> (one of the user's, else 404: another station's board is not found), else
    the one kept in the session, else the first."""
    asked = request.GET.get("station")
    if asked and not any(str(s.pk) == asked for s in stations):
        raise Http404("No such station.")
    station = board.pick_station(stations, asked or request.session.get(SESSION_KEY))
    if station is not None and request.session.get(SESSION_KEY) != station.pk:
        request.session[SESSION_KEY] = station.pk
    return station


def board_context(request) -> dict:
    """The `board` for the index template (empty when the user is staff at no station)."""
    stations = board.board_stations(request.user)
    station = _selected_station(request, stations)
    if station is None:
        return {}
    timezone.activate(admin_time.zone_of(station))  # the board reads in its station's zone
    data = board.station_board(request.user, station)
    return {
        "title": f"Today at {station.name}",
        "board": data,
        "board_stations": stations,
        "board_days": [
            {"day": day.day, "rows": [_row(b) for b in day.bookings]} for day in data.days
        ],
        "board_has_later": any(day.bookings for day in data.later_days),
        "board_holds": [_row(b) for b in data.expiring_holds],
        "board_is_chef": board.chef_of(request.user) is not None,
    }


def index(site, plain_index, request, extra_context=None):
    """The admin's index: the board above Django's app list for staff; a chef's own week for a
    chef who is staff nowhere."""
    if is_chef_only(request.user):
        # The index's own response (its app list stays in the context), shown as the week.
        response = plain_index(request, extra_context=extra_context)
        response.template_name = agenda.TEMPLATE
        response.context_data.update(agenda.agenda_context(request))
        return response
    context = {**board_context(request), **(extra_context or {})}
    return plain_index(request, extra_context=context)
