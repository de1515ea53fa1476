"""
The leads' part of `manage.py seed_demo`: a pipeline at each station with leads in every status
(a fresh one, one past the 15-minute target, called, qualified, quoted, lost, won by a
conversion) and one in the unassigned queue, all through the services (routing, dedupe,
scoring; the won lead's booking has its deposit paid through the payment services, as every
demo booking does). Idempotent: each demo lead has an import key, so a second run finds them.
"""

from datetime import time, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.demo import Fate
from bookings.scheduling import local_today
from bookings.services import Actor
from config.exceptions import ApiError
from leads import services
from leads.models import Lead, LeadStatus
from leads.services import LeadInput
from payments.demo import make_it_so
from stations.models import Station

# (key, minutes ago, status, LeadInput fields and `days` ahead); the station is routed by ZIP
LEADS = [
    ("sj-1", 4, LeadStatus.NEW, {"name": "Priya Raman", "phone": "+14085550141",
     "zip_code": "95129", "days": 24, "guests": 18, "budget_cents": 180_000,
     "message": "Graduation party in the backyard, about 18 people.", "source": "web"}),
    ("sj-2", 42, LeadStatus.NEW, {"name": "Marcus Bell", "email": "marcus@example.com",
     "zip_code": "95014", "days": 12, "guests": 10, "message": "Do you do vegetarian?",
     "source": "instagram"}),
    ("sj-3", 180, LeadStatus.CONTACTED, {"name": "Elena Cruz", "phone": "+14085550143",
     "email": "elena@example.com", "zip_code": "95125", "days": 40, "guests": 25,
     "source": "phone", "message": "Company picnic, wants a call back."}),
    ("sj-4", 1440, LeadStatus.QUALIFIED, {"name": "Tom Becker", "phone": "+14085550144",
     "zip_code": "94301", "days": 19, "guests": 14, "budget_cents": 120_000,
     "source": "referral"}),
    ("sj-5", 2880, LeadStatus.QUOTED, {"name": "Grace Liu", "email": "grace.liu@example.com",
     "zip_code": "95050", "days": 33, "guests": 30, "budget_cents": 300_000,
     "source": "web"}),
    ("sj-6", 5000, LeadStatus.LOST, {"name": "Dan Ortiz", "phone": "+14085550146",
     "zip_code": "95112", "days": 8, "guests": 8, "budget_cents": 40_000, "source": "sms"}),
    ("sj-7", 7000, LeadStatus.WON, {"name": "Hana Kim", "email": "hana.kim@example.com",
     "phone": "+14085550147", "zip_code": "95110", "days": 45, "guests": 16,
     "source": "web"}),
    ("sac-1", 9, LeadStatus.NEW, {"name": "Luis Romero", "phone": "+19165550151",
     "zip_code": "95814", "days": 20, "guests": 22, "source": "web"}),
    ("sac-2", 300, LeadStatus.CONTACTED, {"name": "Amy Chen", "email": "amy.chen@example.com",
     "zip_code": "95661", "days": 50, "guests": 12, "source": "whatsapp"}),
    ("none-1", 60, LeadStatus.NEW, {"name": "Jordan Fields", "email": "jordan@example.com",
     "zip_code": "93101", "days": 30, "guests": 40,
     "message": "Wedding in Santa Barbara, do you travel?", "source": "web"}),
]  # fmt: skip


def _actor_for(station: Station | None) -> Actor:
    username = "sj-agent" if station and station.slug == "san-jose" else "demo-owner"
    user = get_user_model().objects.filter(username=username).first()
    return Actor.of(user) if user else services.SYSTEM


def _work(lead: Lead, status: str, actor: Actor, station: Station) -> None:
    if status in (LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.QUOTED, LeadStatus.WON):
        services.lead_log(lead=lead, kind="call", body="Called; they want a quote.", actor=actor)
    if status in (LeadStatus.QUALIFIED, LeadStatus.QUOTED):
        services.lead_set_status(lead=lead, status=status, actor=actor)
    if status == LeadStatus.LOST:
        services.lead_set_status(
            lead=lead, status=status, actor=actor, reason="Budget too low for 8 guests"
        )
    if status == LeadStatus.WON:
        day = local_today(station) + timedelta(days=45)
        try:
            won = services.lead_convert(
                lead=lead,
                event_date=day,
                start_time=time(13, 0),
                adults=lead.guests or 10,
                children=0,
                addon_codes=[],
                address={
                    "line1": "88 Park Ave",
                    "line2": "",
                    "city": "San Jose",
                    "state": "CA",
                    "zip_code": lead.zip_code,
                },
                actor=actor,
            )
        except ApiError:  # the demo day is full: the lead stays quoted
            services.lead_set_status(lead=lead, status=LeadStatus.QUOTED, actor=actor)
        else:  # the customer paid the deposit (offline Stripe, like every demo booking)
            make_it_so(won.converted_booking, Fate.CONFIRMED)


def build_leads(*, password: str) -> str:
    now = timezone.now()
    added = 0
    for key, minutes_ago, status, fields in LEADS:
        import_key = f"demo-{key}"
        if Lead.objects.filter(import_key=import_key).exists():
            continue
        fields = dict(fields)
        days = fields.pop("days")
        data = LeadInput(**fields, event_date=(now + timedelta(days=days)).date())
        lead, created = services.lead_capture(
            data=data, import_key=import_key, first_reply=False, now=now
        )
        if not created:
            continue
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(minutes=minutes_ago))
        lead.refresh_from_db()
        if lead.station is not None:
            _work(lead, status, _actor_for(lead.station), lead.station)
        added += 1
    return f"{Lead.objects.count()} leads ({added} new)"


STEPS = [("leads", build_leads)]
