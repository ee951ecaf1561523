"""Export settings: the common ones plus `MINDLAKE_EXPORT_*`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from libs.common.settings import CommonSettings


class ExportSettings(CommonSettings):
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
    # Recommender training data (services/export/recsys; the interval is export_recsys_interval_h).
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
