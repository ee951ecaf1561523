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


async def test_keys_are_limited_to_tenants_and_old_keys_reach_all(database: str) -> None:
    async with session_maker()() as session:
        limited_row, limited = await auth.create_key(
            session,
            name="acme-uploader",
            scopes=[auth.Scope.INGEST_WRITE],
            services=["journal-service"],
            tenants=["acme", "globex"],
        )
        _, unlimited = await auth.create_key(
            session, name="any", scopes=[auth.Scope.INGEST_WRITE], services=[]
        )
        _, admin = await auth.create_key(
            session, name="admin", scopes=[auth.Scope.ADMIN], services=[], tenants=["acme"]
        )
        # a row written without the column (code older than it, during a deploy) reaches all
        await session.execute(
            text(
                "INSERT INTO common.api_keys (key_id, name, secret_hash, scopes, services,"
                " created_at) VALUES ('oldkey', 'old', :h, '{ingest:write}', '{*}', now())"
            ),
            {"h": auth._hash("s3cret")},
        )
        await session.commit()
    assert limited_row.tenants == ["acme", "globex"]

    verifier = auth.KeyVerifier(ttl_s=0)
    principal = await verifier.verify(limited)
    assert principal is not None
    assert principal.may_use_tenant("acme") and principal.may_use_tenant("globex")
    assert not principal.may_use_tenant("initech")
    assert principal.may_write_for("journal-service")  # services and tenants are separate
    anyone = await verifier.verify(unlimited)
    assert anyone is not None and anyone.tenants == {"*"} and anyone.may_use_tenant("initech")
    boss = await verifier.verify(admin)
    assert boss is not None and boss.may_use_tenant("initech")  # admin: every tenant
    old = await verifier.verify("mlk_oldkey_s3cret")
    assert old is not None and old.tenants == {"*"} and old.may_use_tenant("initech")


@pytest.mark.parametrize("tenant", ["Acme", "acme/../x", "acme\n", "", "a" * 64])
async def test_tenant_names_are_checked_at_creation(database: str, tenant: str) -> None:
    async with session_maker()() as session:
        with pytest.raises(ServiceError, match="tenants must be"):
            await auth.create_key(
                session, name="x", scopes=[auth.Scope.INGEST_WRITE], services=[], tenants=[tenant]
            )


def test_cli_creates_a_tenant_limited_key(database: str) -> None:
    runner = CliRunner()
    args = ["keys", "create", "--name", "t", "--scope", "ingest:write", "--tenant", "acme"]
    created = runner.invoke(app, [*args, "--tenant", "globex"])
    assert created.exit_code == 0, created.output
    assert re.search(r"tenants\s+acme, globex", created.output)
    key_id = re.search(r"key id\s+([0-9a-f]{16})", created.output)
    assert key_id is not None
    listed = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})
    line = next(x for x in listed.output.splitlines() if key_id[1] in x)
    assert "acme, globex" in line
    bad = runner.invoke(
        app, ["keys", "create", "--name", "x", "--scope", "ingest:write", "--tenant", "No Such"]
    )
    assert bad.exit_code == 2 and "tenants must be" in bad.output
