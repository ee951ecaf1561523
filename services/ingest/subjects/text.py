"""What a user's entry holds, for erasure and portability: its free text and identifiers
(the needles the erasure scan searches for), and its values decrypted."""

from __future__ import annotations

import re
from typing import Any

import orjson

from libs.common.crypto import decrypt_text, is_encrypted
from services.ingest.flush.landing import IDENTIFIER_KINDS
from services.ingest.logs.schemas import COMMON_FIELDS, ENTRY_TYPES

ID_CHARS = r"A-Za-z0-9_.:@\-"  # logs/fields.ID_PATTERN's alphabet
HASHED = re.compile(r"^<[A-Z_]+:[0-9a-f]+>$")  # libs/common/pii's keyed-hash replacement


# --- what an entry holds ---------------------------------------------------------------------
def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def holds_id(record: dict[str, Any], user_id: str) -> bool:
    """Whether a record whose user is unknown names the user: a top-level value (a string or a
    whole number) or a string anywhere inside it that is the user id exactly. An identifier
    match, never a substring: a longer value holding the id (`u-10` for `u-1`, or a sentence
    mentioning it) is someone else's or free text, and is left alone."""
    for value in record.values():
        if isinstance(value, int) and not isinstance(value, bool) and str(value) == user_id:
            return True
    return user_id in strings_in(record)


def texts_of(service: str | None, entry: dict[str, Any]) -> list[str]:
    """Free text in an entry (or a landed body merged with its extras): the free-text fields,
    unknown fields and identifying fields (hashed once landed). Enumerations such as an
    event name or a mood are left out: they are not the user's own words."""
    model = ENTRY_TYPES.get(service or "")
    if model is None:
        return [s for k, v in entry.items() if k not in COMMON_FIELDS for s in strings_in(v)]
    found = [s for name in model.FREE_TEXT for s in strings_in(entry.get(name))]
    found += [s for k, v in entry.items() if k not in model.model_fields for s in strings_in(v)]
    for holder, key, entity in model.identifier_slots(entry):
        # hashed once landed (unique to the user); a bare name before that is no needle
        if HASHED.match(holder[key]) or IDENTIFIER_KINDS.get(entity) != "name":
            found.append(holder[key])
    return found


def identifiers_of(service: str | None, entry: dict[str, Any]) -> list[str]:
    """Emails and phone numbers in an entry's identifying fields (names are not needles)."""
    model = ENTRY_TYPES.get(service or "")
    if model is None or not model.IDENTIFIERS:
        return []
    return [
        holder[key].strip()
        for holder, key, entity in model.identifier_slots(entry)
        if IDENTIFIER_KINDS.get(entity) in ("email", "phone") and holder[key].strip()
    ]


def mentions(user_id: str) -> re.Pattern[str]:
    """The user id as a whole token of a raw text (a CSV line), not part of a longer id."""
    return re.compile(rf"(?<![{ID_CHARS}]){re.escape(user_id)}(?![{ID_CHARS}])")


def unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


# --- decrypting ------------------------------------------------------------------------------
class Undecryptable(Exception):
    """An encrypted value whose user's key is gone (the erase phase of an erasure)."""


def reveal(value: str | None, key: bytes | None, subject_key: str) -> str | None:
    """A lake value in clear: decrypted with the user's data key when encrypted (rows landed
    before encryption are plain and pass through)."""
    if value is None or not is_encrypted(value):
        return value
    if key is None:
        raise Undecryptable
    return decrypt_text(key, value, subject_key)


def reveal_json(value: str | None, key: bytes | None, subject_key: str) -> Any:
    """A JSON column decrypted whole, then any value encrypted on its own inside it."""
    plain = reveal(value, key, subject_key)
    return None if plain is None else _reveal_inside(orjson.loads(plain), key, subject_key)


def _reveal_inside(value: Any, key: bytes | None, subject_key: str) -> Any:
    if isinstance(value, str):
        return reveal(value, key, subject_key)
    if isinstance(value, dict):
        return {k: _reveal_inside(v, key, subject_key) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal_inside(v, key, subject_key) for v in value]
    return value
