"""The PII re-scan of every output text (defence in depth: ingest scrubbed the text already,
but detectors and name lists improve, and a bad day at ingest must not reach a model).

A hit is scrubbed with the configured method; a text left with nothing useful (fewer than
`MIN_USEFUL_WORDS` words once placeholders are removed) drops its record. Equal texts are
scanned once: chat logs repeat themselves ("ok", templated bot replies).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from libs.common.pii import PIIScrubber, ScrubResult, get_scrubber
from libs.common.settings import CommonSettings, get_settings

# Bump when the re-scan's rules change (not the detectors: their settings are listed beside).
PII_POLICY_VERSION = "export-pii-1"
MIN_USEFUL_WORDS = 2
BATCH = 2_000

_PLACEHOLDER = re.compile(r"<[A-Z_]+(?::[0-9a-f]+)?>|\*{2,}")
_WORD = re.compile(r"[^\W\d_]{2,}")


def policy(settings: CommonSettings) -> dict[str, Any]:
    """What decides the re-scan's output, for the manifest (pattern text hashed, not shown)."""
    patterns = sorted(settings.pii_custom_patterns.items())
    return {
        "version": PII_POLICY_VERSION,
        "method": settings.pii_text_method,
        "ner_enabled": settings.pii_ner_enabled,
        "score_threshold": settings.pii_score_threshold,
        "custom_patterns": [name for name, _ in patterns],
        "custom_patterns_sha256": hashlib.sha256(repr(patterns).encode()).hexdigest(),
        "min_useful_words": MIN_USEFUL_WORDS,
    }


def scrubber_for(settings: CommonSettings) -> PIIScrubber:
    """The process's scrubber when `settings` scrub alike (spaCy loads once), else a new one:
    the manifest's policy must be the one that ran."""
    if policy(settings) == policy(get_settings()):
        return get_scrubber()
    return PIIScrubber(settings)


def useful(text: str) -> bool:
    """Whether a scrubbed text still says something once its placeholders are gone."""
    return len(_WORD.findall(_PLACEHOLDER.sub(" ", text))) >= MIN_USEFUL_WORDS


def rescan(
    scrubber: PIIScrubber,
    texts: Iterable[str],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ScrubResult]:
    """Each distinct text's scrub result, scanned in batches (sorted: a stable batching)."""
    unique = sorted(set(texts))
    out: dict[str, ScrubResult] = {}
    for start in range(0, len(unique), BATCH):
        chunk = unique[start : start + BATCH]
        out.update(zip(chunk, scrubber.scrub_many(chunk), strict=True))
        if progress is not None:
            progress(start + len(chunk), len(unique))
    return out
