"""The README and docs/ say what runs: every setting, the two commands, the generated field
table, links that resolve and module paths that exist.

`make docs` (mkdocs build --strict, in CI) is the full check of the site; these run in pytest.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from mindlake_client.config import _ENV_FIELDS

from scripts import field_table
from services.catalog.config import CatalogSettings
from services.compliance.config import ComplianceSettings
from services.consent.config import ConsentSettings
from services.embedding.config import EmbeddingSettings
from services.export.config import ExportSettings
from services.ingest.config import IngestSettings
from services.risk.config import RiskSettings

EVERY_SETTINGS = (
    IngestSettings,
    ComplianceSettings,
    ConsentSettings,
    ExportSettings,
    EmbeddingSettings,
    RiskSettings,
    CatalogSettings,
)

ROOT = Path(__file__).resolve().parents[1]
README_PATH = ROOT / "README.md"
DOCS = ROOT / "docs"
README = README_PATH.read_text()
PAGES = sorted(DOCS.rglob("*.md"))
SETTINGS_PAGE = (DOCS / "settings.md").read_text()
INGEST_PAGE = (DOCS / "ingest.md").read_text()
SERVICES = ("ingest", "consent", "compliance", "export", "embedding", "risk", "catalog")


def documents() -> list[Path]:
    return [README_PATH, *PAGES]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def setting_rows(page: str) -> dict[str, str]:
    """`MINDLAKE_X` -> its default, from the rows of the page's tables."""
    rows = re.findall(r"^\| `(MINDLAKE_[A-Z0-9_]+)` \| ([^|]*) \|", page, re.M)
    return {name: default.strip() for name, default in rows}


def test_every_setting_is_documented() -> None:
    documented = setting_rows(SETTINGS_PAGE)
    missing = [
        f"MINDLAKE_{name.upper()}"
        for settings in EVERY_SETTINGS
        for name in settings.model_fields
        if f"MINDLAKE_{name.upper()}" not in documented
    ]
    assert missing == []


def test_every_client_setting_is_documented() -> None:
    client = SETTINGS_PAGE.partition("## The Python client")[2]
    documented = setting_rows(client)
    names = ["url", "api_key", "spill_dir", *_ENV_FIELDS]
    missing = [f"MINDLAKE_{n.upper()}" for n in names if f"MINDLAKE_{n.upper()}" not in documented]
    assert missing == []


def test_every_documented_setting_exists() -> None:
    services, _, client = SETTINGS_PAGE.partition("## The Python client")
    read = {f"MINDLAKE_{n.upper()}" for settings in EVERY_SETTINGS for n in settings.model_fields}
    by_client = {f"MINDLAKE_{n.upper()}" for n in ["url", "api_key", "spill_dir", *_ENV_FIELDS]}
    assert [name for name in setting_rows(services) if name not in read] == []
    assert [name for name in setting_rows(client) if name not in by_client] == []


def test_every_documented_setting_has_a_default() -> None:
    rows = setting_rows(SETTINGS_PAGE)
    assert len(rows) > 100
    assert [name for name, default in rows.items() if not default] == []


def test_the_two_commands_are_there() -> None:
    assert "make demo" in README and "make test" in README


def test_the_readme_is_the_five_minute_entry() -> None:
    lines = README.count("\n")
    assert lines < 250, f"README.md has {lines} lines; move the reference into docs/"


def test_the_readme_starts_every_service() -> None:
    # tests/common/test_access_log.py runs the README's own uvicorn lines.
    for service in SERVICES:
        assert f".venv/bin/uvicorn services.{service}.main:app" in README
        assert f"celery -A services.{service}.worker worker -Q {service}" in README


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    assert [rel(p) for p in PAGES if f": {p.relative_to(DOCS)}\n" not in nav] == []


def test_the_field_table_is_the_one_generated_from_the_schemas() -> None:
    # Regenerate with `python -m scripts.field_table --write` after changing an entry type.
    assert field_table.START in INGEST_PAGE and field_table.END in INGEST_PAGE
    assert field_table.section(INGEST_PAGE) == field_table.render()


def test_the_field_table_names_each_entry_type_and_its_required_fields() -> None:
    table = field_table.render()
    for service in ("auth-service", "journal-service", "mood-service", "segment"):
        assert f"`{service}`" in table
    journal = next(line for line in table.splitlines() if "`journal-service`" in line)
    assert "| **text**: text ≤32,000 |" in journal and "mood_score: integer 1-10" in journal


FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text outside code blocks and inline code, where links are links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor Python-Markdown's toc (mkdocs) and GitHub give a heading."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(text: str) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+?)\s*#*$", FENCE.sub("", text), re.M)
    return {slug(h) for h in headings}


def broken_links(text: str, doc: Path) -> list[str]:
    """The relative links of `text`, read as the file `doc`, that lead nowhere."""
    broken = []
    for target in LINK.findall(prose(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve()
        if path and (not file.exists() or ROOT not in file.parents):
            broken.append(f"{target} (no such file in the repository)")
            continue
        if not anchor or (path and file.suffix != ".md"):
            continue
        if anchor not in anchors(file.read_text() if path else text):
            broken.append(f"{target} (no such heading)")
    return broken


def test_every_relative_link_resolves() -> None:
    broken = [f"{rel(d)}: {b}" for d in documents() for b in broken_links(d.read_text(), d)]
    assert broken == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("[ok](ingest.md#entries) [ok](#here) [ok](https://example.org/x)\n\n## Here", []),
        ("[file](no-such-page.md)", ["no-such-page.md (no such file in the repository)"]),
        ("[anchor](ingest.md#no-such-heading)", ["ingest.md#no-such-heading (no such heading)"]),
        ("[outside](../../README.md)", ["../../README.md (no such file in the repository)"]),
        ("`[code](nowhere.md)` and\n```\n[code](nowhere.md)\n```", []),
    ],
)
def test_the_link_check_catches_a_broken_link(text: str, found: list[str]) -> None:
    assert broken_links(text, DOCS / "probe.md") == found
    assert slug("Erasure and portability: the user's rights") == (
        "erasure-and-portability-the-users-rights"
    )


# `services/ingest/flush.py`, `libs/common/`, `tests/...`: a path in the repository.
FILE_PATH = re.compile(r"(?<![\w./-])((?:services|libs|tests|bench|scripts)/[\w./-]*\w)")
# `services.ingest.main:app`, `libs.common.consent`, `bench.audit`: a module (maybe a name in it).
DOTTED = re.compile(r"(?<![\w./-])((?:services|libs|bench|scripts)(?:\.[A-Za-z_]\w*)+)")


def module_exists(dotted: str) -> bool:
    """A package or module of the tree; a name after the module must occur in its source."""
    parts = dotted.split(".")
    here = ROOT
    for i, part in enumerate(parts):
        if (here / f"{part}.py").is_file():
            rest = parts[i + 1 :]
            source = (here / f"{part}.py").read_text()
            return not rest or re.search(rf"\b{re.escape(rest[0])}\b", source) is not None
        if not (here / part).is_dir():
            return False
        here = here / part
    return True


def stale_paths(text: str) -> list[str]:
    """The file paths and dotted modules `text` names that the tree does not have."""
    stale = [p for p in FILE_PATH.findall(text) if not (ROOT / p).exists()]
    stale += [m for m in DOTTED.findall(text) if not module_exists(m)]
    return sorted(set(stale))


def test_every_named_file_and_module_exists() -> None:
    # A module moved: fix the page (grep -rn 'old/path' README.md docs/), not this test.
    stale = [f"{rel(d)}: {s}" for d in documents() for s in stale_paths(d.read_text())]
    assert stale == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("`services/ingest/main.py`, `libs/common/`, `tests/test_readme.py::test_x`", []),
        ("`services/ingest/no_such_module.py`", ["services/ingest/no_such_module.py"]),
        ("`libs.common.contracts.TaskName`", []),
        ("`libs.common.contracts.NoSuchName`", ["libs.common.contracts.NoSuchName"]),
        ("`uvicorn services.ingest.main:app`", []),
        ("`services.ingest.nowhere`", ["services.ingest.nowhere"]),
        ("`python -m bench.audit`, `python -m scripts.field_table`", []),
        ("`python -m bench.nowhere`", ["bench.nowhere"]),
        ("`services/<service>/config.py`, `scripts/services.sh`, the services.", []),
    ],
)
def test_the_path_check_catches_a_stale_path(text: str, found: list[str]) -> None:
    assert stale_paths(text) == found
