"""Every /api/v1/ route, in one list: this file is the map of the public contract."""

from django.urls import include, path, re_path

from bookings.api import (
    AvailabilityView,
    BookingCreateView,
    BookingManageViewSet,
    MenuView,
    QuoteView,
    StaffBookingViewSet,
    StaffCustomerViewSet,
)
from config.auth import ObtainTokenView
from config.health import HealthView
from config.routers import OptionalSlashRouter
from inbox.api import ContactView, ConversationViewSet, CustomerMergeView, DraftViewSet
from inbox.webhooks.meta import meta_webhook
from inbox.webhooks.ringcentral import ringcentral_webhook
from inbox.webhooks.twilio import twilio_webhook
from leads.api import LeadCaptureView, LeadViewSet
from payments.api import StaffPaymentViewSet
from payments.webhooks import stripe_webhook
from reviews.api import ReviewSubmitView, ReviewViewSet
from reviews.webhooks import google_webhook
from stations.api import PublicStationViewSet, StaffStationViewSet

public = OptionalSlashRouter()
public.register("stations", PublicStationViewSet, basename="station")
public.register("bookings", BookingManageViewSet, basename="booking")

staff = OptionalSlashRouter()
staff.register("stations", StaffStationViewSet, basename="staff-station")
staff.register("bookings", StaffBookingViewSet, basename="staff-booking")
staff.register("customers", StaffCustomerViewSet, basename="staff-customer")
staff.register("payments", StaffPaymentViewSet, basename="staff-payment")
staff.register("conversations", ConversationViewSet, basename="staff-conversation")
staff.register("drafts", DraftViewSet, basename="staff-draft")
staff.register("leads", LeadViewSet, basename="staff-lead")
staff.register("reviews", ReviewViewSet, basename="staff-review")

urlpatterns = [
    re_path(r"^health(?:/)?$", HealthView.as_view(), name="health"),
    re_path(r"^auth/token(?:/)?$", ObtainTokenView.as_view(), name="auth-token"),
    re_path(r"^webhooks/stripe(?:/)?$", stripe_webhook, name="stripe-webhook"),
    re_path(r"^webhooks/twilio(?:/)?$", twilio_webhook, name="twilio-webhook"),
    re_path(r"^webhooks/twilio/status(?:/)?$", twilio_webhook, name="twilio-status-webhook"),
    re_path(r"^webhooks/ringcentral(?:/)?$", ringcentral_webhook, name="ringcentral-webhook"),
    re_path(r"^webhooks/meta(?:/)?$", meta_webhook, name="meta-webhook"),
    re_path(r"^webhooks/google(?:/)?$", google_webhook, name="google-webhook"),
    path("webhooks/email/", include("inbox.webhooks.email")),
    re_path(r"^stations/(?P<slug>[-\w]+)/menu/?$", MenuView.as_view(), name="station-menu"),
    re_path(
        r"^stations/(?P<slug>[-\w]+)/availability/?$",
        AvailabilityView.as_view(),
        name="station-availability",
    ),
    re_path(r"^quotes/?$", QuoteView.as_view(), name="quote"),
    re_path(r"^bookings/?$", BookingCreateView.as_view(), name="booking-create"),
    re_path(r"^contact/?$", ContactView.as_view(), name="contact"),
    re_path(r"^leads/?$", LeadCaptureView.as_view(), name="lead-capture"),
    re_path(r"^reviews/?$", ReviewSubmitView.as_view(), name="review-submit"),
    # Before the staff router: its customers/{id} route would take "merge" for an id.
    re_path(r"^staff/customers/merge/?$", CustomerMergeView.as_view(), name="staff-customer-merge"),
    path("staff/", include(staff.urls)),
    path("", include(public.urls)),
]
