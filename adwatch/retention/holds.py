"""What legal holds keep from purge, and what a new hold covers.

- ``ad``: the ads named (each with all its versions and the records they point to).
- ``phone``: every ad that carries the number when purge runs (so ads that come later are
  held too, until release) and the number's registry entry.
- ``search``: the ads the query matched when the hold was added (a recorded snapshot: the
  hold does not grow with later ads).
Alerts about a held ad or number are kept with it. A released hold keeps nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from index.query import SearchQuery
from index.store import Store

_PAGE = 500
MAX_SEARCH_HOLD = 10_000  # Elasticsearch's result window: a wider search is no case, refine it


@dataclass
class Held:
    ads: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    holds: int = 0


def held(store: Store) -> Held:
    """What the active holds keep now."""
    out = Held()
    for hold in store.holds(active=True):
        out.holds += 1
        out.ads.update(hold.get("ads") or [])
        if hold["kind"] == "phone":
            out.phones.add(hold["value"])
            out.ads.update(ad["id"] for ad in store.phone_ads(hold["value"]))
    return out


def search_snapshot(store: Store, query: SearchQuery) -> list[str]:
    """The ids of every ad ``query`` matches now (ValueError past ``MAX_SEARCH_HOLD``)."""
    store.refresh()
    ids: list[str] = []
    while True:
        page = store.search(dataclasses.replace(query, limit=_PAGE, offset=len(ids), facets=False, sort="newest"))
        if page.total > MAX_SEARCH_HOLD:
            raise ValueError(f"the search matches {page.total} ads, more than a hold takes ({MAX_SEARCH_HOLD}): "
                             "narrow it, or hold by --ad or --phone")
        ids += [hit["id"] for hit in page.hits]
        if not page.hits or len(ids) >= page.total:
            return sorted(set(ids))
