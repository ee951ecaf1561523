"""Async SQLAlchemy: engine, a declarative base per service schema, the session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import lru_cache

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
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
