"""Risk settings: the common ones plus `MINDLAKE_RISK_*`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from libs.common.contracts import TaskName
from libs.common.schedules import BeatSchedule, cron, job
from libs.common.settings import CommonSettings

# Every output of the service carries this: it informs a clinician, it does not diagnose.
DISCLAIMER = (
    "Decision support for clinicians, not a diagnosis. A score estimates the chance of a "
    "crisis outcome within the horizon from logged activity; it can be wrong, and it never "
    "replaces a clinician's judgement."
)


class RiskSettings(CommonSettings):
    # Jobs (UTC crons): assessment daily at 06:00, training on the 1st of each month.
    risk_assess_cron: str = "0 6 * * *"
    risk_train_cron: str = "0 3 1 * *"
    risk_monitor_cron: str = "30 6 * * *"
    # Lake paths: the daily features Delta table and the model versions.
    risk_features_table: str = "risk/features"
    risk_models_prefix: str = "models/risk"
    # Levels: a score at or above a threshold has that level (else low).
    risk_threshold_medium: float = Field(0.3, gt=0, lt=1)
    risk_threshold_high: float = Field(0.6, gt=0, lt=1)
    risk_threshold_critical: float = Field(0.85, gt=0, lt=1)
    # Labels: an outcome within this many days after the feature day makes a positive.
    risk_horizon_days: int = Field(14, ge=1, le=90)
    risk_history_days: int = Field(180, ge=30)  # days of features a training run reads
    risk_validation_days: int = Field(30, ge=7)  # the newest days: the held-out window
    risk_low_coverage: float = Field(0.5, ge=0, le=1)  # coverage below this: low-coverage
    risk_assessment_retention_days: int = Field(90, ge=1)
    risk_high_risk_page_max: int = Field(200, ge=1)  # largest `limit` of the high-risk list
    # Alerts: a critical assessment is posted here (JSON), retried with backoff.
    risk_alert_webhook_url: str | None = None
    risk_alert_webhook_secret: SecretStr | None = None  # HMAC-SHA256 of the body, if set
    risk_alert_max_attempts: int = Field(8, ge=1)
    risk_alert_backoff_s: float = Field(30.0, gt=0)  # first retry; doubles, capped at 1 h
    risk_alert_timeout_s: float = Field(10.0, gt=0)
    # Intervention messages: an LLM when a key is set, else curated templates.
    risk_openai_api_key: SecretStr | None = None
    risk_openai_base_url: str | None = None
    risk_openai_model: str = "gpt-4o-mini"
    risk_openai_timeout_s: float = Field(20.0, gt=0)
    # Drift: PSI per feature between the training window and the latest assessments.
    risk_drift_min_samples: int = Field(200, ge=10)  # per window; fewer: not judged
    risk_drift_psi_alert: float = Field(0.25, gt=0)

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> RiskSettings:
        if not self.risk_threshold_medium < self.risk_threshold_high < self.risk_threshold_critical:
            raise ValueError("risk thresholds must rise: medium < high < critical")
        return self


@lru_cache
def get_risk_settings() -> RiskSettings:
    return RiskSettings()


def beat_schedule() -> BeatSchedule:
    """Risk's scheduled jobs (libs/common/schedules.py gathers every service's)."""
    s = get_risk_settings()
    return {
        "risk-assess": job(TaskName.RISK_ASSESS, cron(s.risk_assess_cron), expires=3600),
        "risk-train": job(TaskName.RISK_TRAIN, cron(s.risk_train_cron), expires=3600),
        "risk-monitor": job(TaskName.RISK_MONITOR, cron(s.risk_monitor_cron), expires=3600),
    }
