"""When a pull job runs next: every `interval_s` seconds, or on a cron expression (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter


def next_run(schedule: dict[str, Any], after: datetime) -> datetime:
    """The first run time strictly after `after` (an aware datetime)."""
    after = after.astimezone(UTC)
    if schedule.get("interval_s") is not None:
        return after + timedelta(seconds=float(schedule["interval_s"]))
    following = croniter(str(schedule["cron"]), after).get_next(datetime)
    assert isinstance(following, datetime)
    return following.astimezone(UTC)


def valid_cron(expression: str) -> bool:
    return bool(croniter.is_valid(expression)) and len(expression.split()) == 5
