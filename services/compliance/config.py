"""Compliance settings: the common ones plus `MINDLAKE_COMPLIANCE_*`."""

from __future__ import annotations

from functools import lru_cache

from libs.common.settings import CommonSettings


class ComplianceSettings(CommonSettings):
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
