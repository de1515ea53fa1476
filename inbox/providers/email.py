"""
E-mail through Django's e-mail API: `EmailMessage` on a connection from `get_connection()`.

- With a Postmark server token (the channel's own, else POSTMARK_SERVER_TOKEN), anymail's
  Postmark backend, at POSTMARK_API_URL, with a timeout of INBOX_PROVIDER_TIMEOUT_SECONDS.
- Without one, EMAIL_URL's backend (the console by default: development shows the mail).

From the channel's address (under the station's name); `Message-ID` derived from the message's
key, so every attempt at one message carries the same id; `In-Reply-To` / `References` (built
by the sender) thread the answer under the customer's last e-mail.

Errors: anymail's AnymailRecipientsRefused and an SMTP server refusing the recipient are
permanent; anymail's API errors are retryable when there was no answer, or a 429 or 5xx, and
permanent otherwise (a 4xx: the request itself is wrong); SMTP and socket trouble is retryable.
"""

import hashlib
import re
import smtplib
from email.utils import formataddr

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from inbox.providers.base import Outgoing, ProviderError, Sent

POSTMARK_BACKEND = "anymail.backends.postmark.EmailBackend"


def message_id(key: str, address: str) -> str:
    """The same RFC 5322 Message-ID for every send of one message: the key's readable part and
    a digest, at the domain of the address it is sent from."""
    readable = re.sub(r"[^A-Za-z0-9-]+", ".", key).strip(".")[:100]
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    domain = address.rpartition("@")[2] or "inbox.hibachi.invalid"
    return f"<{readable}.{digest}@{domain}>"


def _connection(outgoing: Outgoing):
    timeout = settings.INBOX_PROVIDER_TIMEOUT_SECONDS
    token = outgoing.credentials.get("server_token")
    if token:
        return get_connection(
            POSTMARK_BACKEND,
            server_token=token,
            api_url=settings.POSTMARK_API_URL,
            timeout=timeout,
        )
    return get_connection(timeout=timeout)


def send(outgoing: Outgoing) -> Sent:
    channel = outgoing.channel
    our_id = message_id(outgoing.key, channel.address)
    mail = EmailMessage(
        subject=outgoing.subject or f"A message from {channel.station.name}",
        body=outgoing.body,
        from_email=formataddr((channel.station.name, channel.address)),
        to=[outgoing.to],
        headers={"Message-ID": our_id, **outgoing.headers},
        connection=_connection(outgoing),
    )
    try:
        mail.send()
    except AnymailRecipientsRefused:
        raise ProviderError(
            "the e-mail provider refused the address (invalid, bounced or complained)",
            permanent=True,
            code="recipient_refused",
        ) from None
    except AnymailAPIError as exc:
        status = getattr(exc, "status_code", None)
        retryable = status is None or status == 429 or status >= 500
        label = f"HTTP {status}" if status else "no answer"
        raise ProviderError(
            f"the e-mail provider did not take the message ({label})",
            permanent=not retryable,
            code=str(status or "unreachable"),
        ) from None
    except smtplib.SMTPRecipientsRefused:
        raise ProviderError(
            "the mail server refused the address", permanent=True, code="recipient_refused"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise ProviderError(
            f"the mail server did not take the message ({type(exc).__name__})",
            permanent=False,
            code="smtp",
        ) from None
    status = getattr(mail, "anymail_status", None)
    provider_id = getattr(status, "message_id", None) if status is not None else None
    return Sent(provider_message_id=str(provider_id) if provider_id else our_id)
