"""PII detection and anonymization on Presidio recognizers and spaCy NER.

scrubber = get_scrubber()
scrubber.scrub_many(texts, known=[user_identifiers, ...])   # the flush task's fast path
anonymize_value(email, "hash", entity="EMAIL_ADDRESS")      # one structured field
"""

from __future__ import annotations

from libs.common.pii.findings import Finding, ScrubResult, resolve_overlaps
from libs.common.pii.operators import anonymize_value, keyed_digest
from libs.common.pii.scrubber import PIIScrubber, get_scrubber
from libs.common.settings import PIIMethod

__all__ = [
    "Finding",
    "PIIMethod",
    "PIIScrubber",
    "ScrubResult",
    "anonymize_value",
    "get_scrubber",
    "keyed_digest",
    "resolve_overlaps",
]
