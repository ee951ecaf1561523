"""A job's secrets (a Postgres DSN, HTTP headers), stored encrypted.

Each job has its own data key, stored wrapped by the master key's provider (libs/common/
crypto.py: the local master key or KMS) in `pull_jobs.secret_key`; the secret fields are
sealed with it (AES-256-GCM, the job's name as associated data, so sealed secrets cannot be
moved to another job's row) in `pull_jobs.secrets`. The `source` column holds only the
redacted form replies show. The worker unseals them for the run and nowhere else; they are
never logged.
"""

from __future__ import annotations

from typing import Any

import orjson

from libs.common.crypto import KeyProvider, new_key, seal, unseal

AAD = b"mindlake-pull-job:"  # + the job's name (fixed: it names the table)


class SecretsUnreadable(Exception):
    """The job's secrets cannot be decrypted (wrapped by another master key or provider)."""


def sealed_columns(
    secrets: dict[str, Any], *, job_name: str, provider: KeyProvider
) -> dict[str, bytes | None]:
    """`secret_key` and `secrets` of a job row: both None when the source has no secret."""
    if not secrets:
        return {"secret_key": None, "secrets": None}
    key = new_key()
    return {
        "secret_key": provider.wrap(key),
        "secrets": seal(key, orjson.dumps(secrets), AAD + job_name.encode()),
    }


def revealed_source(job: Any, *, provider: KeyProvider) -> dict[str, Any]:
    """The job's source with its secrets in clear, for the run (`job` is a pull_jobs row)."""
    source = dict(job["source"])
    if job["secrets"] is None or job["secret_key"] is None:
        return source
    try:
        key = provider.unwrap(bytes(job["secret_key"]))
        plain = unseal(key, bytes(job["secrets"]), AAD + str(job["name"]).encode())
    except Exception:  # the type only would say nothing more useful; never the values
        raise SecretsUnreadable from None
    source.update(orjson.loads(plain))
    return source
