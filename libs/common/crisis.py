"""The crisis lexicon, shared by the export's crisis filter (a pair with a self-harm or suicide
indicator on either side never enters training data) and the risk service's features (the
count of a user's texts with an indicator).

Indicators are first-person or explicit phrases, not single scary words: "I'd kill for a
coffee", "this workout is killing me", "I'm dying to see it" are not indicators, "I want to
kill myself", "thinking about ending it all", "I cut myself" are. A bot reply that gives a
crisis line (988, "crisis line", "hotline") marks the exchange as a crisis one too, and so does
an intent the chat-bot itself labelled as crisis. Over-matching only costs a training pair;
under-matching would teach a model from someone's worst moment, so the list leans wide.
"""

from __future__ import annotations

import re
from functools import lru_cache

CRISIS_LIST_VERSION = "crisis-1"  # bump on any change below: it is in every manifest

_APOS = "['\u2019]?"  # a straight or curly apostrophe, or none ("dont")

# Each entry is a regex fragment, matched case-insensitively on word boundaries.
PHRASES: tuple[str, ...] = (
    r"suicid(?:e|al)",
    r"kill(?:ing)? my ?self",
    r"end(?:ing)? (?:my|it) (?:life|all)",
    r"end(?:ing)? it all",
    r"take (?:my|my own) life",
    r"taking my (?:own )?life",
    r"(?:want|wanna|ready) (?:to )?die",
    r"wish (?:i was|i were|to be) dead",
    r"better off dead",
    r"better off without me",
    r"self[- ]?harm(?:ing)?",
    r"hurt(?:ing)? my ?self",
    r"cut(?:ting)? my ?self",
    r"harm(?:ing)? my ?self",
    r"overdos(?:e|ed|ing)",
    r"no reason to (?:live|go on)",
    r"not worth living",
    rf"don{_APOS}t want to (?:live|be alive|be here anymore|wake up)",
    rf"don{_APOS}t see the point of (?:anything|living|life|going on)",
    r"can(?:no|')?t go on",
    r"(?:crisis|suicide) (?:line|hotline|text line)",
    r"\b988\b",
)

_CRISIS_INTENT = re.compile(r"crisis|self[-_]?harm|suicid", re.IGNORECASE)


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    body = "|".join(f"(?:{p})" for p in PHRASES)
    return re.compile(rf"\b(?:{body})", re.IGNORECASE)


def has_indicator(text: str | None) -> bool:
    """Whether `text` holds a self-harm or suicide indicator."""
    return bool(text) and _pattern().search(text or "") is not None


def is_crisis(prompt: str, completion: str, intent: str | None = None) -> bool:
    """A pair to keep out of training: an indicator on either side, or a crisis intent."""
    if intent and _CRISIS_INTENT.search(intent):
        return True
    return has_indicator(prompt) or has_indicator(completion)
