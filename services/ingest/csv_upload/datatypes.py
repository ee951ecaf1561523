"""The data types a tenant uploads and their columns (no heavy imports: the API loads this)."""

from __future__ import annotations

from dataclasses import dataclass

INTERACTION_TYPES = ("view", "click", "purchase", "like", "dislike")
RULES = (
    "malformed_row",
    "not_null",
    "type",
    "allowed_values",
    "timestamp_range",
    "min_value",
    "duplicate",
    "opaque_id",
)


@dataclass(frozen=True)
class DataType:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    key: tuple[str, ...]  # what makes two rows the same record
    timestamps: tuple[str, ...]
    numbers: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


# From the source design: interactions carry user_id, item_id, interaction_type, timestamp
# and rating; items are keyed by item_id (their other columns are ours). Other columns are
# ignored and named in the report: free text such as a `context` would need a PII scrub.
DATA_TYPES = {
    "interactions": DataType(
        name="interactions",
        required=("user_id", "item_id", "interaction_type", "timestamp"),
        optional=("rating",),
        key=("user_id", "item_id", "interaction_type", "timestamp"),
        timestamps=("timestamp",),
        numbers=("rating",),
    ),
    "items": DataType(
        name="items",
        required=("item_id", "category"),
        optional=("title", "price", "created_at"),
        key=("item_id",),
        timestamps=("created_at",),
        numbers=("price",),
    ),
}
