"""The erasure registry is complete: every store has a handler, every handler a store, and
every Postgres table is claimed by a store or declared free of user data."""

from __future__ import annotations

import importlib
from types import ModuleType

from sqlalchemy import text

from libs.common.contracts import SubjectStore, step_task_for
from libs.common.db import get_engine

SERVICES = ("ingest", "consent", "compliance", "export", "embedding", "risk", "catalog")
# libs/common's tables: no user id in any of them (keyed hashes, sealed ids, key ids).
COMMON_NO_SUBJECT_DATA = (
    "common.api_keys",
    "common.data_keys",
    "common.subject_requests",
    "common.subject_request_steps",
    "consent.tombstones",
)


def stores_module(service: str) -> ModuleType:
    return importlib.import_module(f"services.{service}.subjects.stores")


def handlers() -> dict[str, object]:
    found: dict[str, object] = {}
    for service in SERVICES:
        module = stores_module(service)
        for store, handler in module.HANDLERS.items():
            assert store.split(".")[0] == service, f"{service} registers {store}"
            found[store] = handler
    return found


def test_every_store_has_a_handler_and_every_handler_a_store() -> None:
    assert set(handlers()) == {s.value for s in SubjectStore}


def test_step_tasks_exist_for_every_store() -> None:
    from celery import current_app

    for service in SERVICES:  # every task module each service's worker imports
        worker = importlib.import_module(f"services.{service}.worker")
        for name in worker.celery_app.conf.imports:
            importlib.import_module(name)
    for store in SubjectStore:
        assert step_task_for(store) in current_app.tasks


async def test_every_postgres_table_is_claimed_or_declared_free(database: str) -> None:
    claimed = {t for h in handlers().values() for t in h.tables}  # type: ignore[attr-defined]
    free = set(COMMON_NO_SUBJECT_DATA)
    for service in SERVICES:
        free |= set(stores_module(service).NO_SUBJECT_DATA)
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE'"
                " AND table_schema IN"
                " ('common', 'ingest', 'consent', 'compliance', 'export', 'embedding', 'risk',"
                " 'catalog')"
            )
        )
        tables = {r[0] for r in rows if not r[0].endswith(".alembic_version")}
    unclassified = sorted(tables - claimed - free)
    assert unclassified == [], (
        f"claim these in a store's `tables` or list them as free: {unclassified}"
    )
    assert not (claimed & free), "a table is both claimed and declared free"
