"""What the store knows of the ads a crawl's listing pages showed, looked up once per page.

The incremental middleware (``spiders/incremental.py``) asks the store for the states of
every ad on a listing page in one query; it keeps the states of the ads it lets through,
and dedupe (``pipelines/dedupe.py``) takes them from here instead of asking the store
again for each ad. One object per crawler, like the store itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from index.store import AdState


class StatesSource(Protocol):
    """The one thing asked of the store here (any Store is one)."""

    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]: ...


class AdStates:
    def __init__(self, store: StatesSource) -> None:
        self.store = store
        # Ad id → its stored state (None: not in the store), for ads requested but not yet deduped.
        self._pending: dict[str, AdState | None] = {}
        # Every ad id the listing pages showed (after a complete walk the rest are missing);
        # None while no incremental middleware walks the listings, so nothing counts as missing.
        self.listed: set[str] | None = None

    def fetch(self, ids: Iterable[str]) -> dict[str, AdState]:
        """The stored states of ``ids`` (absent: not stored), in one store query.
        Raises StoreUnavailable; then nothing is remembered and dedupe asks again itself."""
        wanted = list(dict.fromkeys(ids))
        return self.store.ad_states(wanted) if wanted else {}

    def remember(self, ad_id: str, state: AdState | None) -> None:
        """The state dedupe will need for an ad whose detail page is now requested."""
        self._pending[ad_id] = state

    def take(self, ad_id: str) -> tuple[bool, AdState | None]:
        """(known here, state): the state fetched with its listing page, forgotten once taken."""
        if ad_id in self._pending:
            return True, self._pending.pop(ad_id)
        return False, None


def ad_states_for_crawler(crawler: Any, store: StatesSource) -> AdStates:
    """The one AdStates of this crawler, shared by the middleware and dedupe."""
    states: AdStates | None = getattr(crawler, "_adwatch_ad_states", None)
    if states is None:
        states = AdStates(store)
        crawler._adwatch_ad_states = states
    return states
