"""The four anonymization methods, for spans of a text and for whole field values."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from libs.common.pii.findings import EMAIL_ADDRESS, IBAN_CODE, MEDICAL_ID, PERSON, Finding
from libs.common.settings import CommonSettings, PIIMethod, get_settings

HASH_HEX_CHARS = 16  # 64 bits: collision-free at lake scale, short enough to read
MASK_CHAR = "*"
MASK_KEEP = 4
_MASK_MIN_LEN = 8  # shorter values are masked whole: their last 4 chars are most of them
# Case carries no identity here, so "Jane@X.org" and "jane@x.org" hash alike (joins work).
_CASE_INSENSITIVE = frozenset({EMAIL_ADDRESS, PERSON, IBAN_CODE, MEDICAL_ID})


def keyed_digest(value: str, entity: str, key: bytes) -> str:
    """HMAC-SHA256, truncated. Never a plain hash: emails and IPs are brute-forced in minutes."""
    normal = value.strip()
    if entity in _CASE_INSENSITIVE:
        normal = normal.casefold()
    return hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]


def mask(value: str) -> str:
    keep = MASK_KEEP if len(value) >= _MASK_MIN_LEN else 0
    return MASK_CHAR * (len(value) - keep) + value[len(value) - keep :]


def replacement(value: str, entity: str, method: PIIMethod, key: bytes) -> str:
    if method == "redact":
        return ""
    if method == "tag":
        return f"<{entity}>"
    if method == "hash":
        return f"<{entity}:{keyed_digest(value, entity, key)}>"
    if method == "mask":
        return mask(value)
    raise ValueError(f"unknown PII method {method!r}")


def apply(text: str, findings: Sequence[Finding], method: PIIMethod, key: bytes) -> str:
    """Replace non-overlapping findings (sorted by start) in one pass."""
    if not findings:
        return text
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(replacement(text[f.start : f.end], f.entity, method, key))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def hmac_key(settings: CommonSettings) -> bytes:
    return settings.pii_hmac_key.get_secret_value().encode()


def anonymize_value(
    value: str, method: PIIMethod, *, entity: str, settings: CommonSettings | None = None
) -> str:
    """Anonymize a whole structured value (an auth event's email, a name field)."""
    if not value or value.isspace():
        return value or ""
    return replacement(value, entity, method, hmac_key(settings or get_settings()))
