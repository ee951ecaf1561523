"""`.env.example`, generated from the settings classes: every `MINDLAKE_*` variable with its
default and its meaning (from docs/settings.md), grouped by the service that reads it.

`python -m scripts.env_example` rewrites the file; `--check` fails when it has drifted (CI's
tests/test_env_example.py checks the same). Every line is commented out, so a copy used as
`.env` changes nothing until a line is uncommented. Secrets show no value: set them from
your secret store, never in a file in the repository.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from libs.common.settings import CommonSettings
from services.catalog.config import CatalogSettings
from services.compliance.config import ComplianceSettings
from services.consent.config import ConsentSettings
from services.embedding.config import EmbeddingSettings
from services.export.config import ExportSettings
from services.ingest.config import IngestSettings
from services.risk.config import RiskSettings

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / ".env.example"
SERVICES: tuple[tuple[str, type[CommonSettings]], ...] = (
    ("ingest", IngestSettings), ("consent", ConsentSettings),
    ("compliance", ComplianceSettings), ("export", ExportSettings),
    ("embedding", EmbeddingSettings), ("risk", RiskSettings), ("catalog", CatalogSettings),
)  # fmt: skip
_ROW = re.compile(r"^\| `(MINDLAKE_[A-Z0-9_]+)` \| [^|]* \| (.*) \|$", re.M)


def meanings() -> dict[str, str]:
    page = (ROOT / "docs" / "settings.md").read_text()
    return {name: meaning.strip() for name, meaning in _ROW.findall(page)}


def env_value(value: Any) -> str:
    """A default as the environment variable spells it (pydantic-settings reads it back)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict | tuple):
        return json.dumps(value)
    return str(value)


def default_of(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.default is PydanticUndefined else field.default


def secret(field: FieldInfo, value: Any) -> bool:
    return isinstance(value, SecretStr) or "SecretStr" in str(field.annotation)


def _lines(fields: dict[str, FieldInfo], known: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for name, field in fields.items():
        variable = f"MINDLAKE_{name.upper()}"
        value = default_of(field)
        meaning = known.get(variable, "(see docs/settings.md)")
        if secret(field, value):
            lines += [f"# {meaning} (a secret: set it from your secret store)", f"# {variable}="]
        else:
            lines += [f"# {meaning}", f"# {variable}={env_value(value)}"]
    return lines


def render() -> str:
    known = meanings()
    out = ["# Every MindLake setting with its default (generated: python -m scripts.env_example).",
           "# Uncomment what you change; docs/settings.md explains each one.", "",
           "## Every service (libs/common/settings.py)",
           *_lines(CommonSettings.model_fields, known)]  # fmt: skip
    for service, settings in SERVICES:
        own = {
            n: f for n, f in settings.model_fields.items() if n not in CommonSettings.model_fields
        }
        out += ["", f"## {service} (services/{service}/config.py)", *_lines(own, known)]
    return "\n".join(out) + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if not TARGET.exists() or TARGET.read_text() != text:
            sys.exit(".env.example is out of date: run python -m scripts.env_example")
        return
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
