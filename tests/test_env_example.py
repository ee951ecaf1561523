"""`.env.example` cannot drift: it is what the settings classes generate, and every value it
shows, set as an environment variable, reads back as the class's own default."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from libs.common.settings import CommonSettings
from scripts.env_example import SERVICES, TARGET, render

LINE = re.compile(r"^# (MINDLAKE_[A-Z0-9_]+)=(.*)$", re.M)


def test_the_file_is_what_the_settings_generate() -> None:
    assert TARGET.read_text() == render(), "run python -m scripts.env_example"


def test_every_setting_is_in_it_once() -> None:
    names = [name for name, _ in LINE.findall(TARGET.read_text())]
    expected = {f"MINDLAKE_{f.upper()}" for _, cls in SERVICES for f in cls.model_fields}
    assert len(names) == len(set(names)) and set(names) == expected


@pytest.mark.parametrize(
    "cls", [CommonSettings, *(c for _, c in SERVICES)], ids=lambda c: c.__name__
)
def test_its_values_read_back_as_the_defaults(
    cls: type[CommonSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in LINE.findall(TARGET.read_text()):
        monkeypatch.delenv(name, raising=False)  # the test session's own settings
        if value:  # an empty value is a default of none, or a secret
            monkeypatch.setenv(name, value)
    read, default = cls(_env_file=None), cls.model_construct()
    for field in cls.model_fields:
        got, want = getattr(read, field), getattr(default, field)
        if isinstance(want, SecretStr):
            got, want = got.get_secret_value(), want.get_secret_value()
        assert got == want, field
