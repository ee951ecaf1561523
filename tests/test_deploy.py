"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the stack is
complete, every MINDLAKE_ variable is a real setting, and every command names code that
imports."""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from services.catalog.config import CatalogSettings
from services.compliance.config import ComplianceSettings
from services.consent.config import ConsentSettings
from services.embedding.config import EmbeddingSettings
from services.export.config import ExportSettings
from services.ingest.config import IngestSettings
from services.risk.config import RiskSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
APP_SERVICES = [
    "migrate",
    "ingest-api",
    "ingest-worker",
    "beat",
    "compliance-api",
    "compliance-worker",
    "consent-api",
    "consent-worker",
    "export-api",
    "export-worker",
    "embedding-api",
    "embedding-worker",
    "risk-api",
    "risk-worker",
    "catalog-api",
    "catalog-worker",
]
SETTINGS_FIELDS = {
    name
    for settings in (
        CommonSettings,
        IngestSettings,
        ConsentSettings,
        ComplianceSettings,
        ExportSettings,
        EmbeddingSettings,
        RiskSettings,
        CatalogSettings,
    )
    for name in settings.model_fields
}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set: the default (or a stand-in if required)."""
    value = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "a-long-random-secret-for-the-test", value)


def dockerfile_cmd() -> list[str]:
    match = re.search(r"^CMD (\[.*\])\s*$", DOCKERFILE.split(" AS embedding")[0], re.MULTILINE)
    assert match, "the Dockerfile has no exec-form CMD"
    cmd: list[str] = json.loads(match.group(1))
    return cmd


def app_commands() -> list[tuple[str, list[str]]]:
    found = [("Dockerfile CMD", dockerfile_cmd())]
    found += [(name, SERVICES[name]["command"]) for name in APP_SERVICES]
    return found


def test_the_stack_has_every_service() -> None:
    expected = {"postgres", "redis", "minio", "minio-init", "qdrant", *APP_SERVICES}
    assert expected <= set(SERVICES)
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"] == "redis:7"
    assert SERVICES["minio-init"]["image"].startswith("minio/mc")
    assert "mc mb" in " ".join(SERVICES["minio-init"]["entrypoint"])
    assert SERVICES["qdrant"]["image"].startswith("qdrant/qdrant:")


def test_the_embedding_service_runs_the_torch_image_against_the_qdrant_server() -> None:
    for name in ("embedding-api", "embedding-worker"):
        assert SERVICES[name]["build"] == {"context": ".", "target": "embedding"}, name
        assert SERVICES[name]["depends_on"]["qdrant"]["condition"] == "service_healthy"
        assert environment(SERVICES[name])["MINDLAKE_QDRANT_URL"] == "http://qdrant:6333"
    assert re.search(r"^FROM app AS embedding$", DOCKERFILE, re.MULTILINE)
    assert "torch==2.13.0" in DOCKERFILE


def test_app_services_start_after_migrations_and_the_bucket() -> None:
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("ingest-api", "ingest-worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["minio-init"]["condition"] == "service_completed_successfully", name
        assert SERVICES[name]["build"] == "."


def test_long_running_services_have_healthchecks() -> None:
    for name, service in SERVICES.items():
        if name not in ("migrate", "minio-init"):
            assert service.get("healthcheck", {}).get("test"), name


def test_every_mindlake_variable_is_a_settings_field() -> None:
    names = set(re.findall(r"\bMINDLAKE_[A-Z0-9_]+", COMPOSE_TEXT + DOCKERFILE))
    assert "MINDLAKE_LAKE_ROOT" in names
    unknown = {n for n in names if n.removeprefix("MINDLAKE_").lower() not in SETTINGS_FIELDS}
    assert not unknown, f"not settings fields: {sorted(unknown)}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment_loads_as_settings_pointing_at_minio(name: str) -> None:
    env = {
        k.removeprefix("MINDLAKE_").lower(): interpolate(v)
        for k, v in environment(SERVICES[name]).items()
        if k.startswith("MINDLAKE_")
    }
    settings = IngestSettings(**env)  # type: ignore[arg-type]
    assert settings.environment == "production"
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in settings.database_url
    assert settings.redis_url.startswith("redis://redis:6379")
    assert settings.s3_allow_http is True
    lake = Lake(settings)
    assert lake.is_s3 and lake.bucket == "mindlake"
    assert lake.storage_options["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_dockerfile_builds_the_project_on_python_311_slim() -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, re.MULTILINE)
    assert re.search(r"pip install[^\n]* -e \.", DOCKERFILE)
    for source in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", DOCKERFILE, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}: no such path"


@pytest.mark.parametrize(("where", "cmd"), app_commands(), ids=lambda v: str(v)[:40])
def test_commands_name_code_that_imports(where: str, cmd: list[str]) -> None:
    program = cmd[0]
    if program == "uvicorn":
        module, _, attr = cmd[1].partition(":")
        from fastapi import FastAPI

        assert isinstance(getattr(importlib.import_module(module), attr), FastAPI), where
    elif program == "celery":
        from celery import Celery

        found = vars(importlib.import_module(cmd[cmd.index("-A") + 1])).values()
        assert any(isinstance(v, Celery) for v in found), where
        assert cmd[cmd.index("-A") + 2] in ("worker", "beat")
    elif program == "mindlake":
        import typer

        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
        module, _, attr = scripts["mindlake"].partition(":")
        app = getattr(importlib.import_module(module), attr)
        group = typer.main.get_command(app)
        assert cmd[1] in group.commands, f"{where}: no `mindlake {cmd[1]}`"  # type: ignore[attr-defined]
    else:
        pytest.fail(f"{where}: unexpected program {program!r}")
