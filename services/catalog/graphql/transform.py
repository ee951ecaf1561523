"""`applyTransformation` over GraphQL: the lakehouse document's input, answered with the new
derived asset (transform/service.py does the work; its refusals are GraphQL errors)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from libs.common.db import get_engine
from libs.common.errors import NotFound
from libs.common.lake import get_lake
from services.catalog.config import get_catalog_settings
from services.catalog.graphql.types import DataAsset, asset_uuid
from services.catalog.transform import service
from services.catalog.transform.plan import TransformationType

TransformationTypeEnum = strawberry.enum(TransformationType, name="TransformationType")


@strawberry.input(description="One transformation of one asset (see docs/catalog.md)")
class TransformationInput:
    asset_id: strawberry.ID
    transformation_type: TransformationTypeEnum  # type: ignore[valid-type]
    parameters: JSON = strawberry.field(
        description='SQL: {"sql"}; FILTER: {"where": [{"column", "op", "value"}]}; '
        'COLUMN_RENAME: {"renames": {"old": "new"}}; each may name the result: {"name"}'
    )


async def apply_transformation(info: Info[Any, None], input: TransformationInput) -> DataAsset:
    source_id = asset_uuid(input.asset_id)
    await info.context.writer(f"catalog/assets/{source_id}")
    made = await service.apply(
        engine=get_engine(), lake=get_lake(), settings=get_catalog_settings(),
        source_id=source_id, kind=TransformationType(input.transformation_type),
        parameters=input.parameters, purpose=info.context.purpose,
    )  # fmt: skip
    row = await info.context.assets.load(made)
    if row is None:  # registered a moment ago; gone only if erased meanwhile
        raise NotFound("the derived asset is no longer in the catalog")
    return DataAsset.from_row(row)
