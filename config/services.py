"""Writes of the project-wide plumbing: staff API tokens (config.tokens says how they are bound
to the password).

A token's secret is returned once, by `api_token_issue`; only its digest is stored. Revoking
deletes the row, so a revoked token can never work again.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings

from config import tokens


def api_token_issue(*, user: AbstractBaseUser) -> tuple[AuthToken, str]:
    """A new token for `user`, expiring after API_TOKEN_TTL_HOURS; returns (row, secret).
    (Not knox's `AuthToken.objects.create`: its digest is not bound to the password.)"""
    secret = tokens.new_secret()
    token = AuthToken(
        digest=tokens.digest(secret, user.get_session_auth_hash()),
        token_key=tokens.lookup_key(secret),
        user=user,
        expiry=timezone.now() + knox_settings.TOKEN_TTL,
    )
    token.save(force_insert=True)
    return token, secret


def api_token_revoke(*, token: AuthToken) -> None:
    """Sign one token out; repeating it is harmless."""
    AuthToken.objects.filter(pk=token.pk).delete()


def api_tokens_revoke(*, queryset: QuerySet[AuthToken]) -> int:
    """Sign the given tokens out (the admin's *Revoke* action); returns how many there were."""
    deleted, _ = AuthToken.objects.filter(pk__in=queryset.values("pk")).delete()
    return deleted


def api_tokens_revoke_for_user(*, user_id: int) -> int:
    """Sign every token of one user out; returns how many there were."""
    deleted, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return deleted


def api_tokens_purge_expired(*, now=None) -> int:
    """Delete expired tokens, and so those a password change left behind once they expire
    (they already fail to authenticate; this only tidies the table)."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()
    return deleted
