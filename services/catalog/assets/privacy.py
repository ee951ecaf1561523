"""Each column's privacy class, from its name and a sample of its values.

- `keyed_hash`: the subject key (an HMAC of the user id) and `<TYPE:hex>` tags;
- `encrypted_per_user`: values sealed with their row's user's data key (`enc1:`), which
  erasure destroys;
- `scrubbed_free_text`: free text that went through the PII scrubber before it landed;
- `clear`: anything else. `personal` marks the clear columns that identify a person.
"""

from __future__ import annotations

import re
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc

from libs.common.crypto import PREFIX
from libs.common.lake_crypto import SUBJECT_COLUMN


class PrivacyClass(StrEnum):
    CLEAR = "clear"
    KEYED_HASH = "keyed_hash"
    ENCRYPTED = "encrypted_per_user"
    SCRUBBED = "scrubbed_free_text"


FREE_TEXT = frozenset({
    "prompt", "completion", "response", "text", "content", "caption", "notes", "message",
    "messages", "journal_text", "summary", "description", "comment", "title",
})  # fmt: skip
IDENTIFIERS = frozenset({"user_id", "email", "phone", "ip", "source_ip", "anonymous_id"})
_TAG = re.compile(r"^<[A-Z][A-Z_]*:[0-9a-f]{8,}>$")


def _strings(values: pa.ChunkedArray | pa.Array) -> pa.Array | None:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_string_view(array.type):
        array = array.cast(pa.string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array.drop_null()


def classify(name: str, sample: pa.ChunkedArray | pa.Array | None) -> PrivacyClass:
    """The class of column `name`, judged on a sample of its values (None: none read)."""
    if name == SUBJECT_COLUMN:
        return PrivacyClass.KEYED_HASH
    values = _strings(sample) if sample is not None else None
    if values is not None and len(values):
        if pc.all(pc.starts_with(values, PREFIX)).as_py():
            return PrivacyClass.ENCRYPTED
        if all(_TAG.match(v) for v in values.to_pylist()[:50]):
            return PrivacyClass.KEYED_HASH
    if name.lower() in FREE_TEXT:
        return PrivacyClass.SCRUBBED
    return PrivacyClass.CLEAR


def personal(name: str, privacy: PrivacyClass) -> bool:
    """Whether a column names a person in the clear (its readers must be allowed to)."""
    return privacy is PrivacyClass.CLEAR and name.lower() in IDENTIFIERS
