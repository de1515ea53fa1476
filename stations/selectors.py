"""Reads of the stations domain that are more than one line."""

from django.contrib.auth import get_user_model

from stations.models import Invitation


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a link's token opens (open or not), or None for an unknown token."""
    return (
        Invitation.objects.select_related("station")
        .filter(token_hash=Invitation.hash_token(token))
        .first()
    )


def has_account(email: str) -> bool:
    return get_user_model().objects.filter(email__iexact=email).exists()
