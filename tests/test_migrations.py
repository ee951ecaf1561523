"""Each schema's migrations produce exactly what its models declare."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from libs.common.audit import AuditOutboxRow  # noqa: F401  (its table in the metadata)
from libs.common.auth import ApiKeyRow
from libs.common.crypto import DataKeyRow  # noqa: F401
from libs.common.db import get_engine
from libs.common.subject_rights import SubjectRequestRow  # noqa: F401
from services.compliance.models import Base as ComplianceBase
from services.consent.models import Base as ConsentBase
from services.export.models import Base as ExportBase
from services.ingest.models import Base as IngestBase


@pytest.mark.parametrize(
    ("schema", "metadata"),
    [
        ("common", ApiKeyRow.metadata),
        ("ingest", IngestBase.metadata),
        ("compliance", ComplianceBase.metadata),
        ("consent", ConsentBase.metadata),
        ("export", ExportBase.metadata),
    ],
)
async def test_models_match_migrations(database: str, schema: str, metadata: MetaData) -> None:
    def diff(sync_conn: object) -> list[object]:
        context = MigrationContext.configure(
            sync_conn,  # type: ignore[arg-type]
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _: type_ != "schema" or name == schema,
                "version_table_schema": schema,
            },
        )
        return [
            d
            for d in compare_metadata(context, metadata)
            if not (
                isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version"
            )
        ]

    async with get_engine().connect() as conn:
        assert await conn.run_sync(diff) == []
