"""Consent settings: the common ones plus `MINDLAKE_CONSENT_*`."""

from __future__ import annotations

from functools import lru_cache

from libs.common.contracts import TaskName
from libs.common.schedules import BeatSchedule, cron, job
from libs.common.settings import CommonSettings


class ConsentSettings(CommonSettings):
    consent_bulk_max_ids: int = 1_000_000  # user ids per bulk check request
    consent_history_max_rows: int = 1000  # ledger entries per history page
    consent_gauge_interval_s: float = 30.0  # how often the API refreshes the consent-rate gauges
    consent_backup_prefix: str = "backups/consent_records"  # lake folder of the daily backup
    consent_backup_cron: str = "45 2 * * *"  # the daily copy of the ledger to the lake (UTC)


@lru_cache
def get_consent_settings() -> ConsentSettings:
    return ConsentSettings()


def beat_schedule() -> BeatSchedule:
    """Consent's scheduled jobs (libs/common/schedules.py gathers every service's)."""
    s = get_consent_settings()
    return {
        "consent-backup": job(TaskName.CONSENT_BACKUP, cron(s.consent_backup_cron), expires=3600),
    }
