"""The README documents every setting and the two commands."""

from __future__ import annotations

from pathlib import Path

from scripts import field_table
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


def test_the_field_table_is_the_one_generated_from_the_schemas() -> None:
    # Regenerate with `python -m scripts.field_table --write` after changing an entry type.
    assert field_table.START in README and field_table.END in README
    assert field_table.section(README) == field_table.render()


def test_the_field_table_names_each_entry_type_and_its_required_fields() -> None:
    table = field_table.render()
    for service in ("auth-service", "journal-service", "mood-service", "segment"):
        assert f"`{service}`" in table
    journal = next(line for line in table.splitlines() if "`journal-service`" in line)
    assert "| **text**: text ≤32,000 |" in journal and "mood_score: integer 1-10" in journal
