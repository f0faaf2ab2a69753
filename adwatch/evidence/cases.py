"""What a case holds: the ads asked for (by id, by phone number or by a search), their earlier
versions, and every archived record they point to, each checked where it lies.

A record that is not there or no longer matches its digest is reported with the case (its
status ``missing`` / ``changed``), never a reason to stop: an export packages what it can and
says what it could not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from adwatch.evidence.refs import ArchivePlace, RecordRef, record_refs
from adwatch.evidence.verify import RefCheck, check_ref
from index.query import SearchQuery

# At most this many ads in one case file; a wider search is refused (narrow it), never cut silently.
CASE_MAX_ADS = 1000


_PAGING = ("limit", "offset", "facets", "sort")  # how a search is paged is not what was asked


class CaseError(ValueError):
    """What was asked for cannot make a case (one line, for the user)."""


@dataclass(frozen=True)
class Selector:
    """What was asked: ad ids, a phone number (E.164) or a search (its text and the query it became)."""

    ids: tuple[str, ...] = ()
    phone: str | None = None
    search: str | None = None
    query: SearchQuery | None = None

    def describe(self) -> dict[str, Any]:
        if self.phone is not None:
            return {"phone": self.phone}
        if self.search is not None:
            query = self.query.to_dict() if self.query is not None else {}
            shown = {k: v for k, v in query.items() if v not in (None, [], "") and k not in _PAGING}
            return {"search": self.search, "query": shown}
        return {"ads": list(self.ids)}


@dataclass
class VersionRecords:
    version: int | None
    replaced_at: str | None
    checks: list[RefCheck]


@dataclass
class CaseAd:
    ad: dict[str, Any]
    versions: list[dict[str, Any]]
    current: list[RefCheck]
    earlier: list[VersionRecords]

    def checks(self) -> Iterator[RefCheck]:
        yield from self.current
        for version in self.earlier:
            yield from version.checks


@dataclass
class Case:
    selector: Selector
    ads: list[CaseAd]
    not_found: list[str] = field(default_factory=list)

    def records(self) -> list[RefCheck]:
        """Every record of the case once (two ads or versions may share one), in archive order."""
        unique: dict[tuple[str, int], RefCheck] = {}
        for ad in self.ads:
            for check in ad.checks():
                unique.setdefault((check.ref.warc, check.ref.offset), check)
        return [unique[key] for key in sorted(unique)]

    def counts(self) -> dict[str, int]:
        records = self.records()
        return {"ads": len(self.ads), "versions": sum(len(a.versions) for a in self.ads),
                "records": len(records), "ok": sum(c.status == "ok" for c in records),
                "changed": sum(c.status == "changed" for c in records),
                "missing": sum(c.status == "missing" for c in records), "ads_not_found": len(self.not_found)}

    def problems(self) -> list[str]:
        lines = [f"no ad {ad_id!r}" for ad_id in self.not_found]
        lines += [f"{c.ref.warc}: record {c.ref.record_id} at offset {c.ref.offset} ({c.ref.type} of "
                  f"{c.ref.url}): {c.status}: {c.detail}" for c in self.records() if c.status != "ok"]
        return lines


def checked(place: ArchivePlace, evidence: dict[str, Any] | None, cache: dict[tuple[str, int], RefCheck]
            ) -> list[RefCheck]:
    """The records an ``evidence`` block points to, each checked once per case."""
    out: list[RefCheck] = []
    try:
        refs = list(record_refs(evidence))
    except (KeyError, TypeError, ValueError) as exc:  # a stored block that is not a reference
        broken = RecordRef("", 0, 0, "", "", "", "", "response")
        return [RefCheck(broken, "missing", f"the ad's evidence reference cannot be read ({exc})")]
    for ref in refs:
        key = (ref.warc, ref.offset)
        if key not in cache:
            cache[key] = check_ref(place, ref)
        found = cache[key]
        out.append(found if found.ref == ref else RefCheck(ref, found.status, found.detail))
    return out


def case_ad(store: Any, place: ArchivePlace, ad: dict[str, Any],
            cache: dict[tuple[str, int], RefCheck] | None = None) -> CaseAd:
    """One ad with its versions and their records (a version without ``evidence`` has none)."""
    seen = cache if cache is not None else {}
    versions = store.ad_versions(ad["id"])
    earlier = [VersionRecords(v.get("version"), v.get("replaced_at"), checked(place, v.get("evidence"), seen))
               for v in versions]
    return CaseAd(ad, versions, checked(place, ad.get("evidence"), seen), earlier)


def select_ads(store: Any, selector: Selector, max_ads: int = CASE_MAX_ADS) -> tuple[list[dict[str, Any]], list[str]]:
    """The ads asked for, and the ids asked for that no ad has."""
    if selector.phone is not None:
        ads = store.phone_ads(selector.phone)
    elif selector.query is not None:
        query = SearchQuery.from_dict(selector.query.to_dict() | {"limit": max_ads, "offset": 0, "facets": False})
        result = store.search(query)
        if result.total > max_ads:
            raise CaseError(f"the search finds {result.total} ads; a case holds at most {max_ads}: narrow it")
        ads = result.hits
    else:
        ads, missing = [], []
        for ad_id in dict.fromkeys(selector.ids):
            found = store.get_ad(ad_id)
            if found is None:
                missing.append(ad_id)
            else:
                ads.append(found)
        return ads, missing
    if len(ads) > max_ads:
        raise CaseError(f"{len(ads)} ads carry that number; a case holds at most {max_ads}")
    return ads, []


def build_case(store: Any, place: ArchivePlace, selector: Selector, max_ads: int = CASE_MAX_ADS) -> Case:
    ads, missing = select_ads(store, selector, max_ads)
    cache: dict[tuple[str, int], RefCheck] = {}
    # Search hits may be summaries: the case keeps each ad as stored.
    full = [store.get_ad(ad["id"]) or ad for ad in ads] if selector.query is not None else ads
    return Case(selector, [case_ad(store, place, ad, cache) for ad in full], missing)
