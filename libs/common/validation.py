"""Input rules every service shares: what Postgres cannot store, and ids that are personal data.

Postgres `text` and `jsonb` cannot hold a NUL character and its `bigint` ends at 2**63 - 1; a
value past either must be a clear 422 at the edge, never a 500 from the database. A user id
is kept in clear for consent joins, so it must be opaque: an e-mail address or a phone number
in its place would put personal data into every table.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from libs.common.pii.validators import phone_ok

PG_BIGINT_MAX = 2**63 - 1
NUL = "\x00"
NUL_STAND_IN = "\u2400"  # "␀": shows where a NUL was, in stores that cannot hold one

# A whole id, not a mention inside text (libs/common/pii finds those).
_EMAIL_ID = re.compile(r"[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_PHONE_ID = re.compile(r"\+?\(?\d[\d .()-]{5,22}\d")


def _no_nul(value: str) -> str:
    if NUL in value:
        raise PydanticCustomError("nul_character", "must not contain a NUL character (\\u0000)")
    return value


# A string Postgres can store: use it for every request field that reaches a text column.
PgText = Annotated[str, AfterValidator(_no_nul)]
# An id or cursor Postgres can compare with a bigint column.
PgBigInt = Annotated[int, Field(ge=0, le=PG_BIGINT_MAX)]


def without_nul(value: Any) -> Any:
    """`value` with every NUL in its strings and keys shown as ␀ (for a store of record such
    as the dead letters, which keeps what was sent as closely as Postgres allows)."""
    if isinstance(value, str):
        return value.replace(NUL, NUL_STAND_IN) if NUL in value else value
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def contact_kind(user_id: str) -> str | None:
    """'an e-mail address' or 'a phone number' when `user_id` is one, else None."""
    if "@" in user_id and _EMAIL_ID.fullmatch(user_id):
        return "an e-mail address"
    if _PHONE_ID.fullmatch(user_id) and phone_ok(user_id):
        return "a phone number"
    return None


def opaque_user_id_error(user_id: str, *, name: str = "user_id") -> str | None:
    """Why `user_id` (or another id a user is known by, called `name`) may not be used as one,
    never echoing it; None when it may."""
    kind = contact_kind(user_id)
    if kind is None:
        return None
    return (
        f"{name} looks like {kind}: user ids are kept in clear for consent joins, so they "
        "must be opaque (a UUID or another random id; a run of 10-11 digits reads as a phone "
        "number)"
    )
