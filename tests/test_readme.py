"""The README documents every setting and the two commands."""

from __future__ import annotations

from pathlib import Path

from services.ingest.config import IngestSettings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"MINDLAKE_{name.upper()}"
        for name in IngestSettings.model_fields
        if f"`MINDLAKE_{name.upper()}`" not in README
    ]
    assert missing == []


def test_the_two_commands_are_there() -> None:
    assert "make demo" in README and "make test" in README
