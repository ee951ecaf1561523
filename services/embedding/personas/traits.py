"""Each category's traits, summary, insights and data points, computed from its records.

Everything here follows from the records' fields (amounts, dates, merchants, platforms, ...);
nothing is guessed from outside them. A trait that no record supports stays empty, and the
persona's completeness counts the filled ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.embedding.personas.vocabulary import ENTERTAINMENT_SERVICES, POST_SECTIONS

Item = dict[str, Any]
LOW_MONTHLY_SPEND, HIGH_MONTHLY_SPEND = 750.0, 2500.0  # spendingHabits' bounds, any currency
RECURRING_TOLERANCE = 0.10  # charges within 10% of each other in different months: recurring
TOP = 5


@dataclass
class Built:
    traits: dict[str, Any]
    summary: str
    insights: list[str] = field(default_factory=list)
    data_points: list[str] = field(default_factory=list)


def _money(amount: float, currency: str | None) -> str:
    return f"{currency} {amount:,.2f}" if currency else f"{amount:,.2f}"


def _month(item: Item) -> str | None:
    date = item["entities"].get("date")
    return date[:7] if date else None


def _count(n: int, noun: str) -> str:
    """`1 record`, `2 records`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _top(counts: Mapping[str, float], n: int = TOP) -> list[str]:
    """The n largest, ties in the order first seen (as Counter.most_common)."""
    return sorted(counts, key=lambda name: -counts[name])[:n]


def _spending(items: list[Item]) -> list[tuple[Item, float]]:
    """Payments out, as positive amounts: negative amounts, or every non-income amount when a
    file lists purchases as positive numbers (no negative amount at all)."""
    amounts = [(i, float(i["entities"]["amount"])) for i in items if "amount" in i["entities"]]
    if any(a < 0 for _, a in amounts):
        return [(i, -a) for i, a in amounts if a < 0]
    return [(i, a) for i, a in amounts if not i["entities"].get("income")]


def _months(items: Iterable[Item]) -> list[str]:
    return sorted({m for i in items if (m := _month(i))})


def _currency(items: list[Item]) -> str | None:
    found = Counter(c for i in items if (c := i["entities"].get("currency")))
    return found.most_common(1)[0][0] if found else None


def _recurring(spend: list[tuple[Item, float]]) -> dict[str, float]:
    """Merchants charged in two or more months at about the same amount: their monthly charge."""
    charges: dict[str, dict[str, float]] = defaultdict(dict)
    for item, amount in spend:
        merchant, month = item["entities"].get("merchant"), _month(item)
        if merchant and month:
            charges[merchant][month] = charges[merchant].get(month, 0.0) + amount
    out = {}
    for merchant, by_month in charges.items():
        values = list(by_month.values())
        if len(values) >= 2 and max(values) - min(values) <= RECURRING_TOLERANCE * max(values):
            out[merchant] = round(sum(values) / len(values), 2)
    return out


def financial(items: list[Item]) -> Built:
    spend = _spending(items)
    currency = _currency(items)
    months = _months(i for i, _ in spend) or ["-"]
    total = sum(a for _, a in spend)
    monthly = round(total / len(months), 2) if spend else None
    by_merchant: defaultdict[str, float] = defaultdict(float)  # amounts spent
    for item, amount in spend:
        by_merchant[item["entities"].get("merchant", "unknown")] += amount
    recurring = _recurring(spend)
    incomes = [i for i in items if i["entities"].get("income")]
    income_sources = Counter(i["entities"].get("merchant", "unknown") for i in incomes)
    institutions = Counter(n for i in items for n in i["entities"].get("institutions", []))
    habits = None
    if monthly is not None:
        habits = (
            "Low"
            if monthly < LOW_MONTHLY_SPEND
            else "High"
            if monthly > HIGH_MONTHLY_SPEND
            else "Moderate"
        )
    traits: dict[str, Any] = {
        "spendingHabits": habits,
        "monthlySpend": monthly,
        "topMerchants": _top(by_merchant),
        "subscriptions": sorted(recurring),
        "financialServices": _top(institutions),
        "incomeSources": _top(income_sources),
    }
    insights, points = [], []
    if spend:
        top, top_total = max(by_merchant.items(), key=lambda kv: kv[1])
        insights.append(
            f"Spends most at {top}: {100 * top_total / total:.0f}% of spending "
            f"({_money(top_total, currency)})"
        )
        points.append(f"{len(spend)} payments from {months[0]} to {months[-1]}")
        points.append(f"Total spent {_money(total, currency)}")
        largest_item, largest = max(spend, key=lambda p: p[1])
        points.append(
            f"Largest payment {_money(largest, currency)} at "
            f"{largest_item['entities'].get('merchant', 'unknown')}"
        )
    if recurring:
        insights.append(
            f"{len(recurring)} recurring payments ({', '.join(sorted(recurring))}) come to "
            f"{_money(sum(recurring.values()), currency)} a month"
        )
    if len(months) >= 2 and spend:
        first = sum(a for i, a in spend if _month(i) == months[0])
        last = sum(a for i, a in spend if _month(i) == months[-1])
        if first:
            change = 100 * (last - first) / first
            way = "rose" if change >= 0 else "fell"
            insights.append(f"Spending {way} {abs(change):.0f}% from {months[0]} to {months[-1]}")
    if incomes:
        income = sum(float(i["entities"]["amount"]) for i in incomes)
        insights.append(
            f"Income from {', '.join(_top(income_sources, 3))}: {_money(income, currency)} in all"
        )
    summary = (
        f"{_count(len(spend), 'payment')} over {_count(len(months), 'month')}: about "
        f"{_money(monthly or 0, currency)} spent a month, most at {traits['topMerchants'][0]}."
        if spend
        else f"{_count(len(items), 'financial record')} without payments."
    )
    return Built(traits, summary, insights, points)


