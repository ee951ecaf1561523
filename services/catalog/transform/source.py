"""The view `source` a transformation reads: the asset as the caller's purpose may see it.

- **Which assets**: Delta tables. One made for a consent purpose (a derived asset) only for
  that purpose; one made for none (raw events, tenant and pulled tables) only through its
  `user_id`, keeping the rows of users who consent to the caller's purpose now (one bulk
  query). Anything else is refused, with the reason.
- **Which columns**: never a column sealed per user, nor a clear identifier (`user_id`,
  e-mail, IP: the catalog's `personal` columns); scrubbed free text only for AI training.
  Research and analytics readers never see a user id.
- **Whom**: erased users (consent tombstones) are never in it, and every user it holds is a
  contributor, by subject key, so their erasure reaches the derived asset (subjects/).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.consent import query_allowed, tombstoned
from libs.common.contracts import ConsentPurpose
from libs.common.errors import Forbidden, NotFound, PayloadTooLarge, Unprocessable
from libs.common.lake import Lake, read_delta
from libs.common.lake_crypto import SUBJECT_COLUMN
from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key
from services.catalog.assets.known import DERIVED, StorageFormat
from services.catalog.assets.privacy import PrivacyClass
from services.catalog.transform.models import DerivedSubjectRow

USER_COLUMN = "user_id"


@dataclass(frozen=True)
class Source:
    table: pa.Table
    version: int | None
    contributors: frozenset[str]  # subject keys of the users the rows came from
    withheld: tuple[str, ...]  # columns the purpose may not see


def visible(columns: list[dict[str, Any]], purpose: ConsentPurpose) -> tuple[list[str], list[str]]:
    """The asset's columns the purpose may see, and those withheld."""
    keep: list[str] = []
    withheld: list[str] = []
    text_allowed = purpose is ConsentPurpose.AI_TRAINING
    for column in columns:
        hidden = (
            column["privacy"] == PrivacyClass.ENCRYPTED
            or column["personal"]
            or column["name"] == USER_COLUMN
            or (column["privacy"] == PrivacyClass.SCRUBBED and not text_allowed)
        )
        (withheld if hidden else keep).append(column["name"])
    return keep, withheld


def _check(asset: dict[str, Any], purpose: ConsentPurpose, rows_max: int) -> bool:
    """Whether the asset may be read for `purpose`; True when its rows need a consent check."""
    name = asset["name"]
    if asset["storage_format"] != StorageFormat.DELTA or asset["status"] != "present":
        raise Unprocessable(
            f"a transformation reads a Delta table in the lake; {name} is "
            f"{asset['storage_format']} ({asset['status']})",
            errors=[{"field": "assetId", "reason": "not a Delta table in the lake"}],
        )
    if asset["purpose"] is not None and asset["purpose"] != purpose:
        raise Forbidden(
            f"{name} may be used for {asset['purpose']} only, not {purpose.value}",
            errors=[{"field": "X-Purpose", "reason": f"the asset is for {asset['purpose']}"}],
        )
    names = {c["name"] for c in asset["columns"]}
    if asset["purpose"] is None and USER_COLUMN not in names:
        raise Forbidden(
            f"{name} has no user_id, so its rows cannot be checked against consent",
            errors=[{"field": "assetId", "reason": "no per-user consent check possible"}],
        )
    if asset["purpose"] is not None and SUBJECT_COLUMN not in names and not _derived(asset):
        raise Forbidden(
            f"{name} has no subject_key, so what is derived from it could not be erased per user",
            errors=[{"field": "assetId", "reason": "no subject_key"}],
        )
    if (asset["rows"] or 0) > rows_max:
        raise PayloadTooLarge(
            f"{name} has {asset['rows']} rows; a transformation reads at most {rows_max}",
            errors=[{"field": "assetId", "reason": "too many rows"}],
        )
    return asset["purpose"] is None


def _derived(asset: dict[str, Any]) -> bool:
    return str(asset["location"]).startswith(DERIVED + "/")


def _read(lake: Lake, location: str, columns: list[str]) -> tuple[pa.Table, int] | None:
    table = lake.delta_table(location)
    if table is None:
        return None
    return read_delta(table, columns), table.version()


async def read_source(
    engine: AsyncEngine,
    lake: Lake,
    settings: CommonSettings,
    asset: dict[str, Any],
    purpose: ConsentPurpose,
    *,
    rows_max: int,
) -> Source:
    consent_checked = _check(asset, purpose, rows_max)
    keep, withheld = visible(asset["columns"], purpose)
    wanted = [*keep, USER_COLUMN] if consent_checked else keep
    read = await asyncio.to_thread(_read, lake, asset["location"], wanted)
    if read is None:
        raise NotFound(f"{asset['name']} is no longer in the lake")
    rows, version = read
    if rows.num_rows > rows_max:  # the catalog's count was older than the table
        raise PayloadTooLarge(f"{asset['name']} has more than {rows_max} rows")
    async with engine.connect() as conn:
        if consent_checked:
            rows = await _consenting(conn, rows, purpose, settings)
        if SUBJECT_COLUMN in rows.column_names:
            keys = pc.unique(rows.column(SUBJECT_COLUMN)).drop_null().to_pylist()
            erased = await tombstoned(conn, keys)
            if erased:
                rows = rows.filter(pc.invert(pc.is_in(rows.column(SUBJECT_COLUMN),
                                                      value_set=pa.array(erased))))  # fmt: skip
            contributors = frozenset(keys) - set(erased)
        else:  # a derived asset without subject_key: the users it was computed from
            found = await conn.scalars(
                select(DerivedSubjectRow.subject_key).where(
                    DerivedSubjectRow.location == asset["location"]
                )
            )
            contributors = frozenset(found)
    return Source(rows, version, contributors, tuple(withheld))


async def _consenting(
    conn: Any, rows: pa.Table, purpose: ConsentPurpose, settings: CommonSettings
) -> pa.Table:
    """The rows of users who consent to `purpose` now, with subject_key and without user_id."""
    users = [str(u) for u in pc.unique(rows.column(USER_COLUMN)).drop_null().to_pylist()]
    allowed = await query_allowed(conn, users, purpose) if users else []
    rows = rows.filter(pc.is_in(rows.column(USER_COLUMN), value_set=pa.array(allowed, pa.string())))
    if SUBJECT_COLUMN not in rows.column_names:
        keys = {u: subject_key(u, settings) for u in allowed}
        column = pa.array([keys[u] for u in rows.column(USER_COLUMN).to_pylist()], pa.string())
        rows = rows.append_column(SUBJECT_COLUMN, column)
    return rows.drop_columns([USER_COLUMN])
