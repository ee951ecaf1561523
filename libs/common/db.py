"""Async SQLAlchemy: engine, a declarative base per service schema, the unit of work.

Transactions are opened at the boundary, by an endpoint (`UnitOfWorkDep`) or a task
(`async with unit_of_work() as uow`), never inside a service function: services take
`uow.conn` and do not commit. What must happen only once the transaction has committed
(sending a task, invalidating a cache) is registered with `uow.after_commit`. Code that needs
several transactions of its own (the flush's exactly-once steps, a long job recording its
progress) says so where it opens them.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

from libs.common.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Each service owns one Postgres schema; its tables live in this metadata only."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


class CommonBase(DeclarativeBase):
    """Tables of libs/common (API keys) in the `common` schema."""

    metadata = schema_metadata("common")


@lru_cache
def get_engine(url: str | None = None) -> AsyncEngine:
    settings = get_settings()
    return create_async_engine(
        url or settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=0,  # overflow connections are closed on return: a connect per burst
        pool_pre_ping=False,  # asyncpg ping = BEGIN; SELECT; ROLLBACK: 3 round trips a checkout
    )


def one_shot_engine(url: str | None = None) -> AsyncEngine:
    """An unpooled engine for a command or task that runs its own event loop."""
    return create_async_engine(url or get_settings().database_url, poolclass=NullPool)


def session_maker(engine: AsyncEngine | None = None) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine or get_engine(), expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    """Request dependency: commits when the handler returns, rolls back when it raises."""
    async with session_maker()() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


class UnitOfWork:
    """One transaction at an endpoint's or a task's boundary, and what to run after it commits."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], object]] = []

    def after_commit(self, action: Callable[[], object]) -> None:
        """Run `action` (a function or a coroutine function) once the transaction has
        committed; never if it rolls back. Tasks are sent here, so a worker never looks for a
        row that is not committed yet."""
        self._after_commit.append(action)


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine | None = None) -> AsyncIterator[UnitOfWork]:
    """Commit when the block ends, roll back when it raises; then the after-commit actions."""
    async with (engine or get_engine()).begin() as conn:
        uow = UnitOfWork(conn)
        yield uow
    for action in uow._after_commit:
        result = action()
        if inspect.isawaitable(result):
            await result


async def _request_unit_of_work() -> AsyncIterator[UnitOfWork]:
    async with unit_of_work() as uow:
        yield uow


# scope="function": the transaction commits (and its after-commit actions run) before the
# response is sent, so a client that reads right after a 2xx sees what it wrote.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(_request_unit_of_work, scope="function")]
