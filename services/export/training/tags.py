"""Tags of a training record: the chat-bot's intent (as a kebab-case tag) plus topic tags
from keywords in either side. Sorted and unique, so equal inputs give equal tags."""

from __future__ import annotations

import re

TAGS_VERSION = "tags-1"  # in every manifest

# tag -> keywords (word starts, case-insensitive)
KEYWORDS: dict[str, tuple[str, ...]] = {
    "anxiety": ("anxi", "panic", "worr", "nervous", "chest gets tight"),
    "sleep": ("sleep", "insomnia", "woke up", "tired", "exhausted"),
    "work-stress": ("work", "job", "manager", "boss", "deadline", "burnout"),
    "study-stress": ("exam", "study", "class", "homework"),
    "low-mood": ("sad", "down", "numb", "empty", "hopeless", "meh"),
    "grief": ("grief", "died", "loss", "anniversar"),
    "relationships": ("partner", "friend", "sister", "brother", "mom", "dad", "argu"),
    "coping-strategies": ("breath", "routine", "grounding", "meditat", "walk", "coping", "plan"),
    "gratitude": ("grateful", "gratitude", "lovely", "good day"),
    "substance-use": ("craving", "urge", "sponsor", "relapse"),
    "journal": ("journal",),
}

_PATTERNS = {
    tag: re.compile(r"\b(?:" + "|".join(re.escape(k) for k in words) + ")", re.IGNORECASE)
    for tag, words in KEYWORDS.items()
}
_NOT_TAG = re.compile(r"[^a-z0-9]+")


def intent_tag(intent: str | None) -> str | None:
    if not intent:
        return None
    tag = _NOT_TAG.sub("-", intent.lower()).strip("-")
    return tag or None


def tags_for(prompt: str, completion: str, intent: str | None, source: str) -> list[str]:
    """`source` ("lyfbot", "ai") adds "conversation" for chat-bot turns."""
    found = {
        tag
        for tag, pattern in _PATTERNS.items()
        if pattern.search(prompt) or pattern.search(completion)
    }
    if (tag := intent_tag(intent)) is not None:
        found.add(tag)
    if source == "lyfbot":
        found.add("conversation")
    return sorted(found)
