"""
Staff API tokens: django-rest-knox's `AuthToken` rows (a digest, a 15-character lookup key, the
user, created, expiry), with the digest bound to the password the token was issued under.

Knox stores SHA-512(secret); we store SHA-512(secret ":" session auth hash), where the session
auth hash is what Django keeps in a session to end it when the password changes (an HMAC of the
password hash under SECRET_KEY). A token is checked against the password its user has now, so
after any password change (admin forms, `manage.py changepassword`, `set_password(); save()`)
no digest matches and the token is dead, with nothing to remember to do. A hash made with a key
of SECRET_KEY_FALLBACKS still counts, as it does for sessions.
"""

from collections.abc import Iterator

from knox.crypto import create_token_string, hash_token
from knox.settings import CONSTANTS, knox_settings


def new_secret() -> str:
    """A token's secret as knox makes it: its prefix (none by default) and 64 hex characters."""
    return knox_settings.TOKEN_PREFIX + create_token_string()


def lookup_key(secret: str) -> str:
    """The part of the secret stored in clear to find the row (knox's `token_key`)."""
    return secret[: CONSTANTS.TOKEN_KEY_LENGTH]


def digest(secret: str, session_auth_hash: str) -> str:
    return hash_token(f"{secret}:{session_auth_hash}")


def digests_for(secret: str, user) -> Iterator[str]:
    """The digests `secret` may be stored under for `user`'s current password."""
    yield digest(secret, user.get_session_auth_hash())
    for fallback in user.get_session_auth_fallback_hash():
        yield digest(secret, fallback)
