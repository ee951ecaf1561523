"""Replaying dead letters: re-validate with the current schema, land what passes now.

One transaction locks the dead letters, inserts what passes into the outbox (same event-id
logic and dedup as POST /v1/logs) and marks those rows replayed with their event id, so a
row is replayed at most once and a second replay lands nothing. What still fails stays open
and is reported with its current reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from libs.common.auth import Principal
from libs.common.db import get_engine
from services.ingest.config import IngestSettings
from services.ingest.deadletters import repository as queries
from services.ingest.deadletters.models import DeadLetter
from services.ingest.logs import service
from services.ingest.outbox import repository

# Per source: turn a stored payload back into a log entry for `service.check_entries`.
# Other paths (CSV, Segment) register theirs with `register_converter`; the converter raises
# ValueError when the payload cannot become an entry.
Converter = Callable[[Any], Any]
# Segment messages are translated to log entries before `service.accept`, which stores the
# translated entry: both replay as they are.
CONVERTERS: dict[str, Converter] = {"logs": lambda payload: payload, "segment": lambda p: p}


def register_converter(source: str, converter: Converter) -> None:
    CONVERTERS[source] = converter


@dataclass
class Outcome:
    id: int
    # replayed | duplicate (already in the outbox: marked replayed) | rejected (still fails) |
    # already_replayed | discarded | not_found | unsupported_source
    outcome: str
    event_id: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass
class ReplayReport:
    replayed: int = 0
    duplicate: int = 0
    failed: int = 0
    results: list[Outcome] = field(default_factory=list)


def _as_replayer(principal: Principal) -> Principal:
    """An admin's replay authorizes the write for the entry's service."""
    return Principal(principal.key_id, principal.name, principal.scopes, frozenset({"*"}))


async def replay(
    *,
    principal: Principal,
    settings: IngestSettings,
    ids: Sequence[int] | None = None,
    where: queries.Filter | None = None,
    limit: int = 1000,
) -> ReplayReport:
    """Replay the given ids, or up to `limit` open rows matching `where` (oldest first)."""
    report = ReplayReport()
    async with get_engine().begin() as conn:
        if ids is not None:
            rows = await queries.lock_by_ids(conn, ids)
            found = {r.id for r in rows}
            report.results.extend(Outcome(i, "not_found") for i in ids if i not in found)
        else:
            rows = await queries.lock_by_filter(conn, where or queries.Filter(), limit=limit)

        candidates: list[DeadLetter] = []
        entries: list[Any] = []
        for row in rows:
            if row.status != "open":  # replayed once already, or discarded: never twice
                status = "already_replayed" if row.status == "replayed" else row.status
                report.results.append(Outcome(row.id, status, row.replay_event_id))
                continue
            converter = CONVERTERS.get(row.source)
            if converter is None:
                report.results.append(Outcome(row.id, "unsupported_source"))
                continue
            try:
                entries.append(converter(row.payload))
            except ValueError as exc:
                report.results.append(
                    Outcome(row.id, "rejected", errors=[{"field": "entry", "reason": str(exc)}])
                )
                continue
            candidates.append(row)

        checked = service.check_entries(entries, _as_replayer(principal), settings, batch=True)
        new_ids = await repository.insert_outbox(conn, checked.rows)
        marks: list[tuple[int, str]] = []
        for index, inserted in zip(checked.indexes, checked.rows, strict=True):
            kind = "replayed" if inserted.event_id in new_ids else "duplicate"
            marks.append((candidates[index].id, inserted.event_id))
            report.results.append(Outcome(candidates[index].id, kind, inserted.event_id))
        for index, event_id in checked.in_request_duplicates:
            marks.append((candidates[index].id, event_id))
            report.results.append(Outcome(candidates[index].id, "duplicate", event_id))
        for r in checked.rejections:
            report.results.append(
                Outcome(
                    candidates[r.index].id, "rejected", errors=[r.model_dump(exclude={"index"})]
                )
            )
        await queries.mark_replayed(conn, marks)

    report.results.sort(key=lambda o: o.id)
    report.replayed = sum(o.outcome == "replayed" for o in report.results)
    report.duplicate = sum(o.outcome == "duplicate" for o in report.results)
    report.failed = sum(
        o.outcome in {"rejected", "unsupported_source", "not_found"} for o in report.results
    )
    return report
