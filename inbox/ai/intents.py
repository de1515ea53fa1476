"""What a customer message can be about, and what the ladder does with each (DESIGN.md §7)."""

from dataclasses import dataclass, field

# Answered from station data; a station may let L1 send these (stations.models.L1Intent).
PRICE = "price"
MENU = "menu"
INCLUDED = "included"
SERVICE_AREA = "service_area"
AVAILABILITY = "availability"
DEPOSIT_POLICY = "deposit_policy"
CANCELLATION_POLICY = "cancellation_policy"
# A person drafts with help (L2 at most).
BOOKING_REQUEST = "booking_request"  # wants to book: a person confirms the details
GREETING = "greeting"
OTHER = "other"
# A person only (L3): no draft.
BOOKING_CHANGE = "booking_change"  # change, move or cancel an existing booking
COMPLAINT = "complaint"
REFUND = "refund"  # refunds and chargebacks
ALLERGY = "allergy"  # allergies and anything medical
LEGAL = "legal"
THREAT = "threat"

ANSWERABLE = (
    PRICE,
    MENU,
    INCLUDED,
    SERVICE_AREA,
    AVAILABILITY,
    DEPOSIT_POLICY,
    CANCELLATION_POLICY,
)
ALL = (
    *ANSWERABLE,
    BOOKING_REQUEST,
    GREETING,
    OTHER,
    BOOKING_CHANGE,
    COMPLAINT,
    REFUND,
    ALLERGY,
    LEGAL,
    THREAT,
)
L3 = frozenset({BOOKING_CHANGE, COMPLAINT, REFUND, ALLERGY, LEGAL, THREAT})

# Risks a message can carry whatever its main intent; any of them makes it L3. "injection":
# the message tries to instruct the assistant (it never raises its own level: it lowers it).
RISKS = ("complaint", "refund", "allergy", "legal", "threat", "booking_change", "injection")

CLASSIFICATION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["intent", "confidence", "risks", "language"],
    "properties": {
        "intent": {"type": "string", "enum": list(ALL)},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "risks": {"type": "array", "items": {"type": "string", "enum": list(RISKS)}},
        "language": {"type": "string", "maxLength": 12},
    },
}


@dataclass(frozen=True)
class Classification:
    """What one customer message is about. `confidence` 0..1; `risks` from RISKS."""

    intent: str
    confidence: float
    risks: tuple[str, ...] = field(default_factory=tuple)
    language: str = "en"

    @property
    def is_l3(self) -> bool:
        return self.intent in L3 or bool(self.risks)
