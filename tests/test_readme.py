"""The README documents every setting and the two commands."""

from __future__ import annotations

from pathlib import Path

from services.compliance.config import ComplianceSettings
from services.consent.config import ConsentSettings
from services.export.config import ExportSettings
from services.ingest.config import IngestSettings

EVERY_SETTINGS = (IngestSettings, ComplianceSettings, ConsentSettings, ExportSettings)

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"MINDLAKE_{name.upper()}"
        for settings in EVERY_SETTINGS
        for name in settings.model_fields
        if f"`MINDLAKE_{name.upper()}`" not in README
    ]
    assert missing == []


def test_the_two_commands_are_there() -> None:
    assert "make demo" in README and "make test" in README
