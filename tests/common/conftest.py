"""The PII tests' scrubbers, built once per module (spaCy load, ~1-2 s)."""

from __future__ import annotations

import pytest

from libs.common.pii import PIIScrubber
from tests.common.pii_support import make_settings


@pytest.fixture(scope="module")
def scrubber() -> PIIScrubber:
    return PIIScrubber(make_settings())


@pytest.fixture(scope="module")
def regex_only() -> PIIScrubber:
    return PIIScrubber(make_settings(), ner=False)
