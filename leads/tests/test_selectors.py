"""What the dashboard reads: leads by source, time to first human contact (median and p90) and
conversion per station and source; and who sees which leads."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from bookings.services import Actor
from leads import selectors, services
from leads.models import Lead, LeadStatus
from leads.services import LeadInput

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


def capture(n, **fields):
    values = {"name": f"Lead {n}", "email": f"lead{n}@example.com", "zip_code": "95110"}
    values.update(fields)
    return services.lead_capture(data=LeadInput(**values), first_reply=False)[0]


def test_speed_to_lead_and_conversion_figures(san_jose, sacramento, sj_agent):
    leads = []
    with time_machine.travel(NOW, tick=False) as clock:
        for n in range(10):
            leads.append(capture(n, source="web" if n < 6 else "phone"))
        for n in range(3):
            capture(100 + n, zip_code="95811", source="web")
        for minutes, lead in zip([2, 4, 6, 8, 10, 12, 14, 16, 18, 60], leads, strict=True):
            clock.move_to(NOW + timedelta(minutes=minutes))
            services.lead_log(lead=lead, kind="call", body="called", actor=Actor.of(sj_agent))
        services.lead_set_status(
            lead=leads[0], status=LeadStatus.LOST, reason="price", actor=Actor.of(sj_agent)
        )
        Lead.objects.filter(pk__in=[leads[1].pk, leads[7].pk]).update(status=LeadStatus.WON)

    figures = selectors.lead_metrics(Lead.objects.all(), since=NOW - timedelta(days=1))

    assert figures["by_source"] == {"web": 9, "phone": 4}
    assert figures["first_contact"] == {
        "contacted": 10,
        "not_contacted": 3,
        "median_minutes": 11.0,
        "p90_minutes": 18.0,
    }
    by_station = {row["key"]: row for row in figures["conversion_by_station"]}
    assert by_station["san-jose"] == {
        "key": "san-jose",
        "leads": 10,
        "won": 2,
        "lost": 1,
        "rate": 20.0,
    }
    assert by_station["sacramento"]["rate"] == 0.0
    by_source = {row["key"]: row["rate"] for row in figures["conversion_by_source"]}
    assert by_source == {"phone": 25.0, "web": 11.1}
    assert (
        selectors.lead_metrics(Lead.objects.all(), since=NOW + timedelta(days=1))["by_source"] == {}
    )


def test_each_user_sees_their_stations_leads_and_owners_the_unassigned(
    world, owner, sj_agent, sac_manager, sj_chef, superuser
):
    with time_machine.travel(NOW, tick=False):
        sj = capture(1)
        sac = capture(2, zip_code="95811")
        nowhere = capture(3, zip_code="10001")
    seen = lambda user: set(selectors.leads_for(user).values_list("pk", flat=True))  # noqa: E731
    assert seen(sj_agent) == {sj.pk}
    assert seen(sac_manager) == {sac.pk}
    assert seen(owner) == {sj.pk, sac.pk, nowhere.pk}
    assert seen(superuser) == {sj.pk, sac.pk, nowhere.pk}
    assert seen(sj_chef) == set()  # chefs cook; they do not work leads


def test_the_pipeline_counts_come_from_one_query(san_jose, django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        for n in range(4):
            capture(n)
    with django_assert_num_queries(1):
        counts = selectors.pipeline_counts(Lead.objects.filter(station=san_jose))
    assert counts["new"] == 4
    assert counts["open"] == 4
    assert counts["won"] == 0
