"""Ingest's admin reads of a user's data (dead letters) are put on the audit record."""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy import text

from libs.common.auth import Scope
from libs.common.db import get_engine
from services.ingest.deadletters import service as deadletter
from services.ingest.deadletters import tasks
from tests import factories
from tests.compliance.conftest import make_key


async def test_dead_letter_reads_are_audited(client: Any, clean_audit: None) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE ingest.dead_letters"))
    deadletter.scrub_trigger.enabled = False
    try:
        bad = {**factories.mood(), "score": 11}
        assert (await client.post("/v1/logs", json={"entries": [bad]})).status_code == 422
        await anyio.to_thread.run_sync(tasks.scrub_dead_letters)
        admin = {"Authorization": f"Bearer {await make_key([Scope.ADMIN])}"}
        items = (await client.get("/v1/dead-letters", headers=admin)).json()["items"]
        one = await client.get(f"/v1/dead-letters/{items[0]['id']}", headers=admin)
        assert one.status_code == 200
    finally:
        deadletter.scrub_trigger.enabled = True
    async with get_engine().connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT purpose, action, asset, subject FROM common.audit_outbox ORDER BY id")
            )
        ).all()
    asset = f"ingest.dead_letters/{items[0]['id']}"
    assert [tuple(r) for r in rows] == [("Admin", "Read", asset, bad["user_id"])] * 2
