"""Compliance settings: the common ones plus `MINDLAKE_COMPLIANCE_*`."""

from __future__ import annotations

from functools import lru_cache

from libs.common.contracts import TaskName
from libs.common.schedules import BeatSchedule, cron, job
from libs.common.settings import CommonSettings


class ComplianceSettings(CommonSettings):
    # Jobs (UTC crons): retention daily; the report daily, for the day before.
    compliance_retention_cron: str = "0 4 * * *"
    compliance_report_cron: str = "20 0 * * *"
    compliance_chain_interval_s: float = 3.0  # audit outbox -> hash chain
    compliance_sweep_interval_s: float = 15.0  # subject-request steps due for a retry, or lost
    compliance_chain_batch_rows: int = 5_000  # outbox rows chained per transaction
    compliance_verify_page_rows: int = 10_000  # audit rows read per page while verifying
    compliance_audit_page_max: int = 500  # largest `limit` of GET /v1/audit
    compliance_report_prefix: str = "analytics/compliance"  # lake folder of the daily reports
    # Subject rights: an erasure past its deadline shows as overdue (and is still retried).
    compliance_erasure_deadline_h: float = 24.0
    compliance_step_resend_s: float = 600.0  # a sent step not finished by then is sent again
    compliance_min_sentence_chars: int = 30  # shorter sentences are not searched for
    compliance_export_link_ttl_s: int = 900  # a portability download link works this long
    compliance_export_keep_h: float = 24.0  # then the archive is deleted


@lru_cache
def get_compliance_settings() -> ComplianceSettings:
    return ComplianceSettings()


def beat_schedule() -> BeatSchedule:
    """Compliance's scheduled jobs (libs/common/schedules.py gathers every service's)."""
    s = get_compliance_settings()
    return {
        "compliance-chain-audit": job(  # also `POST /v1/audit/chain`
            TaskName.COMPLIANCE_CHAIN_AUDIT, s.compliance_chain_interval_s,
            expires=max(s.compliance_chain_interval_s * 3, 10),
        ),
        "compliance-subject-sweep": job(
            TaskName.COMPLIANCE_SUBJECT_SWEEP, s.compliance_sweep_interval_s,
            expires=s.compliance_sweep_interval_s * 2,
        ),
        "compliance-retention": job(  # deletes what is past its retention policy
            TaskName.COMPLIANCE_RETENTION, cron(s.compliance_retention_cron), expires=3600
        ),
        "compliance-report": job(  # yesterday's report to analytics/compliance/<day>.json
            TaskName.COMPLIANCE_REPORT, cron(s.compliance_report_cron), expires=3600
        ),
    }  # fmt: skip
