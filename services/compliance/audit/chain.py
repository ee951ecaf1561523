"""The hash chain: a canonical encoding of an entry, and its hash over the previous one.

The hash covers the subject's keyed hash (`subject_key`), not the user id itself: erasure
blanks `subject` and the chain still verifies. Verification checks that a subject still
present matches its key, so the subject cannot be altered either.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64  # prev_hash of the first entry


@dataclass(frozen=True)
class Chained:
    """The fields a hash covers: everything stored except the hash itself."""

    id: int
    entry_id: uuid.UUID
    actor: str
    purpose: str
    action: str
    asset: str
    subject_key: str | None  # keyed hash of the subject (libs.common.subjects)
    client_ip: str | None
    device: str | None
    at: datetime
    prev_hash: str


def canonical(entry: Chained) -> bytes:
    """Sorted-key compact JSON; the time in UTC at microseconds (what Postgres stores), so
    the same row read back encodes to the same bytes."""
    return json.dumps(
        {
            "id": entry.id,
            "entry_id": str(entry.entry_id),
            "actor": entry.actor,
            "purpose": entry.purpose,
            "action": entry.action,
            "asset": entry.asset,
            "subject_key": entry.subject_key,
            "client_ip": entry.client_ip,
            "device": entry.device,
            "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "prev_hash": entry.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def entry_hash(entry: Chained) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()
