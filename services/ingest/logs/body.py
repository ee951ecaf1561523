"""Reading a request body within the limits: streamed, gunzipped with a cap, parsed once."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from fastapi import Request

from libs.common.errors import PayloadTooLarge, ServiceError, UnsupportedMediaType


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refusing to buffer more than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only ("²".isdigit() is true and int("²") raises), and never a long int()
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        shown = f"{int(declared):,} bytes" if len(declared) <= 18 else "over 10^18 bytes"
        raise PayloadTooLarge(f"the body is {shown}; the limit is {limit:,} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Decompress, stopping at `limit` bytes so a small gzip bomb cannot fill memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ServiceError(
            "the body is not valid gzip", errors=[{"field": "body", "reason": str(exc)}]
        ) from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed body exceeds the limit of {limit:,} bytes")
    return out


async def read_json(request: Request, limit: int) -> Any:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type not in ("application/json", "text/plain", ""):
        raise UnsupportedMediaType(f"send application/json, not {content_type}")
    data = await read_limited(request, limit)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        data = gunzip_limited(data, limit)
    elif encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"content-encoding {encoding} is not supported; use gzip")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(
            "the body is not valid JSON",
            errors=[{"field": "body", "reason": f"invalid JSON at character {exc.pos}"}],
        ) from exc
