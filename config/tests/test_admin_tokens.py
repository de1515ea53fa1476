"""The API tokens page of the admin: owners see their stations' users' tokens (never a secret)
and revoke them; a superuser sees all; other roles see nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from config.models import ApiToken
from config.services import api_token_issue

CHANGELIST = reverse("admin:config_apitoken_changelist")


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tokens(sj_manager, sac_manager):
    """{username: (row, secret)}: one token each for a san-jose and a sacramento user."""
    return {user.username: api_token_issue(user=user) for user in (sj_manager, sac_manager)}


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {token.user.username for token in response.context["cl"].result_list}


def test_the_superuser_sees_every_token(superuser, tokens):
    assert listed(browser(superuser).get(CHANGELIST)) == {"sj-manager", "sac-manager"}


def test_an_owner_sees_the_tokens_of_their_stations_users(owner, tokens, sacramento):
    assert listed(browser(owner).get(CHANGELIST)) == {"sj-manager", "sac-manager"}

    owner.memberships.filter(station=sacramento).delete()
    assert listed(browser(owner).get(CHANGELIST)) == {"sj-manager"}


@pytest.mark.parametrize("who", ["sj_manager", "sj_agent", "sj_chef"])
def test_other_roles_see_nothing(request, who, tokens):
    client = browser(request.getfixturevalue(who))
    assert client.get(CHANGELIST).status_code == 403
    row = tokens["sj-manager"][0]
    change = reverse("admin:config_apitoken_change", args=[row.pk])
    assert client.get(change).status_code == 403
    assert "API tokens" not in client.get(reverse("admin:index")).content.decode()


def test_no_secret_is_shown(owner, tokens):
    row, secret = tokens["sj-manager"]
    client = browser(owner)
    pages = [
        client.get(CHANGELIST).content.decode(),
        client.get(reverse("admin:config_apitoken_change", args=[row.pk])).content.decode(),
    ]
    for html in pages:
        assert "sj-manager" in html
        assert secret not in html
        assert secret[:15] not in html  # knox's lookup prefix is not shown either
        # (the digest is the row's key, so it is in links: it opens nothing, a hash of the secret)


def test_the_revoke_action_signs_the_token_out(owner, tokens):
    row, secret = tokens["sj-manager"]
    api = Client(HTTP_AUTHORIZATION=f"Token {secret}")
    assert api.get("/api/v1/staff/stations/").status_code == 200

    response = browser(owner).post(
        CHANGELIST, {"action": "revoke", "_selected_action": [row.pk]}, follow=True
    )

    assert "1 token(s) revoked." in response.content.decode()
    assert not ApiToken.objects.filter(pk=row.pk).exists()
    assert api.get("/api/v1/staff/stations/").status_code == 401


def test_an_owner_cannot_revoke_another_stations_token(sj_manager, tokens):
    from stations.models import Role

    sj_manager.memberships.update(role=Role.OWNER)  # owner of san-jose only
    theirs = tokens["sac-manager"][0]

    browser(sj_manager).post(CHANGELIST, {"action": "revoke", "_selected_action": [theirs.pk]})

    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_tokens_cannot_be_added_or_edited_in_the_admin(superuser, tokens):
    client = browser(superuser)
    row = tokens["sj-manager"][0]
    assert client.get(reverse("admin:config_apitoken_add")).status_code == 403
    assert client.get(reverse("admin:config_apitoken_delete", args=[row.pk])).status_code == 403
