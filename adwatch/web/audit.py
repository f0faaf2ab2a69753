"""Every look at the data is written to the audit log before it is shown.

The log lives in the store (``index/store.py``'s ``AuditLog``). When the store cannot take
the entry, the request fails with 503: nothing is shown that is not logged.
"""

from __future__ import annotations

import logging
from typing import Any

from index.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)


class AuditUnavailable(RuntimeError):
    """The audit entry could not be written: the request is refused."""


def record(store: Store, user: str, action: str, params: dict[str, Any], result_count: int | None) -> None:
    try:
        store.audit_append(user, action, params, result_count)
    except StoreUnavailable as exc:
        logger.error("audit: %s by %s not logged (%s); the request is refused", action, user, exc)
        raise AuditUnavailable("the audit log cannot be written now; try again in a moment") from None
