"""The names and words the offline categorizer recognizes: platforms, services, institutions.

Matched case-insensitively on whole words of the scrubbed text. Each maps to its canonical name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

CATEGORIES = ("financial", "social", "professional", "entertainment", "health_wellbeing")
NAMES = {
    "financial": "Financial Profile",
    "social": "Social Profile",
    "professional": "Professional Profile",
    "entertainment": "Entertainment Profile",
    "health_wellbeing": "Health and Wellbeing Profile",
}
# What the local model compares each record with (one sentence of typical words per category).
DESCRIPTIONS = {
    "financial": "bank transaction, card payment, purchase, bill, salary, money spent, "
    "account balance, transfer, budget",
    "social": "social media post, photo caption, comment, likes, followers, friends, "
    "messages, sharing with people",
    "professional": "work, job title, employer, company, career, colleagues, meetings, "
    "skills, office, project, resume",
    "entertainment": "movies, music, streaming, TV series, video games, books, podcasts, "
    "concerts, watching and listening for fun",
    "health_wellbeing": "health, exercise, workout, running, sleep, meditation, therapy, "
    "fitness, diet, wellbeing, doctor",
}

SOCIAL_PLATFORMS = (
    "Facebook", "Instagram", "Twitter", "TikTok", "Snapchat", "Reddit", "Pinterest", "Tumblr",
    "Discord", "WhatsApp", "Telegram", "Mastodon", "Threads", "BeReal", "Bluesky", "WeChat",
)  # fmt: skip
PROFESSIONAL_PLATFORMS = ("LinkedIn", "Indeed", "Glassdoor", "Upwork", "Fiverr", "GitHub")
ENTERTAINMENT_SERVICES: Mapping[str, str] = {
    "Netflix": "video", "Disney+": "video", "Hulu": "video", "HBO Max": "video",
    "Prime Video": "video", "YouTube": "video", "Twitch": "video", "Spotify": "music",
    "Apple Music": "music", "Deezer": "music", "Tidal": "music", "SoundCloud": "music",
    "Steam": "gaming", "PlayStation": "gaming", "Xbox": "gaming", "Nintendo": "gaming",
    "Audible": "books", "Kindle": "books", "Cinema": "video", "Odeon": "video",
}  # fmt: skip
WELLBEING_SERVICES = (
    "Headspace", "Calm", "Strava", "Fitbit", "Peloton", "MyFitnessPal", "PureGym", "Gym",
    "Pharmacy", "Boots", "Yoga", "Pilates", "Therapy", "Physio", "Nike Run Club",
)  # fmt: skip
# Activities as word stems ("meditated", "runs", "hiking") with the name they are counted by.
WELLBEING_ACTIVITIES: Mapping[str, str] = {
    r"run(s|ning)?|jog\w*": "running", r"walk(s|ed|ing)?": "walking", r"yoga": "yoga",
    r"meditat\w*": "meditation", r"gym|workout\w*|work out": "gym", r"swim\w*": "swimming",
    r"cycl(e|ed|ing)|bike ride\w*": "cycling", r"hik(e|ed|es|ing)": "hiking",
    r"slept|sleep\w*": "sleep", r"therap\w*|counsell?ing": "therapy", r"pilates": "pilates",
    r"stretch\w*": "stretching",
}  # fmt: skip
FINANCIAL_INSTITUTIONS = (
    "Chase", "Amex", "American Express", "Visa", "Mastercard", "PayPal", "Venmo", "Barclays",
    "HSBC", "Monzo", "Revolut", "Wells Fargo", "Citi", "Capital One", "Lloyds", "NatWest",
    "Santander", "Klarna", "Wise", "Stripe", "Cash App", "Bank of America", "Starling",
)  # fmt: skip
INCOME_WORDS = re.compile(r"\b(salary|payroll|wages?|pay ?cheque|paycheck|income|refund)\b", re.I)
SOCIAL_SECTIONS = frozenset(
    {"posts", "comments", "likes", "friends", "followers", "following", "messages", "stories",
     "tweets", "statuses", "connections", "reactions", "photos"}
)  # fmt: skip
POST_SECTIONS = frozenset({"posts", "comments", "tweets", "statuses", "stories", "photos"})
PROFESSIONAL_SECTIONS = frozenset({"positions", "jobs", "experience", "skills", "education"})


def _pattern(names: tuple[str, ...] | list[str]) -> re.Pattern[str]:
    ordered = sorted(names, key=len, reverse=True)  # "American Express" before "Amex"
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in ordered) + r")(?!\w)", re.I)


_PATTERNS = {
    "social": _pattern(SOCIAL_PLATFORMS),
    "professional": _pattern(PROFESSIONAL_PLATFORMS),
    "entertainment": _pattern(list(ENTERTAINMENT_SERVICES)),
    "wellbeing_services": _pattern(WELLBEING_SERVICES),
    "financial": _pattern(FINANCIAL_INSTITUTIONS),
}
_CANONICAL = {
    n.lower(): n
    for group in (SOCIAL_PLATFORMS, PROFESSIONAL_PLATFORMS, WELLBEING_SERVICES,
                  FINANCIAL_INSTITUTIONS, tuple(ENTERTAINMENT_SERVICES))
    for n in group
}  # fmt: skip


_ACTIVITIES = [
    (re.compile(rf"\b({stem})\b", re.I), name) for stem, name in WELLBEING_ACTIVITIES.items()
]


def activities(text: str) -> list[str]:
    return [name for pattern, name in _ACTIVITIES if pattern.search(text)]


def named(group: str, text: str) -> list[str]:
    """The group's names found in the text, canonical, each once, in order of appearance."""
    found: dict[str, None] = {}
    for match in _PATTERNS[group].finditer(text):
        word = match.group(1)
        canonical = _CANONICAL.get(word.lower(), word.lower())
        # "Calm", "Chase", "Steam" are words too: a name only as written, or in a bank's capitals
        if word in (canonical, word.upper()):
            found[canonical] = None
    return list(found)
