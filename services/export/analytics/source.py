"""The events a report may use: raw/events of a date range, of `analytics`-consenting users.

Only the range's partitions are read (`read_delta`'s partition filter on `event_date` and
`service` prunes files). The table is opened once and consent is one bulk query per read. The
user id is dropped as soon as consent is checked: everything downstream sees the keyed
`subject_key` only.
Bodies are decrypted for mood-service rows only (the one service whose body a report reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common import lake_tables
from libs.common.consent import query_allowed
from libs.common.contracts import ConsentPurpose
from libs.common.crypto import DataKeys
from libs.common.lake import Lake, read_delta
from libs.common.lake_crypto import decrypt_table, keys_for
from libs.common.settings import CommonSettings

RAW_EVENTS = lake_tables.RAW_EVENTS
MOOD_SERVICE = "mood-service"
EVENT_COLUMNS = ["service", "event_date", "event_type", "subject_key", "event_time"]

# The columns reports read, typed as ingest writes them (nullable: an empty frame has them).
EVENTS_SCHEMA = pa.schema(
    [lake_tables.RAW_EVENTS_SCHEMA.field(c).with_nullable(True) for c in EVENT_COLUMNS]
)
MOOD_SCHEMA = pa.schema(
    [
        pa.field("event_date", pa.date32()),
        pa.field("subject_key", pa.string()),
        pa.field("score", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Events:
    events: pa.Table  # EVENTS_SCHEMA, consenting users only
    moods: pa.Table  # MOOD_SCHEMA: mood-service scores, consenting users only


async def consenting(engine: AsyncEngine, rows: pa.Table, purpose: ConsentPurpose) -> pa.Array:
    """The users of `rows` who consent to `purpose` now (one bulk query; none if no rows)."""
    if rows.num_rows == 0:
        return pa.array([], pa.string())
    users = [str(u) for u in pc.unique(rows.column("user_id")).to_pylist()]
    async with engine.connect() as conn:
        return pa.array(await query_allowed(conn, users, purpose), pa.string())


def only(rows: pa.Table, users: pa.Array) -> pa.Table:
    """`rows` of `users` only, without `user_id`."""
    keep = pc.is_in(rows.column("user_id"), value_set=users)
    return rows.filter(keep).drop_columns(["user_id"])


async def consented(engine: AsyncEngine, rows: pa.Table, purpose: ConsentPurpose) -> pa.Table:
    """`rows` of users who consent to `purpose` now (one bulk query), without `user_id`."""
    return only(rows, await consenting(engine, rows, purpose))


def _mood_score(body: str | None) -> float | None:
    if body is None:
        return None  # erased meanwhile: the key is gone
    score = orjson.loads(body).get("score")
    return float(score) if isinstance(score, int | float) else None


async def load(
    lake: Lake, engine: AsyncEngine, settings: CommonSettings, start: date, end: date
) -> Events:
    """Consenting users' events with `start <= event_date < end`."""
    in_range = (ds.field("event_date") >= pa.scalar(start, pa.date32())) & (
        ds.field("event_date") < pa.scalar(end, pa.date32())
    )
    table = lake.delta_table(RAW_EVENTS)
    if table is None:
        return Events(EVENTS_SCHEMA.empty_table(), MOOD_SCHEMA.empty_table())
    raw = read_delta(table, [*EVENT_COLUMNS, "user_id"], partitions=in_range)
    allowed = await consenting(engine, raw, ConsentPurpose.ANALYTICS)
    events = only(raw, allowed).select(EVENT_COLUMNS)

    # The mood rows are some of `raw`'s rows (same table version): the same consent applies.
    mood_rows = read_delta(
        table,
        ["event_date", "user_id", "subject_key", "body"],
        partitions=in_range & (ds.field("service") == MOOD_SERVICE),
    )
    mood_rows = only(mood_rows, allowed)
    async with engine.connect() as conn:
        keys = await keys_for(conn, mood_rows, DataKeys(settings))
    bodies = decrypt_table(mood_rows, keys, ("body",)).column("body").to_pylist()
    moods = pa.table(
        {
            "event_date": mood_rows.column("event_date"),
            "subject_key": mood_rows.column("subject_key"),
            "score": pa.array([_mood_score(b) for b in bodies], pa.float64()),
        },
        schema=MOOD_SCHEMA,
    )
    return Events(events.cast(EVENTS_SCHEMA), moods.filter(pc.is_valid(moods.column("score"))))
