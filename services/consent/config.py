"""Consent settings: the common ones plus `MINDLAKE_CONSENT_*`."""

from __future__ import annotations

from functools import lru_cache

from libs.common.settings import CommonSettings


class ConsentSettings(CommonSettings):
    consent_bulk_max_ids: int = 1_000_000  # user ids per bulk check request
    consent_history_max_rows: int = 1000  # ledger entries per history page
    consent_gauge_interval_s: float = 30.0  # how often the API refreshes the consent-rate gauges
    consent_backup_prefix: str = "backups/consent_records"  # lake folder of the daily backup


@lru_cache
def get_consent_settings() -> ConsentSettings:
    return ConsentSettings()
