"""The leads back office, one module per part: the pipeline list, quick-add and the admin's
rules (pipeline), the lead page and its work forms (page), the list's actions and "Convert to
booking" (actions), who may see and work which leads (access), list filters (filters), and how
a lead reads (display)."""

from leads.admin import pipeline  # noqa: F401 (registers)
from leads.admin.pipeline import LeadAdmin

__all__ = ["LeadAdmin"]
