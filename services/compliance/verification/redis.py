"""The verification scan's Redis part: every key of the configured db, its name and values,
and the base64 bodies of Celery/kombu messages decoded."""

from __future__ import annotations

import base64
import binascii
import contextlib
import zlib
from typing import Any

import orjson
from redis.asyncio import Redis

from services.compliance.verification.needles import Matcher
from services.compliance.verification.report import ScanReport, search_bytes

REDIS_PAGE = 500


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def message_bodies(item: bytes) -> list[bytes]:
    """The decoded bodies of the Celery/kombu message envelopes in a Redis value: a queued
    message (`{"body": ..., "properties": {"body_encoding": "base64"}}`) or an unacked one
    (`[envelope, exchange, routing_key]`)."""
    if b'"body"' not in item or item[:1] not in (b"{", b"["):
        return []
    try:
        value = orjson.loads(item)
    except orjson.JSONDecodeError:
        return []
    envelopes = value if isinstance(value, list) else [value]
    bodies = []
    for envelope in envelopes:
        if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), str):
            continue
        body = envelope["body"].encode()
        if (envelope.get("properties") or {}).get("body_encoding") == "base64":
            with contextlib.suppress(binascii.Error, ValueError):
                body = base64.b64decode(body)
        if (envelope.get("headers") or {}).get("compression"):
            with contextlib.suppress(zlib.error):
                body = zlib.decompress(body)
        bodies.append(body)
    return bodies


async def _items(redis: Redis[Any], key: bytes, kind: str) -> list[bytes]:
    if kind == "list":
        out: list[bytes] = []
        for start in range(0, await redis.llen(key), REDIS_PAGE):
            out += [_bytes(v) for v in await redis.lrange(key, start, start + REDIS_PAGE - 1)]
        return out
    if kind == "hash":
        return [_bytes(x) async for pair in redis.hscan_iter(key, count=REDIS_PAGE) for x in pair]
    if kind == "set":
        return [_bytes(v) async for v in redis.sscan_iter(key, count=REDIS_PAGE)]
    if kind == "zset":
        return [_bytes(m) async for m, _ in redis.zscan_iter(key, count=REDIS_PAGE)]
    if kind == "stream":
        entries = await redis.xrange(key)
        return [_bytes(x) for _, fields in entries for pair in fields.items() for x in pair]
    return []


async def scan_redis(matcher: Matcher, redis: Redis[Any]) -> ScanReport:
    report = ScanReport()
    cursor: int = 0
    while True:
        cursor, page = await redis.scan(cursor, count=REDIS_PAGE)
        page = [_bytes(key) for key in page]
        async with redis.pipeline(transaction=False) as pipe:
            for key in page:
                pipe.type(key)
            kinds = [_bytes(kind).decode() for kind in await pipe.execute()]
        strings = [key for key, kind in zip(page, kinds, strict=True) if kind == "string"]
        async with redis.pipeline(transaction=False) as pipe:
            for key in strings:
                pipe.get(key)
            values = dict(zip(strings, await pipe.execute(), strict=True))  # one round trip
        for key, kind in zip(page, kinds, strict=True):
            report.redis_keys += 1
            where = "redis:" + matcher.redact(key.decode(errors="replace"))
            search_bytes(matcher, report, where, key, "(key)")
            if kind == "string":
                items = [] if values.get(key) is None else [_bytes(values[key])]
            else:
                items = await _items(redis, key, kind)
            for item in items:
                search_bytes(matcher, report, where, item)
                for body in message_bodies(item):
                    search_bytes(matcher, report, where, body, "(message body)")
        if cursor == 0:
            return report
