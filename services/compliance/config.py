"""Compliance settings: the common ones plus `MINDLAKE_COMPLIANCE_*`."""

from __future__ import annotations

from functools import lru_cache

from libs.common.settings import CommonSettings


class ComplianceSettings(CommonSettings):
    compliance_chain_batch_rows: int = 5_000  # outbox rows chained per transaction
    compliance_verify_page_rows: int = 10_000  # audit rows read per page while verifying
    compliance_audit_page_max: int = 500  # largest `limit` of GET /v1/audit


@lru_cache
def get_compliance_settings() -> ComplianceSettings:
    return ComplianceSettings()
