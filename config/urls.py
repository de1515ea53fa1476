from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bookings.feeds import chef_feed, station_feed
from config.auth import admin_login

admin.site.site_header = "Hibachi operations"
admin.site.site_title = "Hibachi operations"
admin.site.index_title = "Back office"

urlpatterns = [
    path("admin/login/", admin_login),  # before the admin's own: the same page, rate limited
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("config.api_urls")),
    # Calendar feeds: the secret token in the URL is the credential (rotate it in the admin).
    re_path(r"^feeds/stations/(?P<token>[-\w]+)\.ics$", station_feed, name="station-feed"),
    re_path(r"^feeds/chefs/(?P<token>[-\w]+)\.ics$", chef_feed, name="chef-feed"),
    path("invitations/", include("stations.urls")),  # staff invited by e-mail accept here
]

if settings.BENCH_ENDPOINTS:
    from bench.views import bare_insert, bare_json

    urlpatterns += [path("bench/json", bare_json), path("bench/insert", bare_insert)]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
