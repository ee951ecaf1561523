"""The compliance service's stores for erasure and portability (libs/common/subject_rights.py).

- `compliance.audit_log`: the audit entries about the user. Erasure blanks `subject`; the
  entry stays (who accessed what, why, when is the controller's accountability record), found
  only by `subject_key`, and the chain still verifies because it hashes the key.
- `compliance.archives`: the user's portability archives (earlier exports) in the lake.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from libs.common.contracts import SubjectStore
from libs.common.subject_rights import (
    Collected,
    StoreHandler,
    SubjectContext,
    delete_request_files,
)
from services.compliance.audit.service import chain_pending

# This service's tables that hold no user data (libs/common's are listed by
# tests/test_subject_stores.py: keyed hashes, sealed ids, key ids).
NO_SUBJECT_DATA: tuple[str, ...] = (
    "compliance.audit_chain_head",
    "compliance.retention_policies",
    "compliance.retention_runs",
)

_CHAIN_BATCH = 5_000
_CHAIN_PASSES = 3  # entries about the user still arriving after this many: fail, retry later

# What the user gets back: the access, not the accessor's address or device (their data).
_ENTRIES = text(
    "SELECT id, entry_id, at, actor, purpose, action, asset, prev_hash, hash"
    " FROM compliance.audit_log WHERE subject_key = :k ORDER BY id"
)
_PENDING = text("SELECT count(*) FROM common.audit_outbox WHERE subject = :u")
_BLANK = text(
    "UPDATE compliance.audit_log SET subject = NULL WHERE subject_key = :k AND subject IS NOT NULL"
)


class AuditLog:
    tables: tuple[str, ...] = ("compliance.audit_log", "common.audit_outbox")

    async def collect(self, ctx: SubjectContext) -> Collected:
        await chain_pending(ctx.engine, _CHAIN_BATCH, ctx.settings)  # include the outbox
        async with ctx.engine.connect() as conn:
            rows = (await conn.execute(_ENTRIES, {"k": ctx.subject_key})).all()
        records: list[dict[str, Any]] = [dict(row._mapping) for row in rows]
        return Collected(records=records, identifiers=[ctx.user_id] if records else [])

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        """Chain the outbox first (an entry waiting there would keep the user id), then
        blank the subject of every chained entry about the user."""
        blanked = 0
        for _ in range(_CHAIN_PASSES):
            await chain_pending(ctx.engine, _CHAIN_BATCH, ctx.settings)
            async with ctx.engine.begin() as conn:
                result = await conn.execute(_BLANK, {"k": ctx.subject_key})
                blanked += int(getattr(result, "rowcount", 0) or 0)
                pending = int(await conn.scalar(_PENDING, {"u": ctx.user_id}) or 0)
            if not pending:
                return {"audit_entries": blanked}
        raise RuntimeError("audit entries about the subject are still arriving")


# Every export of the user: a cancelled one may still have parts a step wrote as it closed.
_EXPORTS = text("SELECT id FROM common.subject_requests WHERE kind = 'export' AND subject_key = :k")
# Done ones expire (their archive is gone); one still open is cancelled (the shred closes
# them first; this catches any it could not see). Neither can be opened again.
_CLEAR = text(
    "UPDATE common.subject_requests SET archive_path = NULL, wrapped_key = NULL,"
    " sealed_user = NULL,"
    " status = CASE WHEN status = 'done' THEN 'expired'"
    "   WHEN status IN ('collecting', 'erasing', 'verifying') THEN 'cancelled' ELSE status END,"
    " last_error = CASE WHEN status IN ('collecting', 'erasing', 'verifying', 'done')"
    "   THEN :reason ELSE last_error END,"
    " completed_at = coalesce(completed_at, now())"
    " WHERE id = :id AND (archive_path IS NOT NULL OR wrapped_key IS NOT NULL"
    " OR sealed_user IS NOT NULL OR status IN ('collecting', 'erasing', 'verifying', 'done'))"
)


class Archives:
    """Portability archives of the user: their lake objects, and the keys that open them."""

    tables: tuple[str, ...] = ()

    async def collect(self, ctx: SubjectContext) -> Collected:
        return Collected()  # an earlier export of the same data: nothing new

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.connect() as conn:
            exports = list((await conn.scalars(_EXPORTS, {"k": ctx.subject_key})).all())
        objects = changed = 0
        for request_id in exports:
            deleted = delete_request_files(ctx.lake, request_id)
            async with ctx.engine.begin() as conn:  # after its objects: a retry finds it again
                result = await conn.execute(_CLEAR, {"id": request_id, "reason": _reason(ctx)})
            objects += deleted
            changed += bool(deleted or getattr(result, "rowcount", 0))
        return {"export_requests": changed, "archive_objects": objects}


def _reason(ctx: SubjectContext) -> str:
    return f"the user was erased (erasure {ctx.request_id}): the archive is deleted"


HANDLERS: dict[str, StoreHandler] = {
    SubjectStore.COMPLIANCE_AUDIT_LOG: AuditLog(),
    SubjectStore.COMPLIANCE_ARCHIVES: Archives(),
}
