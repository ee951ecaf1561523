"""Export settings: the common ones plus `MINDLAKE_EXPORT_*`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from libs.common.contracts import TaskName
from libs.common.schedules import BeatSchedule, cron, job
from libs.common.settings import CommonSettings


class ExportSettings(CommonSettings):
    # Jobs (UTC crons). Training data: the day before, daily; the last 7 days, weekly.
    export_daily_cron: str = "0 2 * * *"
    export_weekly_cron: str = "0 3 * * 0"
    # Analytics reports: the month before (on the 1st), the ISO week before (Mondays).
    export_monthly_cron: str = "30 4 1 * *"
    export_weekly_summary_cron: str = "15 4 * * 1"
    export_recsys_interval_h: float = 6.0  # recommender training data, every this many hours
    export_withdrawn_interval_s: float = 600.0  # withdrawn consent reaches finished exports
    export_min_quality: float = 0.6  # pairs scoring below this are left out (source default)
    export_validation_ratio: float = 0.1  # share of users (not pairs) in the validation split
    export_link_ttl_s: int = 900  # a presigned download URL (S3 lake) works this long
    export_max_days: int = 366  # the longest date range one export may cover
    export_list_page_max: int = 200  # largest `limit` of GET /v1/exports
    # Ad-hoc analytics SQL (POST /v1/analytics/sql): rows returned at most, seconds before the
    # query is interrupted, DuckDB's memory cap for one query.
    export_sql_row_limit: int = 10_000
    export_sql_timeout_s: float = 30.0
    export_sql_memory_limit: str = "2GB"
    # Recommender training data (services/export/recsys).
    export_negative_ratio: int = Field(4, ge=0)  # negatives per positive (Team Eta: 1:4)
    export_negative_seed: int = Field(42, ge=0)  # same seed and inputs -> same samples
    # interaction types that make a positive; any interaction makes an item "touched"
    export_recsys_positive_types: list[str] = ["click", "purchase", "like"]
    export_recsys_sequence_length: int = Field(50, ge=1)  # each user's last N interactions
    export_recsys_prefix: str = "processed/recommender"
    # older runs are deleted: at a 6 h refresh, 4 runs keep a withdrawn or erased user's rows
    # in recommender data for at most a day
    export_recsys_keep_runs: int = Field(4, ge=1)


@lru_cache
def get_export_settings() -> ExportSettings:
    return ExportSettings()


def beat_schedule() -> BeatSchedule:
    """Export's scheduled jobs (libs/common/schedules.py gathers every service's)."""
    s = get_export_settings()
    return {
        "export-drop-withdrawn": job(
            TaskName.EXPORT_DROP_WITHDRAWN, s.export_withdrawn_interval_s,
            expires=s.export_withdrawn_interval_s,
        ),
        "export-daily": job(
            TaskName.EXPORT_SCHEDULED, cron(s.export_daily_cron), expires=3600,
            kwargs={"period": "daily"},
        ),
        "export-weekly": job(
            TaskName.EXPORT_SCHEDULED, cron(s.export_weekly_cron), expires=3600,
            kwargs={"period": "weekly"},
        ),
        "export-monthly-report": job(
            TaskName.EXPORT_MONTHLY_REPORT, cron(s.export_monthly_cron), expires=3600
        ),
        "export-weekly-summary": job(
            TaskName.EXPORT_WEEKLY_SUMMARY, cron(s.export_weekly_summary_cron), expires=3600
        ),
        "export-recommender": job(  # Team Eta: every 6 h
            TaskName.EXPORT_RECOMMENDER, s.export_recsys_interval_h * 3600,
            expires=s.export_recsys_interval_h * 1800,
        ),
    }  # fmt: skip
