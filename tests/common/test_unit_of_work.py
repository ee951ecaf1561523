"""libs.common.db.unit_of_work: one transaction at the boundary, after-commit actions after it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from libs.common.db import UnitOfWorkDep, get_engine, unit_of_work

INSERT = text("INSERT INTO uow_probe.rows (id) VALUES (:id)")
COUNT = text("SELECT count(*) FROM uow_probe.rows WHERE id = :id")


@pytest.fixture
async def probe_table(database: str) -> AsyncIterator[None]:
    async with get_engine().begin() as conn:
        await conn.execute(text("CREATE SCHEMA IF NOT EXISTS uow_probe"))
        await conn.execute(text("CREATE TABLE IF NOT EXISTS uow_probe.rows (id text PRIMARY KEY)"))
    yield
    async with get_engine().begin() as conn:
        await conn.execute(text("DROP SCHEMA uow_probe CASCADE"))


async def committed(row_id: str) -> int:
    """Seen from another connection: only what has committed."""
    async with get_engine().connect() as conn:
        return int(await conn.scalar(COUNT, {"id": row_id}) or 0)


async def test_after_commit_actions_run_once_the_row_is_committed(probe_table: None) -> None:
    row_id, seen = uuid.uuid4().hex, []

    async def send() -> None:  # a task sent here finds its row
        seen.append(await committed(row_id))

    async with unit_of_work() as uow:
        await uow.conn.execute(INSERT, {"id": row_id})
        uow.after_commit(send)
        uow.after_commit(lambda: seen.append(-1))  # plain functions too, in order
        assert await committed(row_id) == 0  # not before the block ends
    assert seen == [1, -1]


async def test_a_raising_block_rolls_back_and_runs_no_action(probe_table: None) -> None:
    row_id, seen = uuid.uuid4().hex, []
    with pytest.raises(RuntimeError, match="refused"):
        async with unit_of_work() as uow:
            await uow.conn.execute(INSERT, {"id": row_id})
            uow.after_commit(lambda: seen.append(1))
            raise RuntimeError("refused")
    assert seen == []
    assert await committed(row_id) == 0


async def test_the_endpoint_dependency_commits_before_the_response(probe_table: None) -> None:
    app = FastAPI()
    sent: list[int] = []

    @app.post("/rows/{row_id}", status_code=201)
    async def create(row_id: str, uow: UnitOfWorkDep) -> dict[str, str]:
        await uow.conn.execute(INSERT, {"id": row_id})
        uow.after_commit(lambda: sent.append(1))
        if row_id.startswith("bad"):
            raise ValueError("refused after the write")
        return {"id": row_id}

    at_response_start: list[int] = []

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":  # what the client can see now
                at_response_start.append(await committed(scope["path"].rsplit("/", 1)[1]))
            await send(message)

        await app(scope, receive, watch)

    transport = httpx.ASGITransport(app=watched, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        good, bad = uuid.uuid4().hex, "bad" + uuid.uuid4().hex
        assert (await client.post(f"/rows/{good}")).status_code == 201
        assert at_response_start == [1]  # committed before the 201 went out
        assert sent == [1]
        assert (await client.post(f"/rows/{bad}")).status_code == 500
        assert await committed(bad) == 0
        assert at_response_start == [1, 0]
        assert sent == [1]
