"""Pull from an HTTP JSON API: one GET, records at a dotted path of the reply, optionally
incremental (the last cursor sent as a query parameter, the new one the records' maximum).

The host is checked against the allowlist and its addresses against the address rules just
before the request (addresses.py), and the request goes to the checked address: the name
is sent as the Host header and the TLS server name, so certificates are still verified
against it. Redirects are not followed (a 3xx fails the run).
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from services.ingest.pull.addresses import HostPolicy, Refused, Target, resolve
from services.ingest.pull.fetched import Fetched, SourceFailed, encode_cursor


def records_at(reply: Any, path: str) -> list[Any]:
    node = reply
    for part in [p for p in path.split(".") if p]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SourceFailed(f"the reply has nothing at records_path '{path}'")
    if not isinstance(node, list):
        raise SourceFailed(f"the reply's records_path '{path}' is not a list")
    return node


async def fetch_http(
    source: dict[str, Any],
    cursor: dict[str, Any] | None,
    *,
    max_rows: int,
    timeout_s: float,
    policy: HostPolicy,
) -> Fetched:
    params = dict(source.get("params") or {})
    if source.get("cursor_param") and cursor is not None:
        params[source["cursor_param"]] = str(cursor["v"])
    try:
        target = await resolve(source["url"], policy, timeout_s=timeout_s)
    except Refused as exc:
        raise SourceFailed(f"the URL is refused: {exc}") from None
    url, headers, extensions = pinned(source["url"], target, source.get("headers") or {})
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            reply = await client.get(url, params=params, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        raise SourceFailed(f"the API request failed ({type(exc).__name__})") from None
    if reply.is_redirect:
        raise SourceFailed(f"the API answered HTTP {reply.status_code}: redirects are not followed")
    if reply.status_code != 200:
        raise SourceFailed(f"the API answered HTTP {reply.status_code}")
    try:
        body = orjson.loads(reply.content)
    except orjson.JSONDecodeError:
        raise SourceFailed("the API reply is not JSON") from None
    values = records_at(body, source.get("records_path", ""))
    if len(values) > max_rows:
        raise SourceFailed(f"the API returned more than {max_rows} records in one reply")
    records = [v if isinstance(v, dict) else {"value": v} for v in values]
    field = source.get("cursor_field")
    new_cursor = None
    positions = [str(i) for i in range(len(records))]
    if field and cursor is not None:  # an API that answers `>=` resends the last record
        records = [r for r in records if not _at_or_before(r.get(field), cursor["v"])]
    if field:
        seen = [r[field] for r in records if r.get(field) is not None]
        positions = [str(r.get(field, "")) for r in records]
        try:
            top = max(seen) if seen else None
        except TypeError:
            raise SourceFailed(f"the records' '{field}' values do not compare") from None
        if top is not None:
            new_cursor = encode_cursor(top)
    return Fetched(records=records, positions=positions, cursor=new_cursor)


def pinned(
    url: str, target: Target, headers: dict[str, str]
) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request to `target.address`, naming the host as written (Host header, TLS SNI)."""
    original = httpx.URL(url)
    sent = {k: v for k, v in headers.items() if k.lower() != "host"}
    sent["Host"] = original.netloc.decode("ascii")
    extensions: dict[str, Any] = {}
    if original.scheme == "https":
        extensions["sni_hostname"] = target.host
    return original.copy_with(host=str(target.address)), sent, extensions


def _at_or_before(value: Any, cursor: Any) -> bool:
    try:
        return value is not None and bool(value <= cursor)
    except TypeError:
        return False
