"""Each schema's migrations produce exactly what its models declare."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

import services.compliance.audit.models
import services.compliance.retention.models  # noqa: F401
from libs.common.audit import AuditOutboxRow  # noqa: F401  (its table in the metadata)
from libs.common.auth import ApiKeyRow
from libs.common.crypto import DataKeyRow  # noqa: F401
from libs.common.db import get_engine
from libs.common.subject_rights import SubjectRequestRow  # noqa: F401
from services.catalog.assets import models as _catalog_assets  # noqa: F401
from services.catalog.db import Base as CatalogBase
from services.catalog.lineage import models as _catalog_lineage  # noqa: F401
from services.catalog.transform import models as _catalog_transform  # noqa: F401
from services.compliance.db import Base as ComplianceBase
from services.consent.db import Base as ConsentBase
from services.consent.ledger import models as _consent_ledger  # noqa: F401
from services.embedding.db import Base as EmbeddingBase
from services.embedding.personas import models as _embedding_personas  # noqa: F401
from services.embedding.sync import models as _embedding_sync  # noqa: F401
from services.export.db import Base as ExportBase
from services.export.jobs import models as _export_jobs  # noqa: F401
from services.export.lineage import models as _export_lineage  # noqa: F401
from services.ingest.csv_upload import models as _csv_upload_models  # noqa: F401
from services.ingest.db import Base as IngestBase
from services.ingest.deadletters import models as _dead_letter_models  # noqa: F401
from services.ingest.outbox import models as _outbox_models  # noqa: F401
from services.ingest.pull import models as _pull_models  # noqa: F401
from services.ingest.quality import models as _quality_models  # noqa: F401
from services.risk import models as _risk_models  # noqa: F401
from services.risk.db import Base as RiskBase

SCHEMAS = [
    ("common", ApiKeyRow.metadata),
    ("ingest", IngestBase.metadata),
    ("compliance", ComplianceBase.metadata),
    ("consent", ConsentBase.metadata),
    ("export", ExportBase.metadata),
    ("embedding", EmbeddingBase.metadata),
    ("risk", RiskBase.metadata),
    ("catalog", CatalogBase.metadata),
]


@pytest.mark.parametrize(("schema", "metadata"), SCHEMAS)
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


@pytest.mark.parametrize(("schema", "metadata"), SCHEMAS)
async def test_check_constraints_have_the_models_names(
    database: str, schema: str, metadata: MetaData
) -> None:
    """compare_metadata does not compare check constraints: a name given in full to a
    convention that prefixes it again (`ck_t_ck_t_x`) would go unseen, and a later migration
    dropping the constraint by its model name would fail."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    declared = {
        (table.name, name)
        for table in metadata.tables.values()
        if table.schema == schema
        for name in re.findall(
            r"CONSTRAINT (\w+) CHECK", str(CreateTable(table).compile(dialect=dialect))
        )
    }
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT t.relname, c.conname FROM pg_constraint c"
                " JOIN pg_class t ON t.oid = c.conrelid"
                " JOIN pg_namespace n ON n.oid = t.relnamespace"
                " WHERE c.contype = 'c' AND n.nspname = :schema"
            ),
            {"schema": schema},
        )
        assert {(table, name) for table, name in rows} == declared
