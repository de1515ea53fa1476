"""The inbox in the back office, one module per screen: the conversation list and page
(conversations), channels and their credentials (channels), canned replies and WhatsApp
templates (templates_admin)."""

from inbox.admin import channels, conversations, templates_admin  # noqa: F401 (registers)
