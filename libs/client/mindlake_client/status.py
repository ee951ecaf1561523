"""What the client reports: counters, rejected entries, the health status."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal


@dataclass
class Counters:
    """Entry counts since the logger started (requests are HTTP attempts)."""

    logged: int = 0  # taken by log()/log_batch()
    invalid: int = 0  # refused by log()/log_batch(): too large or not serializable
    accepted: int = 0  # new in the API's durable outbox
    duplicate: int = 0  # the API already had them (a resend): also durable
    rejected: int = 0  # refused by the API, reported to on_rejected, not retried
    retries: int = 0  # batches posted again after a transient failure
    split: int = 0  # batches halved: after a 413, or to isolate an entry the API fails on
    spilled: int = 0  # written to the disk spill
    resent: int = 0  # acknowledged from the disk spill
    poisoned: int = 0  # of `rejected`: entries the API failed on (HTTP 500) alone, repeatedly,
    # while it accepted others; reported to on_rejected with status 500, not retried
    deferred: int = 0  # entries that failed alone unproven, sent again after newer ones
    dropped: int = 0  # lost on purpose: memory buffer full or spill folder full (warned)
    requests: int = 0
    failed_requests: int = 0  # network errors, timeouts, 408/429/5xx


@dataclass(frozen=True)
class Rejection:
    """An entry the API refused (or could never accept): it will not be retried.

    `status` is the HTTP status of the reply that refused it: 202 (one bad entry in an
    accepted batch), 422 (no entry of the batch was valid), 413 (one entry over the size
    limit), another 4xx (401/403: the key; the whole batch is refused), or 500 (a poison
    entry: the API failed on it alone, again and again, while it accepted other entries).
    """

    event_id: str | None
    service: str | None
    field: str
    reason: str
    status: int
    raw: bytes = dataclasses.field(repr=False)

    def entry(self) -> dict[str, Any]:
        """The entry as it was sent (it may hold personal data: do not log it)."""
        value = json.loads(self.raw)
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class HealthStatus:
    reachable: bool  # GET /health answered 200 just now
    api: str  # "ok", "HTTP <status>" or the network error's type
    state: Literal["up", "down"]  # down: sends failed; entries go to the spill until a retry works
    buffered: int  # entries in memory
    spilled: int  # entries waiting in the spill folder
    spill_bytes: int
    last_error: str | None
    last_success_at: datetime | None
    counters: Counters

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["last_success_at"] = self.last_success_at.isoformat() if self.last_success_at else None
        return out
