"""The demo pipeline: every status at san-jose, leads at sacramento, one unassigned; a second
seed adds nothing."""

import io

import pytest
from django.core.management import call_command

from leads.models import Lead

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.date_sensitive]


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_pipeline_has_every_status_and_is_idempotent(settings):
    settings.DEBUG = True
    output = seed()
    assert "(10 new)" in output
    # The demo conversations' unknown senders became leads too (the inbox task captured them).
    assert Lead.objects.filter(import_key__startswith="demo-").count() == 10
    assert Lead.objects.filter(import_key__startswith="message-").exists()
    san_jose = set(Lead.objects.filter(station__slug="san-jose").values_list("status", flat=True))
    assert san_jose == {"new", "contacted", "qualified", "quoted", "lost", "won"}
    demo = Lead.objects.filter(import_key__startswith="demo-")
    assert demo.filter(station__slug="sacramento").count() == 2
    assert demo.filter(station__isnull=True).count() == 1
    won = Lead.objects.get(status="won")
    assert won.converted_booking.source == "lead"
    assert all(lead.score_reasons for lead in Lead.objects.all())
    before = sorted(Lead.objects.values_list("pk", "status", "score"))
    assert "(0 new)" in seed().split("leads...")[1]
    assert sorted(Lead.objects.values_list("pk", "status", "score")) == before
