"""
Who may read the Stripe ledger and run its actions in the admin (DESIGN.md §3): the same roles as
payments (chefs see no money), and every admin action checks the role at the station of each
selected row, not only whether the button is shown.
"""

import pytest
from django.urls import reverse

from payments.models import StripeEvent
from payments.tests.conftest import deposit_of
from stations.models import Membership, Role
from testing.factories import UserFactory

pytestmark = pytest.mark.django_db

LEDGER = "admin:payments_stripeevent_changelist"


@pytest.fixture
def queued(monkeypatch):
    """The ids the ledger's `reprocess` action queued (instead of queueing them)."""
    from payments import tasks

    calls = []
    monkeypatch.setattr(tasks.process_stripe_event, "delay", calls.append)
    return calls


@pytest.fixture
def ledger_row(paid_booking):
    return StripeEvent.objects.get(station=paid_booking.station)


@pytest.fixture
def agent_here_manager_there(san_jose, sacramento):
    """An agent at san-jose who manages sacramento: the action buttons show, san-jose rows are
    still not theirs to act on."""
    user = UserFactory()
    Membership.objects.create(user=user, station=san_jose, role=Role.AGENT)
    Membership.objects.create(user=user, station=sacramento, role=Role.MANAGER)
    return user


def test_a_chef_does_not_see_the_ledger(ledger_row, paid_booking, client, sj_chef):
    client.force_login(sj_chef)

    change = client.get(reverse("admin:payments_stripeevent_change", args=[ledger_row.pk]))
    listed = client.get(reverse(LEDGER))

    assert change.status_code == 403  # chefs may not see the ledger at all
    assert deposit_of(paid_booking).stripe_payment_intent_id not in change.content.decode()
    assert paid_booking.customer.email not in change.content.decode()
    assert listed.status_code == 403
    index = client.get(reverse("admin:index"))
    assert "payments" not in {app["app_label"] for app in index.context["app_list"]}


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("sj_chef", 403),  # may not see the ledger
        ("sj_agent", 200),  # sees it, with no action to run: the list, unchanged
    ],
)
def test_chefs_and_agents_may_not_reprocess_ledger_rows(
    request, who, status, ledger_row, client, queued
):
    client.force_login(request.getfixturevalue(who))

    response = client.post(
        reverse(LEDGER), {"action": "reprocess", "_selected_action": [ledger_row.pk]}
    )

    assert response.status_code == status
    assert queued == []


def test_a_manager_reprocesses_own_ledger_rows(ledger_row, client, sj_manager, queued):
    client.force_login(sj_manager)

    client.post(reverse(LEDGER), {"action": "reprocess", "_selected_action": [ledger_row.pk]})

    assert queued == [ledger_row.pk]


def test_an_action_checks_the_role_at_each_selected_rows_station(
    ledger_row, client, agent_here_manager_there, queued
):
    client.force_login(agent_here_manager_there)

    response = client.post(
        reverse(LEDGER), {"action": "reprocess", "_selected_action": [ledger_row.pk]}
    )

    assert response.status_code == 403
    assert queued == []


def test_the_refund_action_checks_the_role_at_the_payments_station(
    paid_booking, client, agent_here_manager_there
):
    client.force_login(agent_here_manager_there)
    payment = deposit_of(paid_booking)

    response = client.post(
        reverse("admin:payments_payment_changelist"),
        {
            "action": "refund_selected",
            "_selected_action": [payment.pk],
            "apply": "Refund",
            "amount_cents": "100",
            "refund_token": "1",
        },
    )

    assert response.status_code == 403
    assert not payment.refunds.exists()
