"""Exact matching of a user's own identifiers (name, email, phone) in that user's text.

NER misses rare or lower-cased names ("quillfeather here, feeling low"); the user's own
identifiers are known from their account, so they are matched literally, case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from spacy.lang.en.stop_words import STOP_WORDS

from libs.common.pii.findings import EMAIL_ADDRESS, PERSON, PHONE_NUMBER, Finding

KNOWN_SCORE = 1.0
_MIN_PART = 3
_MIN_PHONE_DIGITS = 7
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "jr", "sr", "phd", "md"})
_PHONE_SEP = r"[\s().-]*"


def _entity_of(value: str) -> str:
    if "@" in value:
        return EMAIL_ADDRESS
    digits = sum(c.isdigit() for c in value)
    if digits >= _MIN_PHONE_DIGITS and digits * 2 > len(value):
        return PHONE_NUMBER
    return PERSON


def _alternatives(value: str) -> list[tuple[str, str, bool]]:
    """(regex, entity, case-insensitive) for one known value."""
    entity = _entity_of(value)
    if entity == PHONE_NUMBER:
        # Same digits, any punctuation: "(415) 555-0137" is "415-555-0137".
        digits = [c for c in value if c.isdigit()]
        return [(_PHONE_SEP.join(digits), entity, False)]
    alts = [(re.escape(value), entity, True)]
    if entity == PERSON:
        for raw in value.split():
            part = raw.strip(".,'\"()")
            if len(part) < _MIN_PART or part.lower() in _TITLES or part == value:
                continue
            # A part that is also a common word ("Will", "May") counts only capitalised.
            alts.append((re.escape(part), entity, part.lower() not in STOP_WORDS))
    return alts


@lru_cache(maxsize=4096)
def _matcher(known: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[str, ...]] | None:
    """One alternation per set of known values; a user's set repeats across their events."""
    alts: list[tuple[str, str, bool]] = []
    for value in (k.strip() for k in known):
        if len(value) >= _MIN_PART:
            alts.extend(_alternatives(value))
    if not alts:
        return None
    # Longest first, so a full name wins over its parts at the same position.
    alts.sort(key=lambda a: len(a[0]), reverse=True)
    # One capturing group per alternative (escaped values hold no groups): lastindex says which.
    groups = "|".join(f"((?i:{rx}))" if ci else f"({rx})" for rx, _, ci in alts)
    pattern = re.compile(rf"(?<!\w)(?:{groups})(?!\w)")
    return pattern, tuple(e for _, e, _ in alts)


def find_known(text: str, known: Sequence[str]) -> list[Finding]:
    if not text or not known:
        return []
    compiled = _matcher(tuple(sorted({k for k in known if k})))
    if compiled is None:
        return []
    pattern, entities = compiled
    found = []
    for m in pattern.finditer(text):
        idx = m.lastindex
        if idx is not None and m.end() > m.start():
            found.append(Finding(entities[idx - 1], m.start(), m.end(), KNOWN_SCORE))
    return found
