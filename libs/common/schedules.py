"""The beat schedule: each service declares its own jobs; the one beat process gathers them.

A service lists its jobs in `beat_schedule()` of its `config.py`, from its own settings. The
beat imports `services.<queue>.config` by name for every queue of `contracts.Queue`, so
libs/common never imports a service's code statically (the import-linter contract holds).
"""

from __future__ import annotations

import importlib
from typing import Any

from celery.schedules import crontab

from libs.common.contracts import Queue, queue_for

BeatSchedule = dict[str, dict[str, Any]]


def cron(expr: str) -> crontab:
    """A 5-field cron (minute hour day-of-month month day-of-week), UTC."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a cron has 5 fields, got {len(fields)}: {expr!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


def job(
    task: str, schedule: float | crontab, *, expires: float, kwargs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One beat entry; every scheduled send expires, so a stalled queue does not pile up."""
    entry: dict[str, Any] = {"task": task, "schedule": schedule, "options": {"expires": expires}}
    if kwargs:
        entry["kwargs"] = kwargs
    return entry


def load_beat_schedule() -> BeatSchedule:
    """Every service's jobs. A service schedules only its own tasks (`<service>.*`), and two
    services cannot claim the same entry name."""
    schedule: BeatSchedule = {}
    for queue in Queue:
        config = importlib.import_module(f"services.{queue.value}.config")
        declare = getattr(config, "beat_schedule", None)
        jobs: BeatSchedule = declare() if declare else {}
        for name, entry in jobs.items():
            if name in schedule:
                raise ValueError(f"beat entry {name!r} is declared twice")
            if queue_for(entry["task"]) != queue.value:
                raise ValueError(f"{queue.value} schedules another service's task {entry['task']}")
            schedule[name] = entry
    return schedule
