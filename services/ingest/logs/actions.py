"""Entries with an `action` from a fixed set, and the other names producers give each action."""

from __future__ import annotations

import re
from typing import Any, ClassVar, get_args

from pydantic import model_validator

from services.ingest.logs.fields import EntryBase

# Namespaces a producer may put before an action ("user.login", "customer.subscription.created").
_NAMESPACES = frozenset(
    ["auth", "user", "users", "account", "customer", "billing", "payment", "stripe", "community"]
)


# Other names producers give each action ("service action: names"), Stripe's event names
# ("charge.refunded", "customer.subscription.deleted") among them.
_SYNONYMS = """
community post: posted post_created create_post new_post post_published
community comment: commented comment_created comment_added new_comment reply replied
community reaction: react reacted reaction_added like liked upvote upvoted
community report: reported flag flagged post_reported content_reported report_post
community report: report_comment
community join: joined group_joined join_group member_joined
community leave: left group_left leave_group member_left
auth signup: sign_up signed_up register registered registration user_created account_created
auth signup: create_account
auth login: log_in logged_in signin sign_in signed_in login_success login_succeeded
auth login: login_successful authenticated
auth logout: log_out logged_out signout sign_out signed_out
auth login_failed: login_failure failed_login login_error signin_failed sign_in_failed
auth login_failed: authentication_failed
auth password_reset: reset_password password_reset_requested password_reset_completed
auth password_reset: forgot_password
auth profile_update: profile_updated update_profile user_updated account_updated
auth profile_update: profile_changed
auth mfa: 2fa two_factor mfa_challenge mfa_verified mfa_enabled otp totp
payment charge: charged charge_succeeded payment_succeeded paid payment purchase purchased
payment charge: invoice_paid payment_intent_succeeded
payment refund: refunded charge_refunded refund_created refund_succeeded
payment subscription_start: subscription_started subscription_created subscribed
payment subscription_cancel: subscription_cancelled subscription_canceled subscription_deleted
payment subscription_cancel: subscription_ended unsubscribed
payment failed: payment_failed charge_failed declined payment_declined invoice_payment_failed
payment failed: payment_intent_payment_failed
"""


def action_names(actions: Any, service: str) -> dict[str, str]:
    """Each accepted spelling of an action of `service` (normalized) -> the action."""
    names = {name: name for name in get_args(actions)}
    for line in _SYNONYMS.strip().splitlines():
        head, _, aliases = line.partition(":")
        owner, _, action = head.partition(" ")
        if owner == service:
            names.update(dict.fromkeys(aliases.split(), action))
    return names


_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")


def action_of(value: Any, names: dict[str, str]) -> str | None:
    """The action a name means ("User.LoggedIn" -> "login"), or None when it means none."""
    if not isinstance(value, str):
        return None
    key = re.sub(r"[^a-z0-9]+", "_", _CAMEL_HUMP.sub("_", value).lower()).strip("_")
    while key not in names:
        head, _, rest = key.partition("_")
        if head not in _NAMESPACES or not rest:
            return None
        key = rest
    return names[key]


class ActionEntry(EntryBase):
    """An entry with an `action` from a fixed set: a synonym is taken for its action, and an
    entry without one takes it from an `event_type` that names one."""

    ACTIONS: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _action(cls, data: Any) -> Any:
        given = data.get("action") if isinstance(data, dict) else None
        if not isinstance(data, dict) or (
            isinstance(given, str) and cls.ACTIONS.get(given) == given
        ):
            return data
        action = action_of(data.get("event_type") if given is None else given, cls.ACTIONS)
        if action is None:
            return data  # required or not one of the set: the field's own error says so
        return cls._derived({**data, "action": action})

    @classmethod
    def _derived(cls, data: dict[str, Any]) -> dict[str, Any]:
        return data
