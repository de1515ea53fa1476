"""Staff API tokens: hashed at rest, expiring, signed out by DELETE /api/v1/auth/token, and dead
after a password change (every way of making one), a deactivation, or the loss of the last
station membership (superusers excepted)."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from stations.models import Membership

pytestmark = pytest.mark.date_sensitive

TOKEN = "/api/v1/auth/token"
STAFF = "/api/v1/staff/stations/"
PASSWORD = "hibachi-demo"
NEW_PASSWORD = "Grill-Sear-Flip-2026"


def sign_in(username="sj-manager", password=PASSWORD) -> dict:
    response = APIClient().post(TOKEN, {"username": username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def staff_status(token: str) -> int:
    return with_token(token).get(STAFF).status_code


def assert_invalid_token(response):
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "authentication_failed"


# --- at rest ---------------------------------------------------------------------------------


def test_the_token_is_not_stored_in_clear(world):
    token = sign_in()["token"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert stored  # one row
    assert token not in stored
    assert token[15:] not in stored  # only knox's 15-character lookup prefix is kept in clear


def test_each_sign_in_gets_a_new_token_and_both_work(world):
    first, second = sign_in()["token"], sign_in()["token"]
    assert first != second
    assert staff_status(first) == staff_status(second) == 200


# --- expiry ----------------------------------------------------------------------------------


def test_the_token_expires_after_the_configured_hours(world):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answer = sign_in()
        issued = timezone.now()
        expiry = answer["expiry"]
        assert expiry.startswith((issued + timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M"))

        clock.shift(timedelta(hours=10) - timedelta(seconds=1))
        assert staff_status(answer["token"]) == 200
        clock.shift(timedelta(seconds=2))
        assert_invalid_token(with_token(answer["token"]).get(STAFF))


def test_the_ttl_is_a_setting(world, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(hours=1)}
    with time_machine.travel(timezone.now(), tick=False) as clock:
        token = sign_in()["token"]
        clock.shift(timedelta(hours=1, seconds=1))
        assert staff_status(token) == 401


def test_the_default_ttl_is_ten_hours():
    from django.conf import settings

    assert settings.API_TOKEN_TTL_HOURS == 10
    assert settings.REST_KNOX["TOKEN_TTL"] == timedelta(hours=10)


# --- signing out -----------------------------------------------------------------------------


def test_delete_signs_the_token_out_for_good(world):
    token, other = sign_in()["token"], sign_in()["token"]

    response = with_token(token).delete(TOKEN)

    assert response.status_code == 204
    assert_invalid_token(with_token(token).get(STAFF))
    assert_invalid_token(with_token(token).delete(TOKEN))
    assert staff_status(other) == 200  # the user's other sign-ins stay


def test_delete_without_a_token_is_401(world):
    response = APIClient().delete(TOKEN)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_delete_with_a_session_is_not_a_sign_out(sj_manager):
    client = APIClient()
    client.force_login(sj_manager)
    assert client.delete(TOKEN).status_code == 401


@pytest.mark.parametrize(
    "header", ["Token x\x00y", "Token " + "g" * 64, "Token " + "a" * 63, "Token é" + "a" * 63]
)
def test_a_malformed_token_is_401_not_500(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_invalid_token(client.get(STAFF))


# --- password changes --------------------------------------------------------------------------


def test_set_password_and_save_revokes_the_tokens(sj_manager):
    token = sign_in()["token"]

    sj_manager.set_password(NEW_PASSWORD)
    sj_manager.save()

    assert_invalid_token(with_token(token).get(STAFF))
    assert staff_status(sign_in(password=NEW_PASSWORD)["token"]) == 200


def test_changepassword_command_revokes_the_tokens(sj_manager, monkeypatch):
    token = sign_in()["token"]
    monkeypatch.setattr(
        "django.contrib.auth.management.commands.changepassword.getpass.getpass",
        lambda prompt="": NEW_PASSWORD,
    )

    call_command("changepassword", "sj-manager", stdout=StringIO())

    assert_invalid_token(with_token(token).get(STAFF))


def test_the_admin_password_form_revokes_the_tokens(client, superuser, sj_manager):
    token = sign_in()["token"]
    client.force_login(superuser)

    response = client.post(
        reverse("admin:auth_user_password_change", args=[sj_manager.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302, response.context["form"].errors
    assert_invalid_token(with_token(token).get(STAFF))


def test_changing_ones_own_password_in_the_admin_revokes_the_tokens(client, sj_manager):
    token = sign_in()["token"]
    client.force_login(sj_manager)

    response = client.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302, response.context["form"].errors
    assert_invalid_token(with_token(token).get(STAFF))


def test_saving_the_user_without_a_password_change_keeps_the_token(sj_manager):
    token = sign_in()["token"]
    sj_manager.first_name = "Sam"
    sj_manager.save()
    assert staff_status(token) == 200


# --- deactivation and memberships ------------------------------------------------------------


def test_deactivation_revokes_the_tokens_for_good(sj_manager):
    token = sign_in()["token"]

    sj_manager.is_active = False
    sj_manager.save()
    assert_invalid_token(with_token(token).get(STAFF))

    sj_manager.is_active = True
    sj_manager.save()
    assert_invalid_token(with_token(token).get(STAFF))


def test_deactivation_by_a_queryset_update_revokes_the_tokens(sj_manager):
    token = sign_in()["token"]
    get_user_model().objects.filter(pk=sj_manager.pk).update(is_active=False)
    assert_invalid_token(with_token(token).get(STAFF))


def test_losing_the_last_membership_revokes_the_tokens_for_good(owner, san_jose, sacramento):
    token = sign_in("demo-owner")["token"]

    Membership.objects.filter(user=owner, station=sacramento).delete()
    assert staff_status(token) == 200  # still a member of san-jose

    membership = Membership.objects.get(user=owner, station=san_jose)
    membership.delete()
    assert_invalid_token(with_token(token).get(STAFF))

    Membership.objects.create(user=owner, station=san_jose, role=membership.role)
    assert_invalid_token(with_token(token).get(STAFF))


def test_a_superuser_without_membership_keeps_the_token(superuser):
    assert not Membership.objects.filter(user=superuser).exists()
    token = sign_in("admin")["token"]
    assert staff_status(token) == 200

    get_user_model().objects.filter(pk=superuser.pk).update(is_superuser=False)
    assert_invalid_token(with_token(token).get(STAFF))


def test_a_user_without_membership_gets_no_token(db):
    from testing.factories import UserFactory

    UserFactory(username="drifter")
    response = APIClient().post(TOKEN, {"username": "drifter", "password": PASSWORD})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"


# --- housekeeping ----------------------------------------------------------------------------


def test_a_secret_key_rotation_with_the_old_key_as_fallback_keeps_the_tokens(world, settings):
    token = sign_in()["token"]
    old = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key-" * 3, [old]
    assert staff_status(token) == 200

    settings.SECRET_KEY_FALLBACKS = []
    assert staff_status(token) == 401


def test_the_hourly_purge_deletes_expired_tokens(world):
    from knox.models import AuthToken

    from config.tasks import purge_expired_api_tokens

    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in()
        clock.shift(timedelta(hours=5))
        fresh = sign_in()["token"]
        clock.shift(timedelta(hours=6))
        assert purge_expired_api_tokens() == 1
        assert AuthToken.objects.count() == 1
        assert staff_status(fresh) == 200


def test_the_hourly_purge_revokes_tokens_of_users_gone_meanwhile(sj_manager, sj_agent, superuser):
    """Deactivated, or out of every station, and back before the token was used: still dead."""
    from config.tasks import purge_expired_api_tokens

    names = ("sj-manager", "sj-agent", "sj-agent", "admin")
    manager, agent, agent_again, admin = (sign_in(name)["token"] for name in names)
    sj_manager.is_active = False
    sj_manager.save()
    membership = sj_agent.memberships.get()
    membership.delete()

    assert purge_expired_api_tokens() == 3

    sj_manager.is_active = True
    sj_manager.save()
    sj_agent.memberships.create(station_id=membership.station_id, role=membership.role)
    statuses = [staff_status(token) for token in (manager, agent, agent_again, admin)]
    assert statuses == [401, 401, 401, 200]  # a superuser needs no station
