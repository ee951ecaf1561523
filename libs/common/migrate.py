"""Alembic per service schema: each owner has a `migrations/` folder and its own version table.

`run_env` is the body of every migrations/env.py; `upgrade_all` applies every folder found
(libs/common first, then services/*), which is what `mindlake migrate` runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from libs.common.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def migration_folders() -> list[Path]:
    folders = [REPO_ROOT / "libs" / "common" / "migrations"]
    folders += sorted(p for p in (REPO_ROOT / "services").glob("*/migrations") if p.is_dir())
    return folders


def alembic_config(folder: Path, database_url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("sqlalchemy.url", database_url or get_settings().database_url)
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d-%%(slug)s")
    return cfg


def upgrade_all(database_url: str | None = None) -> list[str]:
    done = []
    for folder in migration_folders():
        # "heads": features may branch from the same revision; all are applied.
        command.upgrade(alembic_config(folder, database_url), "heads")
        done.append(folder.parent.name)
    return done


def run_env(metadata: MetaData, schema: str) -> None:
    """Run the migrations of one schema, online, through asyncpg."""
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table="alembic_version",
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.begin() as conn:
            # Two processes migrating at once wait for each other instead of colliding.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('mindlake-migrate'))"))
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())
