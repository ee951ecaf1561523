from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.common.audit import AuditAction, AuditEntry, AuditPurpose, audit
from libs.common.db import get_engine
from services.compliance.audit.service import chain_pending
from services.compliance.config import get_compliance_settings

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def entry(i: int, **overrides: object) -> AuditEntry:
    fields: dict[str, object] = {
        "actor": f"key{i % 3}",
        "purpose": list(AuditPurpose)[i % len(AuditPurpose)],
        "action": list(AuditAction)[i % len(AuditAction)],
        "asset": f"raw/events/{i}",
        "subject": f"user-{i % 5}",
        "client_ip": f"203.0.113.{i % 250}",
        "device": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)",
        "at": T0 + timedelta(minutes=i),
    }
    fields.update(overrides)
    return AuditEntry(**fields)  # type: ignore[arg-type]


async def emit_and_chain(n: int) -> int:
    await audit(*(entry(i) for i in range(n)))
    return await chain_pending(get_engine(), get_compliance_settings().compliance_chain_batch_rows)
