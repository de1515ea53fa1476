"""
Drafting a reply to a review, through the AI gateway (DESIGN.md §7), remote or local.

- Remote (an OPENAI_API_KEY is set): `gateway.complete` with our instructions and the review as
  data (the gateway redacts it, delimits it and audits the call), the primary model, plain
  text.
- Local (no key): a short reply written from the rating and the station's name, audited with
  `gateway.record_local` as the inbox's local drafter is. No network.

Only 4- and 5-star reviews are drafted (1-3 stars are L3: a person writes; see
reviews.services.review_reply_prepare). May raise gateway.AIUnavailable (limits, budget,
failures): the review then waits for a person.
"""

import time

from inbox.ai import gateway
from inbox.models import AIInteraction
from reviews.models import Review

PURPOSE = "review_reply"

INSTRUCTIONS = """\
You write the public reply of {station}, a mobile hibachi catering business, to a customer's
review on {platform} ({rating} of 5 stars). Two or three warm, specific sentences in the
review's language: thank the reviewer, answer what they praised or suggested, and invite them
back. Plain text, no hashtags, no emoji, no prices, dates, phone numbers, links or offers, and
never mention the customer's booking details or any personal information.
"""


def local_reply(review: Review) -> str:
    """The local drafter's reply: by rating, with the reviewer's first name and the station."""
    first = (review.author or "").split(" ")[0].strip() or "there"
    station = review.station.name
    if review.rating >= 5:
        return (
            f"Thank you so much, {first}! We're thrilled you enjoyed your hibachi party with "
            f"{station}, and we'd love to cook for you again."
        )
    return (
        f"Thank you for the kind review, {first}! We're glad you enjoyed the party, and if "
        f"there is anything we could have done better, we'd love to hear it. Hope {station} "
        "gets to cook for you again soon!"
    )


def _data(review: Review) -> str:
    return f"Reviewer: {review.author or 'anonymous'}\nReview:\n{review.text or '(no text)'}"


def draft_reply(review: Review) -> tuple[str, AIInteraction]:
    """(the proposed reply, the audit row of the call that wrote it)."""
    station = review.station
    if not gateway.is_remote():
        started = time.monotonic()
        text = local_reply(review)
        interaction = gateway.record_local(
            station=station,
            purpose=PURPOSE,
            prompt=_data(review),
            output=text,
            latency_ms=int((time.monotonic() - started) * 1000),
        )
        return text, interaction
    completion = gateway.complete(
        station=station,
        purpose=PURPOSE,
        instructions=INSTRUCTIONS.format(
            station=station.name, platform=review.get_platform_display(), rating=review.rating
        ),
        data=_data(review),
        customer_facing=True,
    )
    text = completion.text.strip()
    if not text:
        raise gateway.AIUnavailable("the model wrote an empty reply", "invalid")
    return text, completion.interaction
