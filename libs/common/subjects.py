"""The keyed hash that stands for a user in lake tables (`subject_key`).

Erasure deletes by it, so a Delta DELETE predicate never writes a user id into a table log.
In libs/common: every service finds a user's rows, keys and tombstone by it.
"""

from __future__ import annotations

import hashlib
import hmac

from libs.common.settings import CommonSettings


def subject_key(user_id: str, settings: CommonSettings) -> str:
    key = settings.pii_hmac_key.get_secret_value().encode()
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32]
