"""Consent tasks: the daily backup to the lake and the `consent.changed` handler."""

from __future__ import annotations

import gzip
from datetime import date

import httpx
import orjson
import redis
from prometheus_client import REGISTRY

from libs.common.consent import ConsentChecker, cache_key
from libs.common.contracts import ConsentChanged, ConsentPurpose
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from services.consent.backup.service import backup_ledger
from services.consent.ledger.metrics import CONSENT_RATE
from services.consent.ledger.tasks import _on_changed


async def test_backup_writes_the_whole_ledger_to_the_lake(
    admin: httpx.AsyncClient, user_id: str, lake_settings: CommonSettings
) -> None:
    await admin.put(
        f"/v1/consent/{user_id}",
        json={"purposes": {"research": True, "analytics": False}, "policy_version": "v7"},
    )
    lake = Lake(lake_settings)
    engine = one_shot_engine()
    try:
        report = await backup_ledger(
            engine, lake, prefix="backups/consent_records", day=date(2026, 11, 22)
        )
    finally:
        await engine.dispose()
    assert report.path == "backups/consent_records/2026-11-22_consent_backup.json.gz"
    assert [o.path for o in lake.list("backups/consent_records")] == [report.path]
    document = orjson.loads(gzip.decompress(lake.read_bytes(report.path)))
    assert document["kind"] == "consent_ledger" and document["count"] == report.entries
    assert len(document["entries"]) == report.entries > 0
    mine = [e for e in document["entries"] if e["user_id"] == user_id]
    assert [(e["purpose"], e["granted"], e["policy_version"]) for e in mine] == [
        ("analytics", False, "v7"),
        ("research", True, "v7"),
    ]
    assert {"id", "lawful_basis", "source", "actor_key_id", "recorded_at"} <= set(mine[0])


async def test_consent_changed_invalidates_and_refreshes_the_rate_gauges(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    await admin.put(
        f"/v1/consent/{user_id}", json={"purposes": {"research": True}, "policy_version": "1"}
    )
    checker = ConsentChecker()
    assert await checker.can_use(user_id, "research") is True
    assert redis.Redis.from_url(redis_url).exists(cache_key(checker.subject(user_id)))

    event = ConsentChanged(
        user_id=user_id, purposes=[ConsentPurpose.RESEARCH], granted=[], at="2026-11-22T00:00:00Z"
    )
    # The app's own refresher and other sessions' writes move the gauge too: a sentinel, not
    # equality with this call's rates, shows that the handler set it.
    CONSENT_RATE.labels(purpose="research").set(-1)
    rates = await _on_changed(event)
    assert not redis.Redis.from_url(redis_url).exists(cache_key(checker.subject(user_id)))
    assert set(rates) == {p.value for p in ConsentPurpose}
    assert 0 < rates["research"] <= 1
    gauge = REGISTRY.get_sample_value("mindlake_consent_rate", {"purpose": "research"})
    assert gauge is not None and 0 < gauge <= 1


async def test_metrics_endpoint_exposes_the_consent_rate(admin: httpx.AsyncClient) -> None:
    body = (await admin.get("/metrics")).text
    assert 'mindlake_consent_rate{purpose="ai_training"}' in body
