"""What the CSV upload tests share: a CSV with one row per rule, the client whose ingest
settings point at the test's lake, and helpers to upload and to read what landed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from libs.common.lake import Lake

HEADER = "user_id,item_id,interaction_type,timestamp,rating,note\n"
# 12 data rows; row numbers count from the first line after the header
BAD_CSV = (
    HEADER
    + "u_1,i_1,view,2026-01-05T10:00:00Z,4.5,ok\n"  # 1 valid
    + "u_2,i_2,click,2026-01-05 11:00:00+00:00,,ok\n"  # 2 valid (no rating)
    + ",i_3,view,2026-01-05T10:00:00Z,,\n"  # 3 not_null user_id
    + "u_4,i_4,bogus,2026-01-05T10:00:00Z,,\n"  # 4 allowed_values
    + "u_5,i_5,like,not-a-time,,\n"  # 5 type timestamp
    + "u_6,i_6,like,2019-12-31T23:59:59Z,,\n"  # 6 timestamp_range (before the floor)
    + "u_7,i_7,like,2999-01-01T00:00:00Z,,\n"  # 7 timestamp_range (future)
    + "u_1,i_1,view,2026-01-05T10:00:00+00:00,4.5,again\n"  # 8 duplicate of row 1
    + "u_9,i_9,purchase,2026-01-06T00:00:00Z,abc,\n"  # 9 type rating
    + "u_10,i_10,dislike\n"  # 10 malformed (too few fields)
    + "u_11,i_11,purchase,2026-01-07T00:00:00Z,-1,\n"  # 11 min_value rating
    + "u_12,i_12,like,2026-01-07T00:00:00Z,1,\n"  # 12 valid
)


@pytest.fixture
async def csv_client(client: Any, lake_settings: Any) -> AsyncIterator[Any]:
    from services.ingest.main import app

    app.state.ingest_settings = lake_settings  # the endpoint's lake: this test's root
    yield client
    del app.state.ingest_settings


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


async def upload(
    client: Any, body: bytes | Any, tenant_id: str, data_type: str = "interactions"
) -> Any:
    return await client.post(
        "/internal/data/upload-csv",
        params={"tenant": tenant_id, "data_type": data_type},
        content=body,
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )


def landed(settings: Any, path: str) -> list[dict[str, Any]]:
    table = Lake(settings).delta_table(path)
    return [] if table is None else table.to_pyarrow_table().to_pylist()
