"""The inbox in the back office, one module per screen: the conversation list and page
(conversations), channels and their credentials (channels), canned replies and WhatsApp
templates (templates_admin), the AI's drafts and its audit trail (ai)."""

from inbox.admin import ai, channels, conversations, templates_admin  # noqa: F401 (registers)
