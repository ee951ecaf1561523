"""Handing out export files: a presigned GET URL on an S3 lake, a stream on a local one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import boto3
import pyarrow as pa
from botocore.config import Config

from libs.common.lake import Lake

CHUNK = 1 << 20


def presigned_url(lake: Lake, path: str, ttl_s: int) -> str:
    """A GET URL for `path` that works `ttl_s` seconds, signed with the lake's credentials
    (and pointing at its endpoint, e.g. MinIO)."""
    s = lake.settings
    client = boto3.client(
        "s3",
        endpoint_url=s.s3_endpoint_url,
        region_name=s.s3_region,
        aws_access_key_id=s.s3_access_key_id.get_secret_value() if s.s3_access_key_id else None,
        aws_secret_access_key=(
            s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None
        ),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    key = f"{lake.prefix}/{path}" if lake.prefix else path
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": lake.bucket, "Key": key}, ExpiresIn=ttl_s
    )
    return url


async def stream(source: pa.NativeFile) -> AsyncIterator[bytes]:
    """An opened lake file in chunks, closed at the end."""
    try:
        while chunk := await anyio.to_thread.run_sync(source.read, CHUNK):
            yield chunk
    finally:
        source.close()


def media_type(name: str) -> str:
    if name.endswith(".gz"):
        return "application/gzip"
    if name.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    return "application/json"