def _part_of_day(hour: int) -> str:
    return (
        "morning"
        if 5 <= hour < 12
        else "afternoon"
        if hour < 17
        else "evening"
        if hour < 22
        else "night"
    )


def social(items: list[Item]) -> Built:
    platforms = Counter(p for i in items for p in i["entities"].get("platforms", []))
    posts = [i for i in items if (i.get("section") or "") in POST_SECTIONS]
    counts = Counter[str]()
    for i in items:
        for name, value in i["entities"].get("counts", {}).items():
            counts[name] = max(counts[name], value)
    listed = Counter(
        i.get("section")
        for i in items
        if i.get("section") in ("friends", "followers", "connections")
    )
    connections = (
        counts.get("followers", 0) + counts.get("friends", 0) + counts.get("connections", 0)
    )
    connections = connections or sum(listed.values())
    times = Counter(
        _part_of_day(d.hour)
        for i in posts
        if (raw := i["entities"].get("date"))
        and (d := datetime.fromisoformat(raw))
        and (d.hour or d.minute)
    )
    interests = Counter(
        x
        for i in items
        for x in i["entities"].get("activities", []) + i["entities"].get("services", [])
    )
    traits: dict[str, Any] = {
        "platforms": _top(platforms),
        "postCount": len(posts),
        "connections": connections,
        "mostActiveTime": times.most_common(1)[0][0] if times else None,
        "interests": _top(interests),
    }
    insights, points = [], []
    if platforms:
        insights.append(f"Most active on {platforms.most_common(1)[0][0]}")
    if times:
        part, n = times.most_common(1)[0]
        insights.append(f"Posts mostly in the {part} ({n} of {sum(times.values())} posts)")
    if interests:
        insights.append(f"Posts mention {', '.join(_top(interests, 3))}")
    if posts:
        points.append(f"{len(posts)} posts")
    for name, value in sorted(counts.items()):
        points.append(f"{value} {name}")
    where = f" on {', '.join(traits['platforms'])}" if platforms else ""
    summary = f"{len(posts)} posts and {connections} connections{where}."
    return Built(traits, summary, insights, points)


def professional(items: list[Item]) -> Built:
    employers = Counter(e for i in items if (e := i["entities"].get("employer")))
    roles = Counter(r for i in items if (r := i["entities"].get("role")))
    skills = Counter(s for i in items for s in i["entities"].get("skills", []))
    networks = Counter(p for i in items for p in i["entities"].get("professional_platforms", []))
    traits: dict[str, Any] = {
        "employers": _top(employers),
        "roles": _top(roles),
        "skills": _top(skills, 10),
        "networks": _top(networks),
    }
    insights = []
    if employers:
        insights.append(f"Works or worked at {', '.join(_top(employers, 3))}")
    if roles:
        insights.append(f"Roles: {', '.join(_top(roles, 3))}")
    points = [_count(len(items), "work-related record")]
    summary = _count(len(items), "work-related record") + (
        f", most about {employers.most_common(1)[0][0]}." if employers else "."
    )
    return Built(traits, summary, insights, points)


def _spend_of(items: list[Item]) -> tuple[float | None, str | None]:
    spend = _spending(items)
    if not spend:
        return None, None
    months = _months(i for i, _ in spend) or ["-"]
    return round(sum(a for _, a in spend) / len(months), 2), _currency(items)


def entertainment(items: list[Item]) -> Built:
    services = Counter(s for i in items for s in i["entities"].get("services", []))
    media = Counter(
        ENTERTAINMENT_SERVICES[s] for s in services.elements() if s in ENTERTAINMENT_SERVICES
    )
    monthly, currency = _spend_of(items)
    traits: dict[str, Any] = {
        "services": _top(services),
        "mediaTypes": _top(media),
        "monthlySpend": monthly,
    }
    insights = []
    if services:
        insights.append(f"Uses {', '.join(_top(services, 3))}")
    if monthly is not None:
        insights.append(f"Spends about {_money(monthly, currency)} a month on entertainment")
    summary = _count(len(items), "entertainment record") + (
        f", mostly {media.most_common(1)[0][0]}." if media else "."
    )
    return Built(traits, summary, insights, [_count(len(items), "entertainment record")])


def health_wellbeing(items: list[Item]) -> Built:
    activities = Counter(a for i in items for a in i["entities"].get("activities", []))
    services = Counter(s for i in items for s in i["entities"].get("wellbeing_services", []))
    monthly, currency = _spend_of(items)
    traits: dict[str, Any] = {
        "activities": _top(activities),
        "services": _top(services),
        "monthlySpend": monthly,
    }
    insights = []
    if activities:
        top, n = activities.most_common(1)[0]
        insights.append(f"Mentions {top} most often ({_count(n, 'record')})")
    if services:
        insights.append(f"Uses {', '.join(_top(services, 3))}")
    if monthly is not None:
        insights.append(f"Spends about {_money(monthly, currency)} a month on wellbeing")
    summary = _count(len(items), "health and wellbeing record") + (
        f", most about {activities.most_common(1)[0][0]}." if activities else "."
    )
    return Built(traits, summary, insights, [_count(len(items), "health and wellbeing record")])


TRAIT_BUILDERS: dict[str, Callable[[list[Item]], Built]] = {
    "financial": financial,
    "social": social,
    "professional": professional,
    "entertainment": entertainment,
    "health_wellbeing": health_wellbeing,
}
