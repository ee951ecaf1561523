"""Every query of the compliance report. Aggregates only: no user id leaves these queries.

Consent figures come from consent's contract, `libs.common.consent.consent_counts`;
`common.subject_requests` is libs/common's (libs/common/subject_rights.py), whose lifecycle
compliance drives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The state at `end`: done once completed before it; otherwise failing while a step has
# failed or the verification found traces (both are retried), else open.
ERASURES = text(
    """
    WITH r AS (
        SELECT r.created_at, r.completed_at, r.deadline,
               (r.completed_at IS NOT NULL AND r.completed_at < :end) AS done,
               (r.last_error IS NOT NULL OR EXISTS (
                    SELECT 1 FROM common.subject_request_steps s
                    WHERE s.request_id = r.id AND s.status = 'failed')) AS failing,
               extract(epoch FROM r.completed_at - r.created_at) AS seconds
        FROM common.subject_requests r
        WHERE r.kind = 'erasure' AND r.created_at < :end
    )
    SELECT
        count(*) FILTER (WHERE done) AS done,
        count(*) FILTER (WHERE NOT done AND failing) AS failed,
        count(*) FILTER (WHERE NOT done AND NOT failing) AS open,
        count(*) FILTER (WHERE NOT done AND deadline < :end) AS overdue,
        count(*) FILTER (WHERE created_at >= :start) AS received,
        count(*) FILTER (WHERE done AND completed_at >= :start) AS completed,
        avg(seconds) FILTER (WHERE done AND completed_at >= :start) AS avg_s,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)
            FILTER (WHERE done AND completed_at >= :start) AS p50_s,
        max(seconds) FILTER (WHERE done AND completed_at >= :start) AS max_s
    FROM r
    """
)
ACCESS_BY_PURPOSE = text(
    "SELECT purpose, count(*) FROM compliance.audit_log"
    " WHERE at >= :start AND at < :end GROUP BY purpose"
)


async def erasures(conn: AsyncConnection, start: datetime, end: datetime) -> dict[str, Any]:
    row = (await conn.execute(ERASURES, {"start": start, "end": end})).one()
    return dict(row._mapping)


async def access_by_purpose(
    conn: AsyncConnection, start: datetime, end: datetime
) -> dict[str, int]:
    rows = await conn.execute(ACCESS_BY_PURPOSE, {"start": start, "end": end})
    return {row[0]: int(row[1]) for row in rows}
