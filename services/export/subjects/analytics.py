"""The analytics reports as an erasure/portability store (`export.analytics_reports`).

Only `user_engagement.csv` holds a row per user (by subject_key); service metrics and weekly
summaries are counts over many users and hold no one's row. Collect returns the user's rows;
erase rewrites each monthly CSV without them (idempotent: a second run finds nothing).
"""

from __future__ import annotations

import csv
import io

from libs.common.subject_rights import Collected, SubjectContext
from services.export.analytics.reports import MONTHLY_PREFIX

ENGAGEMENT_FILE = "user_engagement.csv"


def _split(data: bytes, subject_key: str) -> tuple[list[dict[str, str]], bytes]:
    """(the subject's rows, the file without them)."""
    reader = csv.DictReader(io.StringIO(data.decode()))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
    writer.writeheader()
    theirs: list[dict[str, str]] = []
    for row in reader:
        if row.get("subject_key") == subject_key:
            theirs.append(row)
        else:
            writer.writerow(row)
    return theirs, out.getvalue().encode()


def _files(ctx: SubjectContext) -> list[str]:
    return sorted(
        o.path for o in ctx.lake.list(MONTHLY_PREFIX) if o.path.endswith(f"/{ENGAGEMENT_FILE}")
    )


class AnalyticsReportsStore:
    tables: tuple[str, ...] = ()

    async def collect(self, ctx: SubjectContext) -> Collected:
        records = []
        for path in _files(ctx):
            rows, _ = _split(ctx.lake.read_bytes(path), ctx.subject_key)
            records += [{"report": path, **row} for row in rows]
        return Collected(records=records)

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        rows_removed = files = 0
        for path in _files(ctx):
            rows, rest = _split(ctx.lake.read_bytes(path), ctx.subject_key)
            if rows:
                ctx.lake.write_bytes(path, rest)
                rows_removed += len(rows)
                files += 1
        return {"engagement_rows": rows_removed, "files_rewritten": files}
