"""Labelled PII corpora and precision/recall scoring, shared by tests and bench (not runtime).

- `make_corpus` (templated.py): templated journal lines with Faker identifiers of every class;
- `make_realistic` (realistic.py): journal/chat/bot text with hard negatives and hand-written
  names;
- `evaluate`, `Report` (scoring.py): recall and precision per class of a scrubber's findings;
- `write_name_data` (names.py; import it from there, so `python -m` runs it cleanly):
  freezes Faker's name lists into `libs/common/pii/_name_data.py` for the gazetteer
  (`python -m bench.pii_eval.names --write-names`).

Faker is a dev dependency: it is imported only when a Faker corpus or the name data is made.
"""

from bench.pii_eval.realistic import make_realistic
from bench.pii_eval.scoring import CLASSES, STRUCTURED, Counts, Report, Sample, Span, evaluate
from bench.pii_eval.templated import make_corpus

__all__ = [
    "CLASSES",
    "STRUCTURED",
    "Counts",
    "Report",
    "Sample",
    "Span",
    "evaluate",
    "make_corpus",
    "make_realistic",
]
