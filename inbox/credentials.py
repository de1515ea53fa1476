"""
A channel's provider credentials: the environment's (settings), or the channel's own, sealed
at rest with AES-256-GCM under a key derived from SECRET_KEY (HKDF, purpose-bound, the channel
id as associated data, so a sealed blob copied to another channel does not open). The database
alone opens nothing; a rotated SECRET_KEY still opens what SECRET_KEY_FALLBACKS sealed. The
admin only ever writes these (inbox.admin), never shows them back.

Keys per channel kind (anything else is refused):
- sms_twilio: account_sid, auth_token
- sms_ringcentral: client_id, client_secret, jwt, verification_token
- whatsapp, messenger, instagram: access_token, app_secret, verify_token
- email: server_token (Postmark)
"""

import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from inbox.models import Channel, ChannelKind

FIELDS = {
    ChannelKind.SMS_TWILIO: {
        "account_sid": "TWILIO_ACCOUNT_SID",
        "auth_token": "TWILIO_AUTH_TOKEN",
    },
    ChannelKind.SMS_RINGCENTRAL: {
        "client_id": "RINGCENTRAL_CLIENT_ID",
        "client_secret": "RINGCENTRAL_CLIENT_SECRET",
        "jwt": "RINGCENTRAL_JWT",
        "verification_token": "RINGCENTRAL_VERIFICATION_TOKEN",
    },
    ChannelKind.WHATSAPP: {
        "access_token": "META_ACCESS_TOKEN",
        "app_secret": "META_APP_SECRET",
        "verify_token": "META_VERIFY_TOKEN",
    },
    ChannelKind.MESSENGER: {
        "access_token": "META_ACCESS_TOKEN",
        "app_secret": "META_APP_SECRET",
        "verify_token": "META_VERIFY_TOKEN",
    },
    ChannelKind.INSTAGRAM: {
        "access_token": "META_ACCESS_TOKEN",
        "app_secret": "META_APP_SECRET",
        "verify_token": "META_VERIFY_TOKEN",
    },
    ChannelKind.EMAIL: {"server_token": "POSTMARK_SERVER_TOKEN"},
    ChannelKind.WEB: {},
}

# What must be present for the channel to send at all (else: "not sent: channel offline").
REQUIRED_TO_SEND = {
    ChannelKind.SMS_TWILIO: ("account_sid", "auth_token"),
    ChannelKind.SMS_RINGCENTRAL: ("client_id", "client_secret", "jwt"),
    ChannelKind.WHATSAPP: ("access_token",),
    ChannelKind.MESSENGER: ("access_token",),
    ChannelKind.INSTAGRAM: ("access_token",),
    ChannelKind.EMAIL: (),  # EMAIL_URL's backend (the console by default) always takes mail
    ChannelKind.WEB: None,  # never sends
}

_INFO = b"hibachi inbox channel credentials v1"


def _key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())


def _aad(channel_id: int, scope: str = "channel") -> bytes:
    return f"{scope}:{channel_id}".encode()


def seal(channel_id: int, values: dict[str, str], *, scope: str = "channel") -> bytes:
    """Seal `values` for one row. `scope` names the kind of row (another app's credentials,
    e.g. reviews' "google-location"), so a blob copied to another kind of row does not open."""
    nonce = os.urandom(12)
    plain = json.dumps(values, sort_keys=True).encode()
    aad = _aad(channel_id, scope)
    return nonce + AESGCM(_key(settings.SECRET_KEY)).encrypt(nonce, plain, aad)


def unseal(
    channel_id: int, sealed: bytes | memoryview | None, *, scope: str = "channel"
) -> dict[str, str]:
    """The channel's own credentials ({} when none, or when no current or fallback secret
    opens them: the channel then uses the environment's)."""
    if not sealed:
        return {}
    sealed = bytes(sealed)
    nonce, ciphertext = sealed[:12], sealed[12:]
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        try:
            plain = AESGCM(_key(secret)).decrypt(nonce, ciphertext, _aad(channel_id, scope))
        except Exception:  # noqa: S112 (the next secret may open it)
            continue
        return json.loads(plain)
    return {}


def channel_set_credentials(*, channel: Channel, values: dict[str, str]) -> None:
    """Store the channel's own credentials (blank values dropped: the environment's apply);
    an empty dict clears them."""
    allowed = FIELDS[channel.kind]
    unknown = set(values) - set(allowed)
    if unknown:
        raise ValueError(f"not a credential of {channel.kind}: {', '.join(sorted(unknown))}")
    kept = {name: value for name, value in values.items() if value}
    sealed = seal(channel.pk, kept) if kept else None
    Channel.objects.filter(pk=channel.pk).update(credentials_sealed=sealed)
    channel.credentials_sealed = sealed


def for_channel(channel: Channel) -> dict[str, str]:
    """Every credential of the channel: its own where set, else the environment's."""
    own = unseal(channel.pk, channel.credentials_sealed)
    return {
        name: own.get(name) or getattr(settings, setting, "")
        for name, setting in FIELDS[channel.kind].items()
    }


def offline_reason(channel: Channel) -> str:
    """Why the channel cannot send ("" when it can): no credentials is "channel offline"."""
    required = REQUIRED_TO_SEND[channel.kind]
    if required is None:
        return "the contact form receives only"
    values = for_channel(channel)
    missing = [name for name in required if not values.get(name)]
    return "channel offline (no credentials)" if missing else ""
