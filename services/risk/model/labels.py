"""Training labels: a (subject_key, day) row is positive when an outcome falls in
[day, day + horizon).

Outcomes, from the raw events of users who grant `risk_assessment` now (bodies decrypted only
for them; an erased user's rows are dropped by the decryption):
- clinical-service: a PHQ-9 total of 15 or more (moderately severe and above), a confirmed
  episode, a crisis escalation;
- chat-bot turns (lyfbot-service, ai-service) that are crisis turns: a crisis-lexicon
  indicator in the prompt or the reply, or an intent the bot labelled as crisis
  (libs/common/crisis.py, the export's filter's rule).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.crisis import is_crisis
from libs.common.lake import Lake, read_delta
from libs.common.lake_tables import RAW_EVENTS
from libs.common.settings import CommonSettings
from services.risk.features import sources

CLINICAL = "clinical-service"
BOTS = ("lyfbot-service", "ai-service")
PHQ9_POSITIVE = 15
COLUMNS = ["user_id", "subject_key", "service", "event_time", "body"]
OUTCOMES_SCHEMA = {"subject_key": pl.String, "day": pl.Date, "kind": pl.String}


def read_outcome_rows(lake: Lake, start: datetime, end: datetime) -> pa.Table:
    """Clinical and chat-bot rows with start <= event_time < end (bodies still encrypted)."""
    table = lake.delta_table(RAW_EVENTS)
    if table is None:
        return pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    partitions = (
        pc.field("service").isin([CLINICAL, *BOTS])
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


def outcomes_of(opened: pa.Table) -> pl.DataFrame:
    """Decrypted rows to outcomes: (subject_key, day, kind), one per outcome event."""
    if opened.num_rows == 0:
        return pl.DataFrame(schema=OUTCOMES_SCHEMA)
    frame = pl.from_arrow(opened.select(COLUMNS))
    assert isinstance(frame, pl.DataFrame)

    def field(name: str) -> pl.Expr:
        return pl.col("body").str.json_path_match(f"$.{name}")

    frame = frame.with_columns(
        outcome=field("outcome"),
        phq9=field("phq9_score").cast(pl.Int64, strict=False),
        prompt=field("prompt"),
        response=field("response"),
        intent=field("intent"),
        day=pl.col("event_time").cast(pl.Datetime("us", "UTC")).dt.date(),
    )
    clinical = frame.filter(
        (pl.col("service") == CLINICAL)
        & (
            pl.col("outcome").is_in(["episode_confirmed", "crisis_escalation"])
            | ((pl.col("outcome") == "phq9") & (pl.col("phq9") >= PHQ9_POSITIVE))
        )
    ).select("subject_key", "day", kind=pl.col("outcome"))
    bots = frame.filter(pl.col("service").is_in(BOTS))
    crisis = [
        is_crisis(p or "", r or "", i)
        for p, r, i in zip(bots["prompt"], bots["response"], bots["intent"], strict=True)
    ]
    turns = bots.filter(pl.Series(crisis, dtype=pl.Boolean)).select(
        "subject_key", "day", kind=pl.lit("crisis_turn")
    )
    return pl.concat([clinical, turns]).cast(OUTCOMES_SCHEMA)  # type: ignore[arg-type]


async def outcome_events(
    engine: AsyncEngine, lake: Lake, settings: CommonSettings, start: datetime, end: datetime
) -> pl.DataFrame:
    """The outcomes of users who grant `risk_assessment` now, start <= event_time < end."""
    raw = await asyncio.to_thread(read_outcome_rows, lake, start, end)
    rows = await sources.consenting(engine, raw)
    opened = await sources.decrypted(engine, rows, settings)
    return await asyncio.to_thread(outcomes_of, opened)


def label_rows(
    days: list[date] | pa.Array,
    subjects: list[str] | pa.Array,
    outcomes: pl.DataFrame,
    horizon: int,
) -> np.ndarray:
    """Per row (day, subject_key), 1 when one of the subject's outcomes falls in
    [day, day + horizon), else 0."""
    rows = pl.DataFrame(
        {"day": pl.Series(days, dtype=pl.Date), "subject_key": pl.Series(subjects, dtype=pl.String)}
    ).with_row_index("row")
    if rows.height == 0 or outcomes.height == 0:
        return np.zeros(rows.height, dtype=np.int8)
    hits = (
        rows.join(outcomes.select("subject_key", outcome_day="day"), on="subject_key")
        .filter(
            (pl.col("outcome_day") >= pl.col("day"))
            & (pl.col("outcome_day") < pl.col("day") + pl.duration(days=horizon))
        )
        .get_column("row")
        .unique()
        .to_numpy()
    )
    labels = np.zeros(rows.height, dtype=np.int8)
    labels[hits] = 1
    return labels
