"""Pages of the stations app outside the admin: accepting an invitation."""

from django.urls import re_path

from stations.views import invitation_view

urlpatterns = [
    re_path(r"^(?P<token>[-\w]{1,100})/$", invitation_view, name="invitation"),
]
