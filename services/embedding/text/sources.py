"""Which fields of which service's events are embedded: one document per event.

The bodies are the lake's PII-scrubbed JSON (raw/events `body`), decrypted by the caller.
A turn (chat bot, AI) is embedded as the user's words and the reply together: a search finds
the exchange, not half of it.
"""

from __future__ import annotations

from typing import Any

import orjson

# service -> the body fields whose text makes the document, in order
FIELDS: dict[str, tuple[str, ...]] = {
    "journal-service": ("title", "text"),
    "lyfbot-service": ("prompt", "response"),
    "ai-service": ("prompt", "response"),
    "chat-service": ("message",),
    "community-service": ("content",),
}
SEPARATOR = "\n\n"


def document(service: str, body: str | None) -> str | None:
    """The text to embed of one event's decrypted body; None when there is none (an
    unreadable body: the user's key is gone, or a community action without content)."""
    fields = FIELDS.get(service)
    if fields is None or body is None:
        return None
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    parts = [v.strip() for f in fields if isinstance(v := parsed.get(f), str) and v.strip()]
    return SEPARATOR.join(parts) or None
