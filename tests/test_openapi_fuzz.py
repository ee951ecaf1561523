"""Bad input in CI: schemathesis against the OpenAPI of ingest, consent, compliance and export.

The cases live in tests/openapi_fuzz.py; this runs them in a child pytest so that the rows
random input creates (retention policies, consent, pull jobs, exports, queued tasks) land in a
database, a Redis db and a lake of their own, not in the ones this session's other tests read.
A failure shows schemathesis' report: the operation, the check, and a curl to reproduce it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUZZ_REDIS_DB = 15  # 2-13: test sessions (tests/conftest.py); 14: bench/


@pytest.mark.timeout(900)
def test_no_service_answers_5xx_or_off_its_schema(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)  # the child is a session of its own
    env.pop("MINDLAKE_DATABASE_URL", None)  # its conftest creates its own database
    env["MINDLAKE_REDIS_URL"] = f"redis://127.0.0.1:6379/{FUZZ_REDIS_DB}"
    env["MINDLAKE_LAKE_ROOT"] = f"file://{tmp_path / 'lake'}"
    env["MINDLAKE_QDRANT_PATH"] = str(tmp_path / "qdrant")
    env["HF_HUB_OFFLINE"] = "1"  # the search loads the local embedding model
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "hypothesis")  # its caches, not ./
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/openapi_fuzz.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=880,
    )
    assert child.returncode == 0, child.stdout[-30000:] + child.stderr[-5000:]


@pytest.mark.parametrize(
    "module", ["ingest", "consent", "compliance", "export", "embedding", "risk", "catalog"]
)
def test_every_operation_documents_its_problem_responses(module: str) -> None:
    """Each 4xx is problem+json (libs/common/errors.py), and the OpenAPI says so, so the fuzz
    above checks error bodies against a schema instead of FastAPI's unused 422 model."""
    app = __import__(f"services.{module}.main", fromlist=["app"]).app
    schema = app.openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            problem = operation["responses"]["4XX"]["content"]["application/problem+json"]
            assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path)
