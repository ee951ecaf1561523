"""Real Celery workers and the services' apps, all pointed at one lake, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKERS = {
    "ingest": "services.ingest.worker",
    "consent": "services.consent.worker",
    "compliance": "services.compliance.worker",
    "export": "services.export.worker",
    "embedding": "services.embedding.worker",
    "risk": "services.risk.worker",
    "catalog": "services.catalog.worker",
}


def lake_env(settings: object) -> dict[str, str]:
    """MINDLAKE_* variables naming the lake of `settings` (local folder or S3)."""
    env = {"MINDLAKE_LAKE_ROOT": settings.lake_root}  # type: ignore[attr-defined]
    endpoint = getattr(settings, "s3_endpoint_url", None)
    if endpoint:
        env |= {
            "MINDLAKE_S3_ENDPOINT_URL": endpoint,
            "MINDLAKE_S3_ACCESS_KEY_ID": "test",
            "MINDLAKE_S3_SECRET_ACCESS_KEY": "test",
            "MINDLAKE_S3_ALLOW_HTTP": "true",
        }
    return env


def clear_setting_caches() -> None:
    """Settings, lakes and engines are cached per process; forget them after an env change."""
    from libs.common import crypto, lake, settings
    from services.catalog import config as catalog_config
    from services.compliance import config as compliance_config
    from services.consent import config as consent_config
    from services.embedding import config as embedding_config
    from services.export import config as export_config
    from services.ingest import config as ingest_config
    from services.risk import config as risk_config

    for cached in (
        settings.get_settings,
        lake.get_lake,
        crypto.get_data_keys,
        ingest_config.get_ingest_settings,
        consent_config.get_consent_settings,
        compliance_config.get_compliance_settings,
        export_config.get_export_settings,
        embedding_config.get_embedding_settings,
        risk_config.get_risk_settings,
        catalog_config.get_catalog_settings,
    ):
        cached.cache_clear()


@contextmanager
def pointed_at(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    clear_setting_caches()
    try:
        yield
    finally:
        for name in env:
            monkeypatch.delenv(name, raising=False)
        clear_setting_caches()


def _command(name: str, log_dir: Path) -> list[str]:
    if name == "beat":  # the one beat of the platform (any service's app carries the schedule)
        return [
            sys.executable, "-m", "celery", "-A", WORKERS["ingest"], "beat", "--loglevel", "INFO",
            "-s", str(log_dir / "beat-schedule"),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "celery", "-A", WORKERS[name], "worker", "-Q", name,
        "--pool", "solo", "--loglevel", "INFO", "--without-heartbeat",
        "--without-gossip", "--without-mingle", "-n", f"{name}@%h",
    ]  # fmt: skip


@contextmanager
def workers(env: dict[str, str], log_dir: Path, *names: str) -> Iterator[dict[str, Path]]:
    """One solo-pool worker per service named, each consuming its own queue (and `beat`,
    the scheduler, when named)."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: dict[str, Path] = {}
    try:
        for name in names:
            logs[name] = log_dir / f"{name}.log"
            cmd = _command(name, log_dir)
            procs.append(
                subprocess.Popen(
                    cmd,
                    cwd=REPO,
                    env={**os.environ, **env, "MINDLAKE_METRICS_PORT": "0"},
                    stdout=logs[name].open("ab"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield logs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def tails(logs: dict[str, Path], chars: int = 2500) -> str:
    return "\n".join(f"--- {n}\n{p.read_text()[-chars:]}" for n, p in logs.items() if p.exists())
