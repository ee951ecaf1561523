"""The verification scan searches Qdrant's local folder: a needle planted in a file there
(SQLite storage included) is found, a clean folder has no trace."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

from libs.common.settings import CommonSettings
from libs.common.subject_rights import Collected
from services.compliance.verification.needles import Matcher, needles_from
from services.compliance.verification.qdrant import scan_qdrant


def _setup(tmp_path: Path) -> tuple[Matcher, CommonSettings, str]:
    email = f"jane.{uuid.uuid4().hex[:8]}@example.org"
    needles = needles_from([Collected(identifiers=[email])], subject_key="k" * 64)
    settings = CommonSettings(qdrant_path=str(tmp_path / "qdrant"))
    (tmp_path / "qdrant" / "collection" / "mindlake_x_4").mkdir(parents=True)
    return Matcher(needles), settings, email


def test_a_needle_in_the_qdrant_folder_is_found(tmp_path: Path) -> None:
    matcher, settings, email = _setup(tmp_path)
    storage = tmp_path / "qdrant" / "collection" / "mindlake_x_4" / "storage.sqlite"
    with closing(sqlite3.connect(storage)) as conn:
        conn.execute("CREATE TABLE points (id TEXT, point BLOB)")
        conn.execute("INSERT INTO points VALUES ('1', ?)", (f'{{"note": "{email}"}}'.encode(),))
        conn.commit()
    report = scan_qdrant(matcher, settings)
    assert report.objects == 1
    assert [k.where for k, _ in report.traces] == ["qdrant:collection/mindlake_x_4/storage.sqlite"]
    assert email not in str(report.traces)


def test_a_clean_qdrant_folder_has_no_trace(tmp_path: Path) -> None:
    matcher, settings, _ = _setup(tmp_path)
    (tmp_path / "qdrant" / "meta.json").write_text('{"collections": {}}')
    report = scan_qdrant(matcher, settings)
    assert report.objects == 1 and report.traces == [] and report.errors == []
