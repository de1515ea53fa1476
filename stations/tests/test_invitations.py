"""
Owners add staff by e-mail invitation, never by picking from every user of the site: the
membership admin's add form, the e-mail with its one-time link, and the accept page
(/invitations/<token>/) for a new account and for an existing one.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from stations.models import Invitation, Membership, Role
from testing.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

ADD = "admin:stations_membership_add"
LINK = re.compile(r"(https?://\S+/invitations/([-\w]+)/)")


@pytest.fixture
def sj_owner(san_jose):
    """An owner of san-jose only (demo-owner owns both stations)."""
    return MembershipFactory(station=san_jose, role=Role.OWNER).user


@pytest.fixture
def owner_browser(sj_owner):
    client = Client()
    client.force_login(sj_owner)
    return client


def invite(browser, station, email, role="agent", name="", **extra):
    return browser.post(
        reverse(ADD),
        {"station": station.pk, "email": email, "role": role, "name": name, **extra},
    )


def sent_link(mailoutbox) -> tuple[str, str]:
    [mail] = mailoutbox
    url, token = LINK.search(mail.body).groups()
    return url, token


def accept_path(token: str) -> str:
    return f"/invitations/{token}/"


# --- the membership admin ----------------------------------------------------------------------


def test_the_add_form_asks_for_an_email_not_a_user(owner_browser, sac_manager):
    page = owner_browser.get(reverse(ADD))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="email"' in html
    assert 'name="role"' in html
    assert 'name="user"' not in html
    assert sac_manager.username not in html  # nobody's username is offered
    assert "admin" not in re.findall(r"<option[^>]*>([^<]*)</option>", html)


def test_an_owner_invites_by_email_and_the_link_is_mailed(
    owner_browser, sj_owner, san_jose, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = "https://ops.example.com"

    with django_capture_on_commit_callbacks(execute=True):
        response = invite(owner_browser, san_jose, "New.Person@Example.com", name="Nia Person")

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.station, invitation.role, invitation.invited_by) == (
        san_jose,
        Role.AGENT,
        sj_owner,
    )
    assert invitation.email == "new.person@example.com"
    assert invitation.accepted_at is None
    assert timedelta(days=6) < invitation.expires_at - timezone.now() <= timedelta(days=7)
    url, token = sent_link(mailoutbox)
    assert url == f"https://ops.example.com/invitations/{token}/"
    assert mailoutbox[0].to == ["new.person@example.com"]
    assert "San Jose" in mailoutbox[0].body
    # Only a hash of the token is kept.
    assert invitation.token_hash == Invitation.hash_token(token)
    assert not Invitation.objects.filter(token_hash=token).exists()
    assert not Membership.objects.filter(user__email__iexact="new.person@example.com").exists()


def test_no_email_is_sent_when_the_invitation_is_not_saved(
    owner_browser, san_jose, sj_manager, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(owner_browser, san_jose, sj_manager.email)  # already a member

    assert response.status_code == 200
    assert "already" in response.content.decode()
    assert not Invitation.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize("who", ["sj_manager", "sj_agent", "sj_chef"])
def test_only_owners_invite(request, who, san_jose):
    client = Client()
    client.force_login(request.getfixturevalue(who))

    assert client.get(reverse(ADD)).status_code == 403
    assert invite(client, san_jose, "x@example.com").status_code == 403
    assert not Invitation.objects.exists()


def test_an_owner_may_not_invite_to_a_station_they_do_not_own(owner_browser, sacramento):
    response = invite(owner_browser, sacramento, "x@example.com")

    assert response.status_code == 200
    assert "station" in response.context["form"].errors
    assert not Invitation.objects.exists()


def test_the_membership_change_form_does_not_switch_the_user(owner_browser, sj_agent, sj_chef):
    membership = sj_agent.memberships.get()
    url = reverse("admin:stations_membership_change", args=[membership.pk])

    page = owner_browser.get(url)
    response = owner_browser.post(
        url, {"user": sj_chef.pk, "station": membership.station_id, "role": "manager"}
    )

    assert 'name="user"' not in page.content.decode()
    assert response.status_code == 302
    membership.refresh_from_db()
    assert (membership.user, membership.role) == (sj_agent, "manager")


def test_an_owner_may_not_browse_the_users_of_the_site(owner_browser, owner, superuser):
    assert owner_browser.get(reverse("admin:auth_user_changelist")).status_code == 403
    other = Client()
    other.force_login(owner)
    assert other.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert other.get(reverse("admin:auth_user_change", args=[superuser.pk])).status_code == 403
    su = Client()
    su.force_login(superuser)
    assert su.get(reverse("admin:auth_user_changelist")).status_code == 200


def test_an_owner_finds_no_users_through_autocomplete(owner_browser, sj_agent):
    response = owner_browser.get(
        reverse("admin:autocomplete"),
        {"app_label": "stations", "model_name": "chef", "field_name": "user", "term": ""},
    )

    assert response.status_code == 403  # the users of the site are for superusers only
    assert sj_agent.username not in response.content.decode()


def test_a_new_invitation_replaces_the_open_one(invited, mailoutbox):
    first = invited()
    second = invited()

    assert Client().get(accept_path(first)).status_code == 410
    assert Client().get(accept_path(second)).status_code == 200


def test_an_owner_with_user_permissions_still_may_not_browse_users(owner):
    from django.contrib.auth.models import Permission

    owner.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    client = Client()
    client.force_login(owner)

    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert client.get(reverse("admin:auth_user_add")).status_code == 403


# --- accepting ---------------------------------------------------------------------------------


@pytest.fixture
def invited(owner_browser, san_jose, mailoutbox, django_capture_on_commit_callbacks):
    """invited(email, role) → the token mailed for a fresh invitation to san-jose."""

    def make(email="new.person@example.com", role="agent", name="Nia Person") -> str:
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert invite(owner_browser, san_jose, email, role=role, name=name).status_code == 302
        return sent_link(mailoutbox)[1]

    return make


def test_a_new_person_sees_the_station_and_role_then_creates_an_account(invited, san_jose):
    token = invited(role="manager")
    client = Client()

    page = client.get(accept_path(token))
    response = client.post(
        accept_path(token),
        {"username": "nia", "password1": "a-long-Secret-42", "password2": "a-long-Secret-42"},
    )

    assert page.status_code == 200
    assert "San Jose" in page.content.decode()
    assert "Manager" in page.content.decode()
    assert response.status_code == 302
    user = get_user_model().objects.get(username="nia")
    assert user.email == "new.person@example.com"
    assert (user.first_name, user.last_name) == ("Nia", "Person")
    assert user.is_staff
    assert not user.is_superuser
    assert user.check_password("a-long-Secret-42")
    assert Membership.objects.get(user=user).station == san_jose
    assert Membership.objects.get(user=user).role == Role.MANAGER
    invitation = Invitation.objects.get()
    assert invitation.accepted_at is not None
    assert invitation.accepted_by == user
    # Once only.
    again = Client().post(
        accept_path(token),
        {"username": "nia2", "password1": "a-long-Secret-42", "password2": "a-long-Secret-42"},
    )
    assert again.status_code == 410
    assert "San Jose" not in again.content.decode()
    assert not get_user_model().objects.filter(username="nia2").exists()


def test_a_weak_password_or_a_taken_username_is_refused(invited, sj_agent):
    token = invited()
    client = Client()

    weak = client.post(
        accept_path(token), {"username": "nia", "password1": "12345", "password2": "12345"}
    )
    taken = client.post(
        accept_path(token),
        {
            "username": sj_agent.username,
            "password1": "a-long-Secret-42",
            "password2": "a-long-Secret-42",
        },
    )

    assert weak.status_code == 200
    assert "password" in str(weak.context["form"].errors)
    assert taken.status_code == 200
    assert "username" in taken.context["form"].errors
    assert not get_user_model().objects.filter(username="nia").exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_existing_account_must_sign_in_to_accept(invited, sacramento, san_jose):
    person = UserFactory(email="Known@Example.com")
    MembershipFactory(user=person, station=sacramento, role=Role.CHEF)
    token = invited(email="known@example.com", role="agent")

    anonymous = Client().post(accept_path(token))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("admin:login"))
    assert "next=" in anonymous["Location"]
    assert not Membership.objects.filter(user=person, station=san_jose).exists()

    someone_else = UserFactory(email="someone.else@example.com")
    stranger = Client()
    stranger.force_login(someone_else)
    refused = stranger.post(accept_path(token))
    assert refused.status_code == 403
    assert "not as the account of this address" in " ".join(refused.content.decode().split())
    assert not Membership.objects.filter(user__in=[person, someone_else], station=san_jose).exists()
    assert Invitation.objects.get().accepted_at is None

    signed_in = Client()
    signed_in.force_login(person)
    page = signed_in.get(accept_path(token))
    response = signed_in.post(accept_path(token))

    assert page.status_code == 200
    assert 'name="password1"' not in page.content.decode()  # no new account for a known e-mail
    assert response.status_code == 302
    assert Membership.objects.get(user=person, station=san_jose).role == Role.AGENT
    assert Invitation.objects.get().accepted_by == person


def test_an_expired_or_unknown_link_says_so_without_details(invited):
    token = invited()

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        expired = Client().get(accept_path(token))
        post = Client().post(
            accept_path(token),
            {"username": "nia", "password1": "a-long-Secret-42", "password2": "a-long-Secret-42"},
        )
    unknown = Client().get(accept_path("not-a-real-token"))

    assert expired.status_code == 410
    assert post.status_code == 410
    assert unknown.status_code == 404
    for response in (expired, unknown):
        html = response.content.decode()
        assert "San Jose" not in html
        assert "new.person@example.com" not in html
        assert "invitation" in html.lower()
    assert not get_user_model().objects.filter(username="nia").exists()
