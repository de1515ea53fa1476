"""Every /api/v1/ route, in one list: this file is the map of the public contract."""

from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from config.auth import ObtainTokenView
from config.health import HealthView
from stations.api import PublicStationViewSet, StaffStationViewSet

public = SimpleRouter(trailing_slash="/?")
public.register("stations", PublicStationViewSet, basename="station")

staff = SimpleRouter(trailing_slash="/?")
staff.register("stations", StaffStationViewSet, basename="staff-station")

urlpatterns = [
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    re_path(r"^auth/token/?$", ObtainTokenView.as_view(), name="auth-token"),
    path("staff/", include(staff.urls)),
    path("", include(public.urls)),
]
