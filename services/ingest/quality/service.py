"""Data-quality figures per source and data type, kept per day in Postgres.

- freshness: hours since data last arrived;
- completeness: share of an accepted entry's declared fields that were filled;
- validity: accepted / (accepted + rejected);
- uniqueness: 1 - duplicates / (accepted + duplicates).

Requests only bump in-process tallies (no database work on the hot path); the API writes them
out every few seconds, adding to the day's row, so a crash loses at most those seconds of
counts (never data). Other paths (CSV, pull jobs) call `record` directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.ingest.logs.schemas import SERVICES, Rejection
from services.ingest.quality import repository
from services.ingest.quality.metrics import COMPLETENESS, FRESHNESS, UNIQUENESS, VALIDITY


@dataclass
class Tally:
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    fields_declared: int = 0
    fields_filled: int = 0
    last_seen_at: datetime | None = None


@dataclass
class QualityRecorder:
    tallies: dict[tuple[date, str, str], Tally] = field(default_factory=dict)

    def observe(
        self,
        source: str,
        data_type: str,
        *,
        accepted: int = 0,
        rejected: int = 0,
        duplicate: int = 0,
        fields_declared: int = 0,
        fields_filled: int = 0,
    ) -> None:
        now = datetime.now(UTC)
        tally = self.tallies.setdefault((now.date(), source, data_type), Tally())
        tally.accepted += accepted
        tally.rejected += rejected
        tally.duplicate += duplicate
        tally.fields_declared += fields_declared
        tally.fields_filled += fields_filled
        if accepted or duplicate:
            tally.last_seen_at = now

    async def write(self, conn: AsyncConnection) -> int:
        """Add the tallies to their day's rows and start afresh; returns rows written."""
        pending, self.tallies = self.tallies, {}
        try:
            for (day, source, data_type), t in pending.items():
                await repository.add_tally(
                    conn,
                    day=day,
                    source=source,
                    data_type=data_type,
                    accepted=t.accepted,
                    rejected=t.rejected,
                    duplicate=t.duplicate,
                    fields_declared=t.fields_declared,
                    fields_filled=t.fields_filled,
                    last_seen_at=t.last_seen_at,
                )
        except BaseException:
            for key, t in pending.items():  # keep them for the next try
                self._merge(key, t)
            raise
        return len(pending)

    def _merge(self, key: tuple[date, str, str], t: Tally) -> None:
        mine = self.tallies.setdefault(key, Tally())
        mine.accepted += t.accepted
        mine.rejected += t.rejected
        mine.duplicate += t.duplicate
        mine.fields_declared += t.fields_declared
        mine.fields_filled += t.fields_filled
        if t.last_seen_at and (mine.last_seen_at is None or t.last_seen_at > mine.last_seen_at):
            mine.last_seen_at = t.last_seen_at


recorder = QualityRecorder()
LOGS = "logs"  # the data type of entries sent to POST /v1/logs


def observe_logs(
    entries: Sequence[Any],
    rejections: Sequence[Rejection],
    accepted: Mapping[str, int],
    duplicate: Mapping[str, int],
    fields: Mapping[str, list[int]],
) -> None:
    """Tally one /v1/logs request per source service (unknown services as `unknown`)."""
    rejected: dict[str, int] = {}
    for r in rejections:
        item = entries[r.index] if r.index < len(entries) else None
        service = item.get("service") if isinstance(item, dict) else None
        label = service if isinstance(service, str) and service in SERVICES else "unknown"
        rejected[label] = rejected.get(label, 0) + 1
    for service in {*accepted, *duplicate, *rejected}:
        declared, filled = fields.get(service, (0, 0))
        recorder.observe(
            service,
            LOGS,
            accepted=accepted.get(service, 0),
            rejected=rejected.get(service, 0),
            duplicate=duplicate.get(service, 0),
            fields_declared=declared,
            fields_filled=filled,
        )


async def record(conn: AsyncConnection, source: str, data_type: str, **counts: int) -> None:
    """For paths outside the API's request loop (CSV upload, pull jobs): write at once."""
    one = QualityRecorder()
    one.observe(source, data_type, **counts)
    await one.write(conn)


@dataclass(frozen=True)
class QualityFigures:
    source: str
    data_type: str
    day: date
    accepted: int
    rejected: int
    duplicate: int
    freshness_hours: float | None
    completeness_percent: float | None
    validity_percent: float | None
    uniqueness_percent: float | None


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


async def report(conn: AsyncConnection, day: date | None = None) -> list[QualityFigures]:
    """The day's figures per source and data type (today by default); freshness is always
    measured from the last arrival ever seen, so a silent source shows as stale."""
    day = day or datetime.now(UTC).date()
    rows = await repository.day_rows(conn, day)
    now = datetime.now(UTC)
    figures = []
    for r in rows:
        source, data_type, accepted, rejected, duplicate, declared, filled, last_seen = r
        figures.append(
            QualityFigures(
                source=source,
                data_type=data_type,
                day=day,
                accepted=accepted,
                rejected=rejected,
                duplicate=duplicate,
                freshness_hours=round((now - last_seen).total_seconds() / 3600, 3)
                if last_seen
                else None,
                completeness_percent=_percent(filled, declared),
                validity_percent=_percent(accepted, accepted + rejected),
                uniqueness_percent=_percent(accepted, accepted + duplicate),
            )
        )
    return figures


def export_gauges(figures: list[QualityFigures]) -> None:
    for f in figures:
        for gauge, value in (
            (FRESHNESS, f.freshness_hours),
            (COMPLETENESS, f.completeness_percent),
            (VALIDITY, f.validity_percent),
            (UNIQUENESS, f.uniqueness_percent),
        ):
            if value is not None:
                gauge.labels(f.source, f.data_type).set(value)
