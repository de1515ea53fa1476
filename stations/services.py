"""Writes of the stations domain."""

import functools
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from stations import availability, tenancy
from stations.models import Chef, Invitation, Membership, Station, TimeOff, new_feed_token

# --- Chefs and time off (they decide availability) ----------------------------------------------


@transaction.atomic
def chef_save(*, chef: Chef) -> Chef:
    """Create or change a chef; availability is recomputed once this commits."""
    chef.save()
    availability.changed_on_commit(chef.station_id)
    return chef


@transaction.atomic
def chefs_delete(*, chefs) -> None:
    """Delete chefs (only those with no bookings: bookings protect their chef)."""
    station_ids = {chef.station_id for chef in chefs}
    for chef in chefs:
        chef.delete()
    for station_id in station_ids:
        availability.changed_on_commit(station_id)


@transaction.atomic
def time_off_save(*, time_off: TimeOff) -> TimeOff:
    """Create or change a chef's time off; availability is recomputed once this commits."""
    time_off.save()
    availability.changed_on_commit(time_off.chef.station_id)
    return time_off


@transaction.atomic
def time_offs_delete(*, time_offs) -> None:
    station_ids = {time_off.chef.station_id for time_off in time_offs}
    for time_off in time_offs:
        time_off.delete()
    for station_id in station_ids:
        availability.changed_on_commit(station_id)


class InvitationClosed(Exception):
    """The invitation was accepted meanwhile or has expired."""


@transaction.atomic
def station_rotate_calendar_token(*, station: Station) -> Station:
    """Give the station's calendar feed a new secret URL; the old one stops working at once."""
    station.calendar_token = new_feed_token()
    station.save(update_fields=["calendar_token", "updated_at"])
    return station


@transaction.atomic
def chef_rotate_calendar_token(*, chef: Chef) -> Chef:
    """Give the chef's calendar feed a new secret URL; the old one stops working at once."""
    chef.calendar_token = new_feed_token()
    chef.save(update_fields=["calendar_token"])
    return chef


# --- Invitations ---------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


@transaction.atomic
def membership_invite(
    *, station: Station, email: str, role: str, invited_by, name: str = ""
) -> Invitation:
    """Invite a person (a new or an existing account) to the station in a role, by e-mail.

    The link's token exists only in the e-mail, which is sent after commit (no mail for an
    invitation that was not saved); the row keeps its hash. An earlier open invitation of the
    address to the station stops working (the newest link is the one that counts). Raises
    ValidationError when the address already belongs to a member of the station."""
    email = normalize_email(email)
    if Membership.objects.filter(station=station, user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a member of the station."})
    now = timezone.now()
    Invitation.objects.filter(
        station=station, email=email, accepted_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        station=station,
        email=email,
        role=role,
        name=name.strip(),
        invited_by=invited_by,
        token_hash=Invitation.hash_token(token),
        expires_at=now + timedelta(days=Invitation.VALID_DAYS),
    )
    link = settings.PUBLIC_BASE_URL + reverse("invitation", kwargs={"token": token})
    transaction.on_commit(functools.partial(_send_invitation, invitation=invitation, link=link))
    return invitation


def _send_invitation(*, invitation: Invitation, link: str) -> None:
    station = invitation.station
    context = {"invitation": invitation, "station": station, "link": link}
    send_mail(
        subject=f"You're invited to {station.name}",
        message=render_to_string("stations/email/invitation.txt", context),
        from_email=station.email or settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


def _claim(invitation: Invitation) -> Invitation:
    """The invitation's row, locked; InvitationClosed when it no longer opens anything."""
    locked = Invitation.objects.select_for_update().select_related("station").get(pk=invitation.pk)
    if not locked.is_open():
        raise InvitationClosed
    return locked


def _join(invitation: Invitation, user) -> Membership:
    membership, _ = Membership.objects.get_or_create(
        user=user, station=invitation.station, defaults={"role": invitation.role}
    )
    if not user.is_staff:
        user.is_staff = True  # the back office is the admin
        user.save(update_fields=["is_staff"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    tenancy.forget_roles(user)
    return membership


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """An existing account accepts (signed in as the invited address). Once: the row is locked
    and a second acceptance raises InvitationClosed. A member already keeps their role."""
    locked = _claim(invitation)
    if normalize_email(user.email or "") != locked.email:
        raise ValidationError("This invitation is for another e-mail address.")
    return _join(locked, user)


@transaction.atomic
def invitation_accept_new_account(*, invitation: Invitation, username: str, password: str):
    """A new account for the invited address (password already checked by the validators),
    and its membership. Once, like invitation_accept. Returns the user."""
    locked = _claim(invitation)
    users = get_user_model()
    if users.objects.filter(email__iexact=locked.email).exists():
        raise ValidationError("An account with this e-mail exists: sign in to accept.")
    first, _, last = locked.name.partition(" ")
    try:
        with transaction.atomic():
            user = users.objects.create_user(
                username=username,
                email=locked.email,
                password=password,
                first_name=first,
                last_name=last,
                is_staff=True,
            )
    except IntegrityError as exc:  # the username was taken meanwhile
        raise ValidationError({"username": "This username is taken."}) from exc
    _join(locked, user)
    return user
