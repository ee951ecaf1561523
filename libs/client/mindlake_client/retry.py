"""How long to wait before trying again: exponential backoff with jitter, or Retry-After."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def full_jitter(attempt: int, base_s: float, max_s: float) -> float:
    """A random wait in [0, min(max, base * 2^(attempt-1))]: concurrent clients spread out
    instead of retrying in lockstep (the AWS architecture blog's "full jitter")."""
    return random.uniform(0.0, min(max_s, base_s * 2.0 ** max(attempt - 1, 0)))


def equal_jitter(attempt: int, base_s: float, max_s: float) -> float:
    """Half fixed, half random: for probing a down API, where a wait near 0 is pointless."""
    ceiling = min(max_s, base_s * 2.0 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0.0, ceiling / 2)


def parse_retry_after(value: str | None, cap_s: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap_s)
