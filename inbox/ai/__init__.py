"""
AI drafting (DESIGN.md §7): the one gateway to a model, the local drafter that needs none,
redaction, limits, the audit trail and the L1/L2/L3 ladder.

- `intents.py`: what a customer message can be about, which of those are L3 (a person only),
  and the JSON schema a classification must satisfy.
- `gateway.py`: the only code that calls a model (the `openai` SDK; any OpenAI-compatible
  server through OPENAI_BASE_URL), after the station's rate limit and monthly budget
  (`limits.py`) and redaction (`redaction.py`); every call becomes an AIInteraction.
- `local.py`: the local drafter, rules and station data, no network (no OPENAI_API_KEY).
- `ladder.py`: per inbound message, classify → level → draft → grounding (`grounding.py`)
  → L1 send, L2 draft for approval, L3 a task for a person.
"""
