"""PIIScrubber: detect and anonymize identifiers in free text, one text or a batch.

Detection = structured recognizers (regex + checksum) + the user's own known identifiers
+ person names (spaCy NER checked and completed by a gazetteer, see `ner`); overlaps keep the
longest, then the highest score.
Nothing here logs a text, a finding's value or a known identifier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from libs.common.pii.findings import Finding, ScrubResult, resolve_overlaps
from libs.common.pii.known import find_known
from libs.common.pii.ner import NameFinder, NameRules, load_ner
from libs.common.pii.operators import apply, hmac_key
from libs.common.pii.recognizers import Detector, build_detectors
from libs.common.settings import CommonSettings, PIIMethod, get_settings

_EMPTY = ScrubResult("", ())


class PIIScrubber:
    """Loads spaCy once (slow); then `scrub_many` is the fast path for batches."""

    def __init__(
        self,
        settings: CommonSettings | None = None,
        *,
        ner: bool | None = None,
        name_rules: NameRules | None = None,
    ) -> None:
        self._settings = settings or get_settings()
        self._threshold = self._settings.pii_score_threshold
        self._method: PIIMethod = self._settings.pii_text_method
        self._key = hmac_key(self._settings)
        self._detectors: list[Detector] = build_detectors(self._settings.pii_custom_patterns)
        use_ner = self._settings.pii_ner_enabled if ner is None else ner
        self._names_finder = NameFinder(load_ner(), name_rules or NameRules()) if use_ner else None

    @property
    def ner_enabled(self) -> bool:
        return self._names_finder is not None

    def detect(self, text: str, known: Sequence[str] = ()) -> list[Finding]:
        """Findings in `text`, non-overlapping, sorted by start."""
        if not text:
            return []
        names = self._names([text])[0]
        return self._resolve(text, known, names)

    def scrub(
        self, text: str, *, known: Sequence[str] = (), method: PIIMethod | None = None
    ) -> ScrubResult:
        return self.scrub_many([text], known=[known], method=method)[0]

    def scrub_many(
        self,
        texts: Sequence[str],
        *,
        known: Sequence[Sequence[str]] | None = None,
        method: PIIMethod | None = None,
    ) -> list[ScrubResult]:
        """Scrub a batch: one spaCy `pipe` over the batch, everything else per text."""
        if known is not None and len(known) != len(texts):
            raise ValueError("known must hold one sequence of identifiers per text")
        how = method or self._method
        clean = [t if isinstance(t, str) else "" for t in texts]
        names = self._names(clean)
        out: list[ScrubResult] = []
        for i, text in enumerate(clean):
            if not text:
                out.append(_EMPTY)
                continue
            found = self._resolve(text, known[i] if known is not None else (), names[i])
            out.append(ScrubResult(apply(text, found, how, self._key), tuple(found)))
        return out

    def _names(self, texts: Sequence[str]) -> list[list[Finding]]:
        if self._names_finder is None:
            return [[] for _ in texts]
        # Equal texts ("ok", "thanks", templated replies) are parsed once per batch.
        unique = list(dict.fromkeys(texts))
        by_text = dict(zip(unique, self._names_finder.find(unique), strict=True))
        return [by_text[t] for t in texts]

    def _resolve(self, text: str, known: Sequence[str], names: Iterable[Finding]) -> list[Finding]:
        candidates = [f for d in self._detectors for f in d.find(text)]
        candidates.extend(names)
        candidates.extend(find_known(text, known))
        return resolve_overlaps(f for f in candidates if f.score >= self._threshold)


@lru_cache(maxsize=1)
def get_scrubber() -> PIIScrubber:
    """The process-wide scrubber, built from `get_settings()` on first use."""
    return PIIScrubber()
