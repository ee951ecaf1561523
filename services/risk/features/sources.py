"""The raw events the features need, for a time range: only users who grant
`risk_assessment` now, bodies decrypted and the few fields the features use pulled out.

Consent is checked before anything is decrypted, so a non-consenting user's text is never
opened. An erased user's key is gone: their bodies decrypt to null and their rows are dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.consent import query_allowed
from libs.common.contracts import ConsentPurpose
from libs.common.crypto import DataKeys
from libs.common.lake import Lake, read_delta
from libs.common.lake_crypto import decrypt_table, keys_for
from libs.common.lake_tables import RAW_EVENTS
from libs.common.settings import CommonSettings

MOOD = "mood-service"
JOURNAL = "journal-service"
CHAT = "chat-service"
BOTS = ("lyfbot-service", "ai-service")  # the user's side of a bot chat is the prompt
SOURCES = (MOOD, JOURNAL, CHAT, "community-service", *BOTS)
COLUMNS = ["user_id", "subject_key", "service", "event_time", "body"]

# What `parse` returns: one row per event.
EVENTS_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "subject_key": pl.String(),
        "service": pl.String(),
        "event_time": pl.Datetime("us", "UTC"),
        "score": pl.Float64(),  # a 1-10 mood score: a check-in's `score`, a journal's `mood_score`
        "text": pl.String(),  # the user's own words: journal title and text, chat messages, prompts
    }
)


def read_raw(lake: Lake, start: datetime, end: datetime) -> pa.Table:
    """The sources' rows with start <= event_time < end (empty when there is no table)."""
    table = lake.delta_table(RAW_EVENTS)
    if table is None:
        return pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    # A day of slack on each side: the partition's date and the time need not agree.
    partitions = (
        pc.field("service").isin(list(SOURCES))
        & (pc.field("event_date") >= pa.scalar((start - timedelta(days=1)).date()))
        & (pc.field("event_date") <= pa.scalar((end + timedelta(days=1)).date()))
    )
    rows = read_delta(table, COLUMNS, partitions=partitions)
    times = rows.column("event_time")
    when = pc.and_(
        pc.greater_equal(times, pa.scalar(start, times.type)),
        pc.less(times, pa.scalar(end, times.type)),
    )
    return rows.filter(when)


async def consenting(engine: AsyncEngine, rows: pa.Table) -> pa.Table:
    """The rows of users who grant `risk_assessment` now."""
    if rows.num_rows == 0:
        return rows
    users = sorted(pc.unique(rows.column("user_id")).to_pylist())
    async with engine.connect() as conn:
        allowed = await query_allowed(conn, users, ConsentPurpose.RISK_ASSESSMENT)
    return rows.filter(pc.is_in(rows.column("user_id"), pa.array(sorted(allowed), pa.string())))


async def decrypted(engine: AsyncEngine, rows: pa.Table, settings: CommonSettings) -> pa.Table:
    """Bodies opened with each user's key; an erased user's rows (no key) dropped."""
    if rows.num_rows == 0:
        return rows
    async with engine.connect() as conn:
        keys = await keys_for(conn, rows, DataKeys(settings))
    opened = decrypt_table(rows, keys, ["body"])
    return opened.filter(pc.is_valid(opened.column("body")))


def _field(name: str) -> pl.Expr:
    return pl.col("body").str.json_path_match(f"$.{name}")


def parse(rows: pa.Table) -> pl.DataFrame:
    """Decrypted rows to events: the mood score and the user's text, when the event has one."""
    if rows.num_rows == 0:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    service = pl.col("service")
    score = (
        pl.when(service == MOOD)
        .then(_field("score"))
        .when(service == JOURNAL)
        .then(_field("mood_score"))
        .cast(pl.Float64, strict=False)
    )
    journal = pl.concat_str([_field("title"), _field("text")], separator=". ", ignore_nulls=True)
    # A chat message without a sender role is the user's (the log schema's default).
    by_user = _field("sender_role").fill_null("user") == "user"
    text = (
        pl.when(service == JOURNAL)
        .then(journal)
        .when((service == CHAT) & by_user)
        .then(_field("message"))
        .when(service.is_in(BOTS))
        .then(_field("prompt"))
    )
    frame = pl.from_arrow(rows.select(COLUMNS))
    assert isinstance(frame, pl.DataFrame)
    parsed = frame.with_columns(
        pl.col("event_time").cast(pl.Datetime("us", "UTC")),
        score=pl.when(score.is_between(1, 10)).then(score),  # the log schema's range only
        text=pl.when(text.str.strip_chars() != "").then(text),
    )
    return parsed.select(list(EVENTS_SCHEMA)).cast(EVENTS_SCHEMA)


async def events(
    engine: AsyncEngine, lake: Lake, settings: CommonSettings, start: datetime, end: datetime
) -> pl.DataFrame:
    """The consenting users' events with start <= event_time < end, parsed."""
    rows = await consenting(engine, read_raw(lake, start, end))
    return parse(await decrypted(engine, rows, settings))
