"""The beat schedule: every service declares its own jobs, from its own settings."""

from __future__ import annotations

import pytest
from celery.schedules import crontab

from libs.common import schedules
from libs.common.contracts import TaskName, queue_for
from libs.common.schedules import cron, job, load_beat_schedule
from services.compliance.config import get_compliance_settings
from services.export.config import get_export_settings

# What the one platform-wide registry in libs/common scheduled before each service owned its
# jobs: same entries, same tasks, same expiry.
EXPECTED = {
    "ingest-flush": (TaskName.INGEST_FLUSH, 10.0, 20.0),
    "ingest-compact": (TaskName.INGEST_COMPACT, cron("15 3 * * *"), 3600),
    "ingest-scrub-dead-letters": (TaskName.INGEST_SCRUB_DEAD_LETTERS, 60.0, 120),
    "ingest-pull-due": (TaskName.INGEST_PULL_DUE, 30.0, 30),
    "ingest-prune-outbox": (TaskName.INGEST_PRUNE_OUTBOX, crontab(minute="30", hour="*"), 3600),
    "consent-backup": (TaskName.CONSENT_BACKUP, crontab(minute="45", hour="2"), 3600),
    "compliance-chain-audit": (TaskName.COMPLIANCE_CHAIN_AUDIT, 3.0, 10),
    "compliance-subject-sweep": (TaskName.COMPLIANCE_SUBJECT_SWEEP, 15.0, 30),
    "compliance-retention": (TaskName.COMPLIANCE_RETENTION, cron("0 4 * * *"), 3600),
    "compliance-report": (TaskName.COMPLIANCE_REPORT, cron("20 0 * * *"), 3600),
    "export-drop-withdrawn": (TaskName.EXPORT_DROP_WITHDRAWN, 600.0, 600),
    "export-daily": (TaskName.EXPORT_SCHEDULED, cron("0 2 * * *"), 3600),
    "export-weekly": (TaskName.EXPORT_SCHEDULED, cron("0 3 * * 0"), 3600),
    "export-monthly-report": (TaskName.EXPORT_MONTHLY_REPORT, cron("30 4 1 * *"), 3600),
    "export-weekly-summary": (TaskName.EXPORT_WEEKLY_SUMMARY, cron("15 4 * * 1"), 3600),
    "export-recommender": (TaskName.EXPORT_RECOMMENDER, 6 * 3600.0, 3 * 3600.0),
    "embedding-daily": (TaskName.EMBEDDING_SYNC, cron("0 2 * * *"), 3600),
    "embedding-reconcile": (TaskName.EMBEDDING_RECONCILE, cron("30 4 * * 0"), 3600),
    "embedding-backup": (TaskName.EMBEDDING_BACKUP, cron("30 3 * * *"), 3600),
    "embedding-drop-withdrawn": (TaskName.EMBEDDING_DROP_WITHDRAWN, 300.0, 300.0),
    "risk-assess": (TaskName.RISK_ASSESS, cron("0 6 * * *"), 3600),
    "risk-train": (TaskName.RISK_TRAIN, cron("0 3 1 * *"), 3600),
    "risk-monitor": (TaskName.RISK_MONITOR, cron("30 6 * * *"), 3600),
    "catalog-reconcile": (TaskName.CATALOG_RECONCILE, cron("30 1 * * *"), 3600),
}


def test_the_gathered_schedule_is_every_services_jobs() -> None:
    schedule = load_beat_schedule()
    assert set(schedule) == set(EXPECTED)
    for name, (task, when, expires) in EXPECTED.items():
        entry = schedule[name]
        assert entry["task"] == task, name
        assert entry["schedule"] == when, name
        assert entry["options"]["expires"] == expires, name
        assert name.split("-", 1)[0] == queue_for(task), name  # entries named by their owner
    assert schedule["export-daily"]["kwargs"] == {"period": "daily"}
    assert schedule["export-weekly"]["kwargs"] == {"period": "weekly"}


def test_a_cron_comes_from_the_owning_services_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINDLAKE_COMPLIANCE_RETENTION_CRON", "5 1 * * *")
    monkeypatch.setenv("MINDLAKE_EXPORT_RECSYS_INTERVAL_H", "2")
    get_compliance_settings.cache_clear()
    get_export_settings.cache_clear()
    try:
        schedule = load_beat_schedule()
    finally:
        get_compliance_settings.cache_clear()
        get_export_settings.cache_clear()
    assert schedule["compliance-retention"]["schedule"] == cron("5 1 * * *")
    assert schedule["export-recommender"]["schedule"] == 7200.0


def test_a_service_cannot_schedule_another_services_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import services.consent.config as consent_config

    def foreign() -> dict[str, dict[str, object]]:
        return {"consent-x": job(TaskName.EXPORT_RUN, 5.0, expires=5)}

    monkeypatch.setattr(consent_config, "beat_schedule", foreign)
    with pytest.raises(ValueError, match=r"another service.s task export\.run"):
        schedules.load_beat_schedule()


@pytest.mark.parametrize("expr", ["* * * *", "1 2 3 4 5 6", ""])
def test_a_cron_needs_five_fields(expr: str) -> None:
    with pytest.raises(ValueError, match="5 fields"):
        cron(expr)
