"""The verification scan's Postgres part: every table of every non-system schema, streamed
with COPY (a big table costs one sequential read), each row searched with its subject_key."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.compliance.verification.needles import Matcher
from services.compliance.verification.report import HitKey, ScanReport

COPY_CHUNK = 8 << 20  # Postgres rows searched per 8 MB of COPY output


TABLES = text(
    """
    SELECT n.nspname, c.relname,
           EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                   AND a.attname = 'subject_key' AND NOT a.attisdropped) AS has_subject
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND c.relispopulated
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_%'
    ORDER BY 1, 2
    """
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class CopySink:
    """Searches one table's COPY output line by line (a row per line: COPY escapes newlines);
    each line is `subject_key<TAB>row text`."""

    def __init__(self, matcher: Matcher, report: ScanReport, where: str) -> None:
        self.matcher, self.report, self.where = matcher, report, where
        self.own = matcher.needles.subject_key.encode()
        self.pending = bytearray()

    async def feed(self, chunk: bytes) -> None:
        self.pending += chunk
        if len(self.pending) >= COPY_CHUNK:
            cut = self.pending.rfind(b"\n") + 1
            self.search(bytes(self.pending[:cut]))
            del self.pending[:cut]

    def close(self) -> None:
        if self.pending:
            self.search(bytes(self.pending))
            self.pending.clear()

    def search(self, block: bytes) -> None:
        self.report.pg_rows += block.count(b"\n")
        lower = block.lower()
        seen: set[tuple[int, str, int, bool]] = set()
        for m in self.matcher.find(lower):
            lo = lower.rfind(b"\n", 0, m.start) + 1
            hi = lower.find(b"\n", m.start)
            hi = len(lower) if hi < 0 else hi
            if m.end > hi:
                continue
            if m.form.kind == "identifier" and not self.matcher.is_token(
                lower, m.start, m.end, lo, hi
            ):
                continue
            subject = block[lo : block.find(b"\t", lo)]
            shared = m.form.kind == "sentence" and bool(subject) and subject != self.own
            seen.add((lo, m.form.kind, m.form.index, shared))
        for _, kind, index, shared in seen:
            self.report.counts[HitKey(self.where, None, kind, index, shared)] += 1


async def scan_postgres(matcher: Matcher, engine: AsyncEngine) -> ScanReport:
    report = ScanReport()
    async with engine.connect() as conn:
        tables = (await conn.execute(TABLES)).all()
        raw = await conn.get_raw_connection()
        pg = raw.driver_connection
        assert pg is not None
        for schema, name, has_subject in tables:
            where = f"pg:{schema}.{name}"
            alias = "mindlake_scan_row"
            subject = f"coalesce({alias}.subject_key::text, '')" if has_subject else "''"
            query = (
                f"SELECT {subject}, {alias}::text FROM {_quote(schema)}.{_quote(name)} AS {alias}"  # noqa: S608 - quoted names from the catalog
            )
            sink = CopySink(matcher, report, where)
            await pg.execute("SAVEPOINT trace_scan")  # a failed table spoils no other
            try:
                await pg.copy_from_query(query, output=sink.feed)
            except Exception as exc:  # a table that cannot be read is reported
                await pg.execute("ROLLBACK TO SAVEPOINT trace_scan")
                report.errors.append(f"{where}: {type(exc).__name__}")
                continue
            await pg.execute("RELEASE SAVEPOINT trace_scan")
            sink.close()
            report.pg_tables += 1
    return report
