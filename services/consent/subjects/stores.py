"""The consent service's stores for erasure and portability (libs/common/subject_rights.py).

- `consent.ledger`: the user's consent history (consent.ledger) and current state
  (consent.current), plus their cached state in Redis (keys named by the subject key).
  Erasure deletes the rows through the ledger guard's one privileged path (migration
  consent_0003) and leaves the tombstone, a keyed hash only, which refuses new consent for
  them.
- `consent.backups`: the daily ledger backups in the lake, rewritten without the user.
"""

from __future__ import annotations

import asyncio
from typing import Any

from libs.common.consent import cache_key, checker, generation_key
from libs.common.contracts import SubjectStore
from libs.common.subject_rights import Collected, StoreHandler, SubjectContext
from services.consent.backup.service import ERASING_SUFFIX, SUFFIX, rewrite_without
from services.consent.config import get_consent_settings
from services.consent.subjects import repository

# Tables that hold no user data, or only a keyed hash.
NO_SUBJECT_DATA: tuple[str, ...] = ("consent.tombstones",)


def _record(row: Any) -> dict[str, Any]:
    entry = dict(row._mapping)
    entry.pop("user_id", None)  # the archive says whose it is once, in its manifest
    return entry


class Ledger:
    tables: tuple[str, ...] = ("consent.ledger", "consent.current")

    async def collect(self, ctx: SubjectContext) -> Collected:
        async with ctx.engine.connect() as conn:
            rows = await repository.ledger_of(conn, ctx.user_id)
        records = [_record(row) for row in rows]
        return Collected(records=records, identifiers=[ctx.user_id] if records else [])

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.begin() as conn:
            ledger, current = await repository.erase_user(
                conn,
                user_id=ctx.user_id,
                subject_key=ctx.subject_key,
                request_id=str(ctx.request_id),
            )
        # Both keys go (not `invalidate`, which keeps a generation): nothing of the user is
        # left cached. They are named by the subject key, so a later check adds no trace.
        keys = cache_key(ctx.subject_key), generation_key(ctx.subject_key)
        cached = int(await checker.redis.delete(*keys))
        return {"ledger_entries": ledger, "current_rows": current, "cache_keys": cached}


class Backups:
    """The daily backups (services/consent/backup/service.py): each one that mentions the user is
    rewritten without their entries. Nothing to collect: the ledger store has it all."""

    tables: tuple[str, ...] = ()

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix

    async def collect(self, ctx: SubjectContext) -> Collected:
        return Collected()

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        prefix = self.prefix or get_consent_settings().consent_backup_prefix
        found = ctx.lake.list(prefix)
        for leftover in found:  # a rewrite that died half-way
            if leftover.path.endswith(ERASING_SUFFIX):
                ctx.lake.delete(leftover.path)
        files = entries = 0
        for path in sorted(o.path for o in found if o.path.endswith(SUFFIX)):
            removed = await asyncio.to_thread(rewrite_without, ctx.lake, path, ctx.user_id)
            files += 1 if removed else 0
            entries += removed
        return {"backup_files": files, "backup_entries": entries}


HANDLERS: dict[str, StoreHandler] = {
    SubjectStore.CONSENT_LEDGER: Ledger(),
    SubjectStore.CONSENT_BACKUPS: Backups(),
}
