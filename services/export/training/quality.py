"""The quality score of a prompt/completion pair, as the source documents define it: a base
of 0.5 plus 0.1 for each criterion the pair meets (so 0.5 to 1.0):

- length appropriateness: a prompt of a few words or more and a completion long enough to say
  something (5 words) but not a wall of text (300 words);
- helpful language: the completion acknowledges, supports or offers a next step;
- avoids unhelpful responses: no refusals, "I don't know", or "as an AI" boilerplate;
- vocabulary diversity: the completion is not a word repeated over and over;
- mental-health appropriateness: nothing dismissive ("just get over it"), stigmatising
  ("crazy", "psycho") or clinical overreach (diagnosing, dosing) in the completion.

Each criterion is a small pure function on the already PII-scrubbed texts.
"""

from __future__ import annotations

import re

QUALITY_VERSION = "quality-1"  # in every manifest; bump on any change below
BASE = 0.5
STEP = 0.1

MIN_PROMPT_WORDS = 2
MIN_COMPLETION_WORDS = 5
MAX_COMPLETION_WORDS = 300
MIN_DIVERSITY_WORDS = 4
MIN_TYPE_TOKEN_RATIO = 0.5

_WORD = re.compile(r"[a-z0-9']+")

_HELPFUL = re.compile(
    r"\b(?:understand|hear you|i hear|sounds|makes sense|it'?s okay|it is okay|that'?s okay|"
    r"you'?re not alone|not alone|glad|thank you|thanks for|help|support|together|"
    r"would you like|shall we|let'?s|try|could|might|consider|what (?:felt|helped|happened|"
    r"feels)|how (?:are|long|do|does)|breath|breathe|common|valid|normal to)\b",
    re.IGNORECASE,
)
_UNHELPFUL = re.compile(
    r"\b(?:i don'?t know|no idea|i can'?t help|i cannot help|i'?m (?:not able|unable) to|"
    r"as an ai|as a language model|i'?m just a bot|i'?m sorry,? but i|not my problem|"
    r"whatever|error|try again later|lorem ipsum)\b",
    re.IGNORECASE,
)
_INAPPROPRIATE = re.compile(
    r"\b(?:just get over it|get over it|snap out of it|man up|stop (?:being|whining|crying)|"
    r"you'?re overreacting|all in your head|(?:you'?re|you are|sounds) (?:crazy|insane|nuts)|"
    r"psycho|lunatic|attention[- ]seeking|you (?:have|definitely have) (?:depression|bipolar|"
    r"adhd|ocd|ptsd|schizophrenia|an? (?:anxiety|personality) disorder)|i diagnose|"
    r"take \d+ ?(?:mg|pills?|tablets?))\b",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def length_appropriate(prompt: str, completion: str) -> bool:
    """A real question and an answer that is neither a grunt nor a wall of text."""
    n = len(words(completion))
    return (
        len(words(prompt)) >= MIN_PROMPT_WORDS and MIN_COMPLETION_WORDS <= n <= MAX_COMPLETION_WORDS
    )


def helpful_language(completion: str) -> bool:
    """The completion acknowledges, supports or offers a next step."""
    return _HELPFUL.search(completion) is not None


def avoids_unhelpful(completion: str) -> bool:
    """No refusal, shrug or assistant boilerplate in the completion."""
    return _UNHELPFUL.search(completion) is None


def vocabulary_diverse(completion: str) -> bool:
    """At least half the completion's words are distinct (and it has a few words)."""
    found = words(completion)
    if len(found) < MIN_DIVERSITY_WORDS:
        return False
    return len(set(found)) / len(found) >= MIN_TYPE_TOKEN_RATIO


def mental_health_appropriate(completion: str) -> bool:
    """Nothing dismissive, stigmatising, diagnosing or dosing in the completion."""
    return _INAPPROPRIATE.search(completion) is None


def score(prompt: str, completion: str) -> float:
    """0.5 plus 0.1 per criterion met, rounded to 2 places (so sums compare exactly)."""
    met = (
        length_appropriate(prompt, completion),
        helpful_language(completion),
        avoids_unhelpful(completion),
        vocabulary_diverse(completion),
        mental_health_appropriate(completion),
    )
    return round(BASE + STEP * sum(met), 2)
