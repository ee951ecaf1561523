"""The portability archive: a zip of one JSON file per store plus a manifest, kept sealed
with the request's key, and the short-lived signed link that downloads it."""

from __future__ import annotations

import hashlib
import hmac
import io
import time
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson

from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from libs.common.subject_rights import Collected, OpenRequest, read_part, write_part

ARCHIVE_PART = "archive.zip.sealed"  # AES-GCM with the request key, not a readable zip


def build(request: OpenRequest, parts: Mapping[str, Collected]) -> bytes:
    files: dict[str, bytes] = {
        f"{store}.json": orjson.dumps(parts[store].records, option=orjson.OPT_INDENT_2, default=str)
        for store in sorted(parts)
    }
    manifest = {
        "kind": "mindlake_subject_export",
        "format": 1,
        "request_id": str(request.id),
        "user_id": request.user_id,
        "generated_at": datetime.now(UTC).isoformat(),
        "files": {
            name: {
                "records": len(parts[name.removesuffix(".json")].records),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for name, data in files.items()
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write(lake: Lake, request: OpenRequest, parts: Mapping[str, Collected]) -> str:
    """Seal the archive into the lake; its path."""
    return write_part(lake, request, ARCHIVE_PART, build(request, parts))


def read(lake: Lake, request: OpenRequest) -> bytes:
    return read_part(lake, request, ARCHIVE_PART)


# --- links -----------------------------------------------------------------------------------
def _signature(settings: CommonSettings, request_id: str, expires: int) -> str:
    key = hashlib.sha256(
        b"mindlake-export-link:" + settings.pii_hmac_key.get_secret_value().encode()
    )
    return hmac.new(key.digest(), f"{request_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_query(settings: CommonSettings, request_id: str, ttl_s: int) -> str:
    expires = int(time.time()) + ttl_s
    return f"expires={expires}&signature={_signature(settings, request_id, expires)}"


def link_valid(settings: CommonSettings, request_id: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    # As bytes: compare_digest refuses a str holding non-ASCII (a TypeError, not a mismatch).
    expected = _signature(settings, request_id, expires).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))
