"""The ingest service's stores of a user's data, for erasure and portability.

Each handler finds the user's rows in one store, returns them (collect) or removes them
(erase); libs/common/subject_rights.py runs them as steps of a request. Postgres stores are
here; lake stores (raw events, tenant and pulled tables, the CSV quarantine) are in
lake.py (pulled rows of no known user, found by the user id: unkeyed.py), the
files file-drop jobs took in drops.py. Every ingest table is claimed by a store's
`tables` or listed in `NO_SUBJECT_DATA`.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import SubjectStore
from libs.common.subject_rights import Collected, StoreHandler, SubjectContext
from services.ingest.deadletters.models import DEAD_LETTER_USER
from services.ingest.subjects.drops import PullDropsStore
from services.ingest.subjects.lake import (
    PulledTablesStore,
    QuarantineStore,
    RawEventsStore,
    TenantTablesStore,
)
from services.ingest.subjects.text import identifiers_of, mentions, texts_of, unique

# Ingest tables that never hold a user's data (checked one by one):
NO_SUBJECT_DATA: tuple[str, ...] = (
    "ingest.flush_batches",  # batch ids, tokens, counts
    "ingest.quality_daily",  # tallies per source (service, tenant or job name) and day
    "ingest.csv_uploads",  # tenant, sha256, size; the report holds row numbers, never values
    "ingest.pull_jobs",  # a job's configuration and its position (a cursor column's value)
    "ingest.pull_runs",  # run outcomes; errors name the exception type, never data
    "ingest.pull_files",  # names of the files a file-drop job has taken
)


# --- ingest.outbox ---------------------------------------------------------------------------
class OutboxStore:
    """Accepted entries: the payload until it is flushed, then the row stays for dedup."""

    tables: tuple[str, ...] = ("ingest.outbox",)

    async def collect(self, ctx: SubjectContext) -> Collected:
        async with ctx.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT event_id, service, event_type, event_time, received_at, payload,"
                    " flushed_at FROM ingest.outbox WHERE user_id = :u ORDER BY seq"
                ),
                {"u": ctx.user_id},
            )
            out = Collected(identifiers=[ctx.user_id])
            for r in rows:
                entry = orjson.loads(r.payload) if r.payload is not None else None
                out.records.append(
                    {
                        "event_id": r.event_id,
                        "service": r.service,
                        "event_type": r.event_type,
                        "event_time": r.event_time.isoformat(),
                        "received_at": r.received_at.isoformat(),
                        "in_lake": r.flushed_at is not None,
                        "entry": entry,
                    }
                )
                if isinstance(entry, dict):
                    out.texts += texts_of(r.service, entry)
                    out.identifiers += identifiers_of(r.service, entry)
        out.texts, out.identifiers = unique(out.texts), unique(out.identifiers)
        return out

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM ingest.outbox WHERE user_id = :u"), {"u": ctx.user_id}
            )
        return {"rows": int(getattr(result, "rowcount", 0))}


# --- ingest.identifiers ----------------------------------------------------------------------
class IdentifiersStore:
    """Names, emails and phones seen in the user's auth events (to find them in their text)."""

    tables: tuple[str, ...] = ("ingest.user_identifiers",)

    async def collect(self, ctx: SubjectContext) -> Collected:
        async with ctx.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT kind, value, seen_at FROM ingest.user_identifiers"
                        " WHERE user_id = :u ORDER BY kind, value"
                    ),
                    {"u": ctx.user_id},
                )
            ).all()
        return Collected(
            records=[
                {"kind": r.kind, "value": r.value, "seen_at": r.seen_at.isoformat()} for r in rows
            ],
            identifiers=unique(
                [ctx.user_id] + [r.value for r in rows if r.kind in ("email", "phone")]
            ),
        )

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM ingest.user_identifiers WHERE user_id = :u"), {"u": ctx.user_id}
            )
        return {"rows": int(getattr(result, "rowcount", 0))}


# --- ingest.dead_letters ---------------------------------------------------------------------
class DeadLettersStore:
    """Rejected entries about the user: objects by their user field (an index on
    DEAD_LETTER_USER), raw texts (CSV lines) that hold the user id as a token."""

    tables: tuple[str, ...] = ("ingest.dead_letters",)

    async def _rows(self, ctx: SubjectContext, *, lock: bool) -> list[Any]:
        async with ctx.engine.connect() as conn:
            return await self._find(conn, ctx.user_id, lock=lock)

    @staticmethod
    async def _find(conn: AsyncConnection, user_id: str, *, lock: bool) -> list[Any]:
        columns = "id, source, reason, field, error_kind, payload::text AS payload, received_at"
        suffix = " FOR UPDATE" if lock else ""
        by_field = await conn.execute(
            text(
                f"SELECT {columns} FROM ingest.dead_letters"  # noqa: S608 - fixed clauses
                f" WHERE {DEAD_LETTER_USER} = :u{suffix}"
            ),
            {"u": user_id},
        )
        raw = await conn.execute(
            text(
                f"SELECT {columns} FROM ingest.dead_letters"  # noqa: S608 - fixed clauses
                " WHERE jsonb_typeof(payload) <> 'object' AND strpos(payload #>> '{}', :u) > 0"
                f"{suffix}"
            ),
            {"u": user_id},
        )
        token = mentions(user_id)
        return [*by_field, *(r for r in raw if token.search(orjson.loads(r.payload) or ""))]

    async def collect(self, ctx: SubjectContext) -> Collected:
        out = Collected(identifiers=[ctx.user_id])
        for r in await self._rows(ctx, lock=False):
            payload = orjson.loads(r.payload)
            out.records.append(
                {
                    "source": r.source,
                    "reason": r.reason,
                    "field": r.field,
                    "error_kind": r.error_kind,
                    "received_at": r.received_at.isoformat(),
                    "entry": payload,
                }
            )
            if isinstance(payload, dict):
                service = payload.get("service")
                service = service if isinstance(service, str) else None
                out.texts += texts_of(service, payload)
                out.identifiers += identifiers_of(service, payload)
            elif isinstance(payload, str):
                out.texts.append(payload)
        out.texts, out.identifiers = unique(out.texts), unique(out.identifiers)
        return out

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.begin() as conn:
            ids = [r.id for r in await self._find(conn, ctx.user_id, lock=True)]
            if ids:
                await conn.execute(
                    text("DELETE FROM ingest.dead_letters WHERE id = ANY(:ids)"), {"ids": ids}
                )
        return {"rows": len(ids)}


HANDLERS: dict[str, StoreHandler] = {
    SubjectStore.INGEST_OUTBOX: OutboxStore(),
    SubjectStore.INGEST_IDENTIFIERS: IdentifiersStore(),
    SubjectStore.INGEST_DEAD_LETTERS: DeadLettersStore(),
    SubjectStore.INGEST_RAW_EVENTS: RawEventsStore(),
    SubjectStore.INGEST_TENANT_TABLES: TenantTablesStore(),
    SubjectStore.INGEST_PULLED_TABLES: PulledTablesStore(),
    SubjectStore.INGEST_QUARANTINE: QuarantineStore(),
    SubjectStore.INGEST_PULL_DROPS: PullDropsStore(),
}
