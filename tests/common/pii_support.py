"""What the PII tests share: their settings (a fixed key, a custom pattern) and a findings view."""

from __future__ import annotations

from pydantic import SecretStr

from libs.common.pii import Finding
from libs.common.settings import CommonSettings

KEY = "unit-test-key-one"


def make_settings(key: str = KEY) -> CommonSettings:
    return CommonSettings(
        environment="test",
        pii_hmac_key=SecretStr(key),
        pii_text_method="tag",
        pii_ner_enabled=True,
        pii_score_threshold=0.5,
        pii_custom_patterns={"employee_id": r"\bEMP-\d{5}\b"},
    )


def entities(found: list[Finding], text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in found]
