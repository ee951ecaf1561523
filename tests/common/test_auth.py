from __future__ import annotations

import re

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from libs.common import auth
from libs.common.cli import app
from libs.common.db import get_engine, session_maker
from libs.common.errors import ServiceError


async def test_key_is_stored_hashed_and_verifies_until_revoked(database: str) -> None:
    async with session_maker()() as session:
        row, key = await auth.create_key(
            session, name="journal", scopes=[auth.Scope.INGEST_WRITE], services=["journal-service"]
        )
        await session.commit()
    secret = key.split("_", 2)[2]
    async with get_engine().connect() as conn:
        stored = (
            (
                await conn.execute(
                    text("SELECT * FROM common.api_keys WHERE key_id = :k"), {"k": row.key_id}
                )
            )
            .mappings()
            .one()
        )
    assert secret not in str(dict(stored))

    verifier = auth.KeyVerifier(ttl_s=0)
    principal = await verifier.verify(key)
    assert principal is not None and principal.may_write_for("journal-service")
    assert not principal.may_write_for("payment-service")
    assert await verifier.verify(key[:-2] + "xx") is None
    assert await verifier.verify("not-a-key") is None

    async with session_maker()() as session:
        await auth.revoke_key(session, row.key_id)
        await session.commit()
    assert await verifier.verify(key) is None


async def test_unknown_scope_is_refused(database: str) -> None:
    async with session_maker()() as session:
        with pytest.raises(ServiceError, match="unknown scopes"):
            await auth.create_key(session, name="x", scopes=["root"], services=[])


def test_cli_creates_lists_and_revokes(database: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--name",
            "cli-test",
            "--scope",
            "ingest:write",
            "--service",
            "mood-service",
            "--quiet",
        ],
    )
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    assert re.fullmatch(r"mlk_[0-9a-f]{16}_[\w-]+", key)
    key_id = key.split("_")[1]
    listed = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})
    assert key_id in listed.output and key.split("_", 2)[2] not in listed.output
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    again = runner.invoke(app, ["keys", "revoke", key_id])
    assert again.exit_code == 1 and "no active key" in again.output
    bad = runner.invoke(app, ["keys", "create", "--name", "x", "--scope", "everything"])
    assert bad.exit_code == 2 and "unknown scopes" in bad.output
