"""Curated messages per level: supportive, never diagnostic, with crisis resources where the
level is high or critical.

Reviewed wording rules (the LLM's output is checked against the same ones, see llm.py):
- speak about what the app noticed or how things may feel, never that the user "has" or
  "is" something (no condition, disorder or diagnosis names), no medical advice;
- invite reaching out (people they trust, their care team, a crisis line);
- high and critical carry CRISIS_RESOURCES (generic: local emergency number, a crisis line,
  a text line), so the words are right wherever the user lives.

A template is chosen by a hash of the intervention's id: stable across retries and re-reads,
spread evenly across users, and no randomness to test around.
"""

from __future__ import annotations

import hashlib
import uuid

from services.risk.config import DISCLAIMER

# Generic on purpose: a local number is not known here, and a wrong one is worse than none.
CRISIS_RESOURCES: tuple[str, ...] = (
    "If you are in immediate danger, call your local emergency number (911 in the US, "
    "112 in the EU, 999 in the UK).",
    "You can call or text 988 (the Suicide & Crisis Lifeline in the US) or your local "
    "crisis line, any time, for free.",
    "You can text HOME to 741741 (Crisis Text Line in the US) to talk with a trained volunteer.",
)
RESOURCE_LEVELS = frozenset({"high", "critical"})
MESSAGE_LEVELS = ("medium", "high", "critical")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "medium": (
        "We noticed things may have felt a bit heavier lately. That is more common than it "
        "might seem, and you do not have to carry it alone. Would it help to check in with "
        "someone you trust, or to take a few minutes today for something that usually "
        "steadies you?",
        "Thank you for keeping up with your check-ins. It looks like the last few days may "
        "have been harder. If you would like, talking to a friend, family member or your care "
        "team can make a difference, and we are here whenever you want to write.",
        "Some days are harder than others, and it seems recent ones might have been. Small "
        "things can help: a short walk, some rest, or reaching out to someone you feel "
        "comfortable with. Your care team is also there if you want to talk.",
    ),
    "high": (
        "We have noticed that things may have been really difficult lately, and we want you "
        "to know you matter. Reaching out can help: a person you trust, your care team, or "
        "one of the lines below. You do not have to wait until it feels like an emergency.",
        "It seems the past days may have been tough. You deserve support, and talking to "
        "someone can help, whether that is someone close to you, your care team, or a "
        "trained listener on one of the lines below.",
    ),
    "critical": (
        "We are concerned about how you may be feeling right now, and we care about your "
        "safety. Please consider reaching out to someone now: a person you trust, your care "
        "team, or one of the lines below. A member of the care team may also get in touch.",
        "You matter, and you do not have to face this alone. If things feel overwhelming, "
        "please reach out now to someone you trust or to one of the lines below; they are "
        "there to listen, any time. Someone from the care team may also contact you.",
    ),
}


# Feature names (services/risk/features/columns.py) as plain areas, by prefix: the only thing
# about a user that leaves this service for the LLM, from this fixed vocabulary.
AREAS: tuple[tuple[str, str], ...] = (
    ("mood_", "mood check-ins"),
    ("activity", "activity in the app"),
    ("engagement", "activity in the app"),
    ("days_since", "activity in the app"),
    ("late_night", "late-night activity"),
    ("journal", "journaling"),
    ("sentiment", "the tone of recent entries"),
    ("negative", "the tone of recent entries"),
    ("crisis", "the tone of recent entries"),
)


def areas_of(top_features: list[dict[str, object]], limit: int = 3) -> list[str]:
    """The distinct plain areas of an assessment's top features, in their order."""
    found: list[str] = []
    for item in top_features:
        name = str(item.get("feature", ""))
        area = next((a for prefix, a in AREAS if name.startswith(prefix)), None)
        if area and area not in found:
            found.append(area)
    return found[:limit]


def needs_resources(level: str) -> bool:
    return level in RESOURCE_LEVELS


def with_resources(text: str, level: str) -> str:
    """`text`, followed by the crisis resources when the level needs them."""
    if not needs_resources(level):
        return text
    return text + "\n\n" + "\n".join(CRISIS_RESOURCES)


def stable_index(intervention_id: uuid.UUID, n: int) -> int:
    """The same index for the same id, every time (not Python's salted `hash`)."""
    return int.from_bytes(hashlib.sha256(intervention_id.bytes).digest()[:8], "big") % n


def template_message(level: str, intervention_id: uuid.UUID) -> str:
    """The curated message for `level` (medium, high or critical) for this intervention."""
    choices = TEMPLATES[level]
    return with_resources(choices[stable_index(intervention_id, len(choices))], level)


def escalation_summary(level: str, top_areas: list[str]) -> str:
    """The clinician-facing text of an escalation row: what fired, and the disclaimer."""
    areas = ", ".join(top_areas) if top_areas else "no single area stood out"
    return (
        f"A {level} risk assessment was recorded; an alert was sent to the care team. "
        f"Main contributing areas: {areas}. {DISCLAIMER}"
    )
