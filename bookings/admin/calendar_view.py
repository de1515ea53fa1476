"""The bookings calendar in the admin (month grid and day lanes of one station, with the chefs'
time off), a view of BookingAdmin. Everything on it is in the station's time zone."""

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import path, reverse

from bookings import calendar
from bookings.scheduling import local_today
from stations import admin_time, tenancy

CALENDAR_YEARS = 50  # how far back and ahead the calendar browses; beyond, today


class CalendarMixin:
    # --- Calendar ---------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(self.calendar_view)
        return [path("calendar/", view, name="bookings_booking_calendar"), *super().get_urls()]

    def calendar_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        stations = list(tenancy.stations_for(request.user).order_by("name"))
        station = next(
            (s for s in stations if str(s.pk) == request.GET.get("station")),
            stations[0] if stations else None,
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Calendar",
            "stations": stations,
            "station": station,
        }
        if station is None:
            return render(request, "admin/bookings/booking/calendar.html", context)
        admin_time.activate_for_station(request, station.pk)
        today = local_today(station)
        try:
            day = date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = today
        if abs(day.year - today.year) > CALENDAR_YEARS:
            day = today  # the grid's neighbouring months must exist (no year 0 or 10000)
        mode = "day" if request.GET.get("view") == "day" else "month"
        month_start = day.replace(day=1)
        context.update(
            mode=mode,
            day=day,
            month=month_start,
            prev_month=(month_start - timedelta(days=1)).replace(day=1),
            next_month=(month_start + timedelta(days=32)).replace(day=1),
            prev_day=day - timedelta(days=1),
            next_day=day + timedelta(days=1),
            changelist=reverse("admin:bookings_booking_changelist"),
        )
        if mode == "month":
            context["weeks"] = calendar.month_grid(request.user, station, month_start)
        else:
            context["lanes"] = calendar.day_lanes(request.user, station, day)
            context["hours"] = calendar.hours()
        return render(request, "admin/bookings/booking/calendar.html", context)
