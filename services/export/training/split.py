"""The train/validation split, by user: a user's records all go to one side.

The side is a keyed hash of the user's subject_key (itself an HMAC of the user id): the same
user lands on the same side in every export with the same ratio, so a model validated on an
earlier export never trains on its validation users later, and nothing in the split reveals
who is where without the key.
"""

from __future__ import annotations

import hashlib

SPLIT_VERSION = "split-1"
_SALT = b"mindlake-export-split-v1\x00"
_SCALE = 2**64


def bucket(subject_key: str) -> float:
    """The user's fixed position in [0, 1)."""
    digest = hashlib.sha256(_SALT + subject_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def is_validation(subject_key: str, ratio: float) -> bool:
    return bucket(subject_key) < ratio
