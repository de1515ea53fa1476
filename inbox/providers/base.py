"""What every provider module takes and gives back."""

from dataclasses import dataclass, field

from inbox.models import Channel, MessageTemplate


@dataclass(frozen=True)
class Outgoing:
    """One message to send. `key` is the message's idempotency key (our ids); `message_id` is
    echoed back by providers that allow it (Twilio's status-callback URL, WhatsApp's
    biz_opaque_callback_data), so a status callback finds a message whose send was not recorded."""

    message_id: int
    key: str
    channel: Channel
    credentials: dict[str, str]
    to: str  # an E.164 number, an e-mail address, a page-scoped or WhatsApp user id
    body: str
    subject: str = ""
    template: MessageTemplate | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message under this id."""

    provider_message_id: str


class ProviderError(Exception):
    """The provider did not take the message. `permanent`: sending again cannot help (a bad
    number, a blocked recipient, a refused template); otherwise the task retries with backoff.
    The text never holds the recipient's contact data."""

    def __init__(self, message: str, *, permanent: bool, code: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
