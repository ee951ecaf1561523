"""The verification scan's Qdrant part. Local mode (no `qdrant_url`): every file under
`qdrant_path` searched as bytes (SQLite storage too). A server: every mindlake_ collection's
payloads scrolled and searched. Uses qdrant-client directly (compliance does not import the
embedding service)."""

from __future__ import annotations

from pathlib import Path

import orjson

from libs.common.settings import CommonSettings
from services.compliance.verification.needles import Matcher
from services.compliance.verification.report import ScanReport, search_bytes

PAGE = 512


def scan_qdrant(matcher: Matcher, settings: CommonSettings) -> ScanReport:
    report = ScanReport()
    if not settings.qdrant_url:
        folder = Path(settings.qdrant_path)
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                where = "qdrant:" + matcher.redact(str(path.relative_to(folder)))
                report.objects += 1
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    report.errors.append(f"{where}: {type(exc).__name__}")
                    continue
                report.bytes += len(data)
                search_bytes(matcher, report, where, data)
        return report
    from qdrant_client import QdrantClient

    key = settings.qdrant_api_key
    client = QdrantClient(url=settings.qdrant_url, api_key=key.get_secret_value() if key else None)
    try:
        names = [c.name for c in client.get_collections().collections]
        for name in sorted(n for n in names if n.startswith("mindlake_")):
            where = f"qdrant:{name}"
            offset = None
            while True:
                points, offset = client.scroll(name, limit=PAGE, offset=offset, with_payload=True)
                for point in points:
                    report.objects += 1
                    search_bytes(matcher, report, where, orjson.dumps(point.payload or {}))
                if offset is None:
                    break
    except Exception as exc:  # an unreachable server is reported: the scan is then not clean
        report.errors.append(f"qdrant: {type(exc).__name__}")
    finally:
        client.close()
    return report
