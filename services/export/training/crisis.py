"""The crisis filter: a pair with a self-harm or suicide indicator on either side never enters
training data (it is counted; once the risk service exists, it is handed to it).

The lexicon lives in libs/common/crisis.py, shared with the risk service's features; this
module keeps the export's names.
"""

from __future__ import annotations

from libs.common.crisis import CRISIS_LIST_VERSION, PHRASES, has_indicator, is_crisis

__all__ = ["CRISIS_LIST_VERSION", "PHRASES", "has_indicator", "is_crisis"]
