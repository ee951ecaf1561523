"""An LLM-written supportive message (the openai client: OpenAI or any compatible endpoint at
`risk_openai_base_url`), checked before use; the curated template on any doubt.

What is sent: the level and up to three plain areas from a fixed vocabulary
(templates.areas_of). Never the user's text, id or scores. What comes back is accepted only
when it is within LENGTH_BOUNDS, uses none of DIAGNOSTIC_WORDS and, for high and critical,
already carries the crisis resources (checked by their numbers); otherwise, or on any error,
the template is used and FALLBACKS counts why (the reason only).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from prometheus_client import Counter

from services.risk.config import RiskSettings
from services.risk.interventions.templates import (
    CRISIS_RESOURCES,
    needs_resources,
    template_message,
)

log = structlog.get_logger(__name__)
FALLBACKS = Counter(
    "mindlake_risk_llm_fallbacks_total",
    "Intervention messages that fell back from the LLM to a template, by reason",
    ["reason"],
)
LENGTH_BOUNDS = (80, 900)  # characters; resources included
MAX_TOKENS = 300
# Words that diagnose, name a condition or give medical advice: any of them rejects a reply.
DIAGNOSTIC_WORDS: tuple[str, ...] = (
    r"diagnos\w*", r"disorder\w*", r"depress\w*", r"bipolar", r"schizo\w*", r"psychos\w*",
    r"psychotic", r"ptsd", r"adhd", r"ocd", r"anxiety attack\w*", r"illness\w*",
    r"condition\w*", r"symptom\w*", r"patholog\w*", r"medicat\w*", r"medicine\w*",
    r"prescri\w*", r"dos(e|es|age)", r"\d+\s?mg", r"antidepress\w*", r"therapy is",
    r"you have (a|an)\b", r"you are suffering", r"suffer(ing)? from", r"you are (mentally )?ill",
    r"at risk", r"risk score", r"suicidal",
)  # fmt: skip
_DIAGNOSTIC = re.compile(r"\b(" + "|".join(DIAGNOSTIC_WORDS) + r")\b", re.IGNORECASE)
# The numbers the resources must show: an emergency mention, 988 and the text line.
_REQUIRED_MARKERS = (re.compile(r"emergency", re.I), re.compile(r"\b988\b"), re.compile(r"741741"))

SYSTEM_PROMPT = """\
You write one short, warm message to a person using a mental-health journaling app. \
The app noticed that recent days may have been harder for them. Rules, all of them mandatory:
- Be supportive, kind and plain. Two to four sentences before any resources, under 90 words.
- Never diagnose. Never say or imply the person has, is or suffers from any condition, \
disorder or illness, and never name one. Never mention risk, scores, levels, models or data.
- Never give medical, medication or treatment advice.
- Gently encourage reaching out: someone they trust, their care team, or a crisis line.
- Do not ask for personal details. Do not promise outcomes. No emojis, no links.
- If told to include resources, end with exactly these lines, unchanged:
{resources}
Answer with the message only."""


def system_prompt() -> str:
    return SYSTEM_PROMPT.format(resources="\n".join(CRISIS_RESOURCES))


def user_prompt(level: str, areas: list[str]) -> str:
    tone = {
        "medium": "things may feel a bit heavier than usual",
        "high": "things may have been really difficult",
        "critical": "they may be struggling a lot right now; care about their safety",
    }[level]
    noticed = ", ".join(areas) if areas else "their recent check-ins"
    resources = "Include the resources." if needs_resources(level) else "No resources needed."
    return f"Situation: {tone}. What changed (say it in general words): {noticed}. {resources}"


def rejection(text: str, level: str) -> str | None:
    """Why a reply cannot be used (a fixed reason), or None when it can."""
    if not text.strip():
        return "empty"
    if len(text) < LENGTH_BOUNDS[0]:
        return "too_short"
    if len(text) > LENGTH_BOUNDS[1]:
        return "too_long"
    if _DIAGNOSTIC.search(text):
        return "diagnostic"
    if needs_resources(level) and not all(m.search(text) for m in _REQUIRED_MARKERS):
        return "missing_resources"
    return None


def client_for(settings: RiskSettings) -> Any:
    from openai import AsyncOpenAI

    assert settings.risk_openai_api_key is not None
    return AsyncOpenAI(
        api_key=settings.risk_openai_api_key.get_secret_value(),
        base_url=settings.risk_openai_base_url,
        timeout=settings.risk_openai_timeout_s,
        max_retries=0,  # a template now beats a message late
    )


async def generate(settings: RiskSettings, level: str, areas: list[str]) -> str:
    """The model's reply text (unchecked); raises on any API error."""
    client = client_for(settings)
    try:
        reply = await client.chat.completions.create(
            model=settings.risk_openai_model,
            messages=[
                {"role": "system", "content": system_prompt()},
                {"role": "user", "content": user_prompt(level, areas)},
            ],
            max_tokens=MAX_TOKENS,
            temperature=0.4,
        )
    finally:
        await client.close()
    return str(reply.choices[0].message.content or "").strip()


async def compose(
    settings: RiskSettings, level: str, areas: list[str], intervention_id: uuid.UUID
) -> tuple[str, str]:
    """(message, source): the LLM's when configured and accepted, else the template's."""
    if settings.risk_openai_api_key is None:
        return template_message(level, intervention_id), "template"
    try:
        text = await generate(settings, level, areas)
    except Exception as exc:  # any failure: the user still gets a reviewed message
        FALLBACKS.labels("error").inc()
        log.warning("risk_llm_failed", error_type=type(exc).__name__)
        return template_message(level, intervention_id), "template"
    reason = rejection(text, level)
    if reason is not None:
        FALLBACKS.labels(reason).inc()
        log.info("risk_llm_rejected", reason=reason)
        return template_message(level, intervention_id), "template"
    return text, "llm"
