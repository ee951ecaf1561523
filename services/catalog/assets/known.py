"""What MindLake writes to the lake, kind by kind: where each kind of asset lives, what one
asset of it is, and what the catalog says of it (type, format, owner, consent purpose,
retention, tags).

An asset is a Delta table or a file set: the folder `root` plus `depth` more path parts
(`raw/tenants` with depth 2 makes `raw/tenants/<tenant>/<type>` one asset each). A path
that no kind claims is not an asset (the subject requests' working files, for instance).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from libs.common.contracts import ConsentPurpose
from libs.common.lake_tables import PULLED, QUARANTINE, RAW_EVENTS, TENANTS


class AssetType(StrEnum):  # the lakehouse document's DataAssetType
    STRUCTURED = "STRUCTURED"
    SEMI_STRUCTURED = "SEMI_STRUCTURED"
    UNSTRUCTURED = "UNSTRUCTURED"
    TIME_SERIES = "TIME_SERIES"
    GEOSPATIAL = "GEOSPATIAL"
    GRAPH = "GRAPH"


class StorageFormat(StrEnum):  # the document's Sled and WebM formats are declined (DESIGN.md)
    DELTA = "DELTA"
    PARQUET = "PARQUET"
    JSONL = "JSONL"
    JSON = "JSON"
    CSV = "CSV"
    SEALED = "SEALED"  # objects encrypted whole with the user's key
    BINARY = "BINARY"  # model artifacts and the like
    POSTGRESQL = "POSTGRESQL"


RAW_RETENTION = "compliance retention policy raw/events (by event date)"
DERIVED = "derived"  # the catalog's own: derived/<consent purpose>/<name>, a Delta table each
DERIVED_RETENTION = "kept until the erasure of a user it was computed from (transform/)"
NO_RETENTION = "kept until the user's erasure (no retention policy)"


@dataclass(frozen=True)
class Kind:
    root: str
    depth: int
    name: str  # of one asset; `{0}`, `{1}` are its path parts after the root
    description: str
    asset_type: AssetType
    storage_format: StorageFormat
    owner: str
    purpose: ConsentPurpose | None  # what a use of it needs consent for; None: each use's own
    retention: str
    tags: tuple[str, ...]

    def location_of(self, path: str) -> str | None:
        """The asset `path` belongs to, if this kind claims it."""
        path = path.strip("/")
        if path != self.root and not path.startswith(self.root + "/"):
            return None
        rest = path[len(self.root) :].strip("/").split("/") if path != self.root else []
        if self.depth == 0:
            return self.root
        if len(rest) <= self.depth:  # a file directly in the folder, not in an asset
            return None if len(rest) < self.depth else "/".join([self.root, *rest])
        return "/".join([self.root, *rest[: self.depth]])

    def name_of(self, location: str) -> str:
        parts = location[len(self.root) :].strip("/").split("/") if self.depth else []
        return self.name.format(*parts)


P = ConsentPurpose
T, F = AssetType, StorageFormat
KINDS: tuple[Kind, ...] = (
    Kind(RAW_EVENTS, 0, "raw events",
         "Every service's landed log events, PII-scrubbed, bodies encrypted per user; "
         "partitioned by service and event date", T.TIME_SERIES, F.DELTA, "ingest", None,
         RAW_RETENTION, ("raw", "events", "personal")),
    Kind(TENANTS, 2, "tenant {0}: {1}",
         "A tenant's CSV-uploaded rows of one data type", T.STRUCTURED, F.DELTA, "ingest",
         None, RAW_RETENTION, ("raw", "csv", "tenant")),
    Kind(PULLED, 1, "pulled: {0}",
         "Records a pull job fetched from an outside source", T.STRUCTURED, F.DELTA,
         "ingest", None, RAW_RETENTION, ("raw", "pulled")),
    Kind(QUARANTINE, 2, "quarantine {0}: {1}",
         "CSV rows that failed validation, kept as text with their reasons",
         T.STRUCTURED, F.PARQUET, "ingest", None, NO_RETENTION, ("raw", "quarantine")),
    Kind("processed/training-data", 0, "AI training exports",
         "Prompt/completion JSONL of consented chat turns, scrubbed, with manifests",
         T.SEMI_STRUCTURED, F.JSONL, "export", P.AI_TRAINING,
         "compliance retention policy processed/training-data", ("export", "training")),
    Kind("processed/recommender", 1, "recommender data: {0}",
         "A tenant's user/item features, sequences and training samples, by run",
         T.STRUCTURED, F.PARQUET, "export", P.PERSONALIZATION, NO_RETENTION,
         ("export", "recommender")),
    Kind("analytics/monthly_reports", 0, "monthly engagement reports",
         "Per-user engagement (by subject key) and service metrics, month by month",
         T.STRUCTURED, F.CSV, "export", P.ANALYTICS, NO_RETENTION, ("analytics",)),
    Kind("analytics/weekly_summaries", 0, "weekly summaries",
         "Aggregate counts per week, no per-user rows", T.SEMI_STRUCTURED, F.JSON, "export",
         P.ANALYTICS, NO_RETENTION, ("analytics", "aggregate")),
    Kind("analytics/compliance", 0, "compliance reports",
         "Daily compliance figures (requests, consent, retention), no per-user rows",
         T.SEMI_STRUCTURED, F.JSON, "compliance", None, NO_RETENTION, ("compliance",)),
    Kind("compliance/erasure-receipts", 0, "erasure receipts",
         "What each erasure removed, store by store, and its verification scan",
         T.SEMI_STRUCTURED, F.JSON, "compliance", None, NO_RETENTION, ("compliance",)),
    Kind("embeddings", 1, "embedding backups: {0}",
         "Daily backups of a model's Qdrant collections (vectors and payloads)",
         T.STRUCTURED, F.PARQUET, "embedding", P.PERSONALIZATION, NO_RETENTION,
         ("embedding", "backup")),
    Kind("personas", 0, "personas",
         "Users' own uploads, categorized records and personas, sealed with each user's key",
         T.UNSTRUCTURED, F.SEALED, "embedding", P.PERSONALIZATION, NO_RETENTION,
         ("embedding", "personas", "personal")),
    Kind("risk/features", 0, "risk features",
         "Daily mood, behaviour and sentiment features per user (by subject key)",
         T.TIME_SERIES, F.DELTA, "risk", P.RISK_ASSESSMENT, NO_RETENTION, ("risk",)),
    Kind("models/risk", 0, "risk models",
         "Risk model versions: the model, its features, metrics and training manifest",
         T.UNSTRUCTURED, F.BINARY, "risk", P.RISK_ASSESSMENT,
         "compliance retention policy models/model-versions", ("risk", "model")),
    Kind("backups/consent_records", 0, "consent backups",
         "Daily snapshots of the consent ledger (the legal record of consent)",
         T.SEMI_STRUCTURED, F.JSON, "consent", None, NO_RETENTION, ("consent", "backup")),
)  # fmt: skip
# Transformations' results, by the consent purpose they were made for (transform/).
DERIVED_PURPOSES: tuple[ConsentPurpose, ...] = (P.ANALYTICS, P.AI_TRAINING, P.RESEARCH)
KINDS += tuple(
    Kind(f"{DERIVED}/{p.value}", 1, f"derived for {p.value}: {{0}}",
         f"A transformation's result, for {p.value} use only", T.STRUCTURED, F.DELTA,
         "catalog", p, DERIVED_RETENTION, ("derived", p.value))
    for p in DERIVED_PURPOSES
)  # fmt: skip


def derived_location(purpose: ConsentPurpose, name: str) -> str:
    return f"{DERIVED}/{purpose.value}/{name}"


def kind_of(path: str) -> tuple[Kind, str] | None:
    """The kind and asset location that claim a lake path (the deepest root wins)."""
    for kind in sorted(KINDS, key=lambda k: -len(k.root)):
        location = kind.location_of(path)
        if location is not None:
            return kind, location
    return None
