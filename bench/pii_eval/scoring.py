"""Labelled samples and precision/recall scoring: gold `Span`s of a `Sample`, `evaluate`.

Structured identifiers must be covered whole (a partial hit leaks digits); names only
overlapped. `Report.table()` prints recall and precision per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from libs.common.pii.findings import (
    CREDIT_CARD,
    EMAIL_ADDRESS,
    IBAN_CODE,
    IP_ADDRESS,
    MEDICAL_ID,
    PERSON,
    PHONE_NUMBER,
    URL,
    US_SSN,
    Finding,
)

STRUCTURED = (
    EMAIL_ADDRESS,
    PHONE_NUMBER,
    US_SSN,
    CREDIT_CARD,
    IBAN_CODE,
    IP_ADDRESS,
    URL,
    MEDICAL_ID,
)
CLASSES = (*STRUCTURED, PERSON)


@dataclass(frozen=True)
class Span:
    entity: str
    start: int
    end: int


@dataclass(frozen=True)
class Sample:
    text: str
    spans: tuple[Span, ...]


@dataclass
class Counts:
    gold: int = 0
    found: int = 0  # gold spans recalled
    predicted: int = 0
    correct: int = 0  # predictions that hit a gold span of their class

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


@dataclass
class Report:
    by_class: dict[str, Counts] = field(default_factory=dict)

    def total(self, classes: Sequence[str]) -> Counts:
        out = Counts()
        for c in classes:
            got = self.by_class.get(c, Counts())
            out.gold += got.gold
            out.found += got.found
            out.predicted += got.predicted
            out.correct += got.correct
        return out

    def table(self) -> str:
        rows = [f"{'class':<14}{'gold':>6}{'pred':>6}{'recall':>8}{'precision':>10}"]
        named = [(c, self.by_class.get(c, Counts())) for c in CLASSES]
        named.append(("STRUCTURED", self.total(STRUCTURED)))
        for name, c in named:
            rows.append(
                f"{name:<14}{c.gold:>6}{c.predicted:>6}{c.recall:>8.3f}{c.precision:>10.3f}"
            )
        return "\n".join(rows)


def evaluate(samples: Sequence[Sample], predicted: Sequence[Sequence[Finding]]) -> Report:
    """Structured spans must be covered whole (a partial hit leaks digits); names overlapped."""
    report = Report({c: Counts() for c in CLASSES})
    for sample, preds in zip(samples, predicted, strict=True):
        for g in sample.spans:
            c = report.by_class[g.entity]
            c.gold += 1
            if any(_hits(f, g) for f in preds if f.entity == g.entity):
                c.found += 1
        for f in preds:
            if f.entity not in report.by_class:
                continue
            c = report.by_class[f.entity]
            c.predicted += 1
            if any(f.entity == g.entity and _overlaps(f, g) for g in sample.spans):
                c.correct += 1
    return report


def _overlaps(f: Finding, g: Span) -> bool:
    return f.start < g.end and g.start < f.end


def _hits(f: Finding, g: Span) -> bool:
    if g.entity == PERSON:
        return _overlaps(f, g)
    return f.start <= g.start and f.end >= g.end
