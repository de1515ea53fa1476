"""One module per messaging provider (DESIGN.md §8.6): each wraps its HTTP calls, with timeouts,
and maps its errors to `ProviderError` with a `permanent` flag. The sender (inbox.sending) calls
`send(outgoing)` of the module for the channel's kind and never talks HTTP itself."""

from importlib import import_module

from inbox.models import ChannelKind
from inbox.providers.base import Outgoing, ProviderError, Sent

MODULES = {
    ChannelKind.SMS_TWILIO: "inbox.providers.twilio",
    ChannelKind.SMS_RINGCENTRAL: "inbox.providers.ringcentral",
    ChannelKind.WHATSAPP: "inbox.providers.meta",
    ChannelKind.MESSENGER: "inbox.providers.meta",
    ChannelKind.INSTAGRAM: "inbox.providers.meta",
    ChannelKind.EMAIL: "inbox.providers.email",
}


def module_for(kind: str):
    """The provider module that sends on this kind of channel (the contact form sends nothing)."""
    return import_module(MODULES[kind])


__all__ = ["MODULES", "Outgoing", "ProviderError", "Sent", "module_for"]
