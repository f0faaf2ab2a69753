"""Run the alert rules: on each batch the store stage writes (real time: ``alerts/realtime.py``,
run by ``alerts/extension.py``), or over a past period (``adwatch alerts evaluate --since 30d``).
Both store alerts once per key, so a replay never duplicates what real time raised, and then
deliver them.

"New" comes from the store: the numbers its write entered in the phone registry
(``WriteOutcome.new_phones``), decided atomically there. A source's first crawl is its
baseline when ``new_numbers.baseline_first_crawl`` is on: every number is new to an empty
index, and alerting on all of them would bury the ones that matter.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adwatch.output import visible
from alerts import rules
from alerts.delivery import DeliveryReport, Dispatcher
from alerts.model import alert, saved_search_key, with_channels
from alerts.notifiers import build_notifiers
from config.alerts_schema import (
    AlertsConfig,
    NewNumberInTown,
    NewNumberNearHighway,
    NumberMovesAlongHighway,
    SavedSearch,
    load_alerts,
)
from config.source_schema import SourceProblem
from geo.gazetteer import gazetteer
from geo.highways import Road, roads
from index.query import SearchQuery
from index.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)
_FINISHED = ("ok", "partial")
_REPLAY_PAGE = 500  # ads per search request when a saved search is replayed over a period
_REPLAY_MAX = 10_000  # Elasticsearch's result window: a saved search that broad is a search, not an alert
_IDS_PER_SEARCH = 1000  # ads of a batch per search request (a replayed spool may hold big batches)


def load_config(path: str | Path, region: str, highways: str | None = None,
                ) -> tuple[AlertsConfig, list[SourceProblem]]:
    """The alerts file, checked against the roads (built in, extended by ``highways``) and the
    towns and counties of ``region``'s gazetteer (``ADWATCH_DEFAULT_REGION``)."""
    places = gazetteer(region)
    return load_alerts(path, roads=set(roads(highways)), towns={t.name for t in places.towns},
                       counties={t.county for t in places.towns if t.county})


def _readable(value: str | None) -> datetime | None:
    """A stored timestamp, or None if it cannot be read (one bad ad must not stop the rules)."""
    try:
        return rules._moment(value) if value else None
    except ValueError:
        return None


class AlertEngine:
    def __init__(self, config: AlertsConfig, store: Store, road_map: dict[str, Road],
                 dispatcher: Dispatcher | None = None) -> None:
        self.config = config
        self.store = store
        self.roads = road_map
        self.dispatcher = dispatcher
        self._baselines: dict[str, str | None] = {}  # source → when its first crawl finished (once known)

    @classmethod
    def from_settings(cls, settings: Any, store: Store) -> AlertEngine | None:
        """None when there is no alerts file or no enabled rule; problems are logged, one line each.

        ``settings``: Scrapy Settings (or a dict) holding the settings config/settings.py declares."""
        if not settings["ADWATCH_ALERTS"]:  # "" turns alerts off
            return None
        path = Path(settings["ADWATCH_ALERTS"])
        if not path.is_file():
            return None
        highways = settings["ADWATCH_HIGHWAYS"] or None  # an empty value: the built-in roads only
        config, problems = load_config(path, settings["ADWATCH_DEFAULT_REGION"], highways)
        notifiers, more = build_notifiers(config, home=Path(settings["ADWATCH_HOME"]), config_file=path)
        for problem in problems + more:
            logger.error("alerts: %s", problem)
        if not config.active_rules():
            return None
        return cls(config, store, roads(highways), Dispatcher(store, notifiers, config))

    # --- when is a number new -------------------------------------------------------
    def in_baseline(self, source: str | None, seen: str | None) -> bool:
        """Whether a sighting at ``seen`` came in ``source``'s first crawl: no crawl of it had
        finished (ok or partial) before. Real time and replay ask the same question, so a
        spooled batch of a first crawl replayed days later stays in its baseline."""
        if not self.config.new_numbers.baseline_first_crawl or not source:
            return False
        end = self._baselines.get(source)
        if end is None:  # asked again until a crawl has finished: another may finish meanwhile
            end = self._baselines[source] = self.store.first_finished_run(source)
        # strictly before: the ads of a crawl are stamped up to the second it finishes
        return end is None or not seen or not end < seen

    def _returns(self, ads: list[dict[str, Any]], purged: str | None = None) -> list[tuple[dict[str, Any], str]]:
        """Ads with which a number came back after more than the look-back unseen: (ad, day).
        ``purged``: the last sighting among the number's ads that retention purged (its registry
        entry's ``purged_last_seen_at``): the look-back still counts from it (issue 15)."""
        days = self.config.new_numbers.lookback_days
        if not days:
            return []
        if purged:
            ads = [{"id": "", "first_seen_at": purged, "last_seen_at": purged}, *ads]
        gap = timedelta(days=days)
        dated = [(first, _readable(ad.get("last_seen_at")) or first, ad) for ad in ads
                 if (first := _readable(ad.get("first_seen_at"))) is not None]
        dated.sort(key=lambda d: (d[0], d[2]["id"]))
        found: list[tuple[dict[str, Any], str]] = []
        last: datetime | None = None
        for first, seen, ad in dated:
            if last is not None and first - last > gap and ad["id"]:  # "": the purged ads' sighting
                found.append((ad, ad["first_seen_at"][:10]))
            last = seen if last is None else max(last, seen)
        return found

    def _purged_sighting(self, phone: str) -> str | None:
        record = self.store.phone_record(phone)
        return str(record.get("purged_last_seen_at") or "") or None if record else None

    # --- rules ------------------------------------------------------------------------
    def _new_number(self, phone: str, ad: dict[str, Any], episode: str | None = None) -> list[dict[str, Any]]:
        found = []
        for name, rule in self.config.active_rules().items():
            record = None
            if isinstance(rule, NewNumberNearHighway):
                record = rules.new_number_near_highway(name, rule, phone, ad, self.roads, episode)
            elif isinstance(rule, NewNumberInTown):
                record = rules.new_number_in_town(name, rule, phone, ad, episode)
            if record is not None:
                found.append(record)
        return found

    def _moves(self, phone: str, ads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = []
        for name, rule in self.config.active_rules().items():
            if isinstance(rule, NumberMovesAlongHighway):
                found += rules.number_moves_along_highway(name, rule, phone, ads, self.roads)
        return found

    def _needs_history(self) -> bool:
        return bool(self.config.new_numbers.lookback_days) or any(
            isinstance(r, NumberMovesAlongHighway) for r in self.config.active_rules().values())

    def evaluate_written(self, ads: Sequence[dict[str, Any]],
                         new_phones: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
        """Alerts raised by one written batch. ``new_phones``: the numbers the write registered,
        each with the registry's first sighting (ad id, when): the same ad and time a replay
        reads from the registry, so both judge the same sighting."""
        batch = {ad["id"]: ad for ad in ads}
        found: list[dict[str, Any]] = []
        for phone, (ad_id, first_seen) in sorted(new_phones.items()):
            ad = batch.get(ad_id)
            if ad is not None and not self.in_baseline(ad.get("source"), first_seen):
                found += self._new_number(phone, ad)
        phones = sorted({phone for ad in ads for phone in ad.get("phones") or []})
        if self._needs_history() and phones:
            self.store.refresh()  # Elasticsearch: the batches of the last second, visible to phone_ads
            for phone in phones:
                # The store may not show this batch to searches yet (Elasticsearch): add it.
                history = {ad["id"]: ad for ad in self.store.phone_ads(phone)} | {
                    i: ad for i, ad in batch.items() if phone in (ad.get("phones") or [])}
                every = list(history.values())
                if phone not in new_phones:
                    for ad, day in self._returns(every, self._purged_sighting(phone)):
                        if ad["id"] in batch and not self.in_baseline(ad.get("source"), ad.get("first_seen_at")):
                            found += self._new_number(phone, ad, episode=day)
                found += self._moves(phone, every)
        if self._saved_rules() and batch:
            found += self._saved_search_alerts(ids=list(batch))
        return found

    def evaluate_since(self, since: str) -> list[dict[str, Any]]:
        """Every alert the rules raise for numbers first seen, or seen, since then."""
        found: list[dict[str, Any]] = []
        for entry in self.store.phones_first_seen(since):
            ad = self.store.get_ad(entry["first_ad"]) if entry.get("first_ad") else None
            if ad is not None and not self.in_baseline(ad.get("source"), entry["first_seen_at"]):
                found += self._new_number(entry["e164"], ad)
        if self._needs_history():
            for phone in self.store.phones_seen(since):
                history = self.store.phone_ads(phone)
                for ad, day in self._returns(history, self._purged_sighting(phone)):
                    if day >= since[:10] and not self.in_baseline(ad.get("source"), ad["first_seen_at"]):
                        found += self._new_number(phone, ad, episode=day)
                found += self._moves(phone, history)
        if self._saved_rules():
            found += self._saved_search_alerts(since=since)
        return found

    # --- saved searches -------------------------------------------------------------
    def _saved_rules(self) -> dict[str, SavedSearch]:
        return {name: rule for name, rule in self.config.active_rules().items() if isinstance(rule, SavedSearch)}

    def _saved_search_alerts(self, ids: list[str] | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """One alert per (rule, saved search, matching ad): among the ads ``ids`` (a written batch),
        or among the ads dated since ``since`` (replay; dated as search dates them: posted, else
        first seen). The key holds rule, search and ad, so real time and replay raise it once.
        A saved search that no longer parses, or whose search fails, is logged and skipped; a
        store that cannot answer (StoreUnavailable) stops the check so the batch is checked again."""
        rules_ = self._saved_rules()
        found: list[dict[str, Any]] = []
        searches = self.store.saved_searches()
        if searches:
            self.store.refresh()  # Elasticsearch: what was just written, visible to searches
        for saved in searches:
            try:
                hits = self._saved_hits(saved, ids, since)
            except StoreUnavailable:
                raise
            except Exception as exc:
                logger.error("alerts: saved search %s skipped: %s", _named(saved),
                             visible(" ".join(str(exc).split())[:300] or type(exc).__name__, layout=False))
                continue
            for ad in hits:
                for name, rule in rules_.items():
                    if float(ad.get("indicator_score") or 0) >= rule.min_score:
                        found.append(_saved_search_alert(name, saved, ad))
        return found

    def _saved_hits(self, saved: dict[str, Any], ids: list[str] | None, since: str | None) -> list[dict[str, Any]]:
        """The ads the saved search matches among those of the batch (``ids``) or since ``since``."""
        query = SearchQuery.from_dict(dict(saved.get("query") or {}))
        if ids is not None:
            allowed = set(query.ids)
            wanted = [i for i in ids if i in allowed] if allowed else ids
            found: list[dict[str, Any]] = []
            for start in range(0, len(wanted), _IDS_PER_SEARCH):
                chunk = wanted[start : start + _IDS_PER_SEARCH]
                found += self.store.search(dataclasses.replace(
                    query, ids=chunk, limit=len(chunk), offset=0, facets=False)).hits
            return found
        begin = rules._moment(since) if since else None
        own = query.since.replace(tzinfo=query.since.tzinfo or UTC) if query.since else None
        if begin is not None and (own is None or own < begin):
            query = dataclasses.replace(query, since=begin)
        hits: list[dict[str, Any]] = []
        while len(hits) < _REPLAY_MAX:  # every page: a replay over a month may match more than one holds
            page = self.store.search(dataclasses.replace(
                query, limit=min(_REPLAY_PAGE, _REPLAY_MAX - len(hits)), offset=len(hits), facets=False,
                sort="newest"))
            hits += page.hits
            if not page.hits or len(hits) >= page.total:
                return hits
        logger.error("alerts: saved search %s matches more than %d ads since %s; the newest %d are checked",
                     _named(saved), _REPLAY_MAX, since, _REPLAY_MAX)
        return hits

    # --- storing and sending -------------------------------------------------------
    def store_alerts(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store the ones not stored before (by key), each waiting for its rule's channels."""
        unique = list({record["key"]: record for record in found}.values())
        return self.store.add_alerts([with_channels(r, self.config.channels_of(r["rule"])) for r in unique])

    def deliver(self, records: list[dict[str, Any]], *, patient: bool) -> DeliveryReport:
        if self.dispatcher is None or not records:
            return DeliveryReport()
        return self.dispatcher.deliver(records, patient=patient)

    def on_written(self, ads: Sequence[dict[str, Any]],
                   new_phones: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
        """Real time: evaluate, store, and send at once (one attempt; failures wait for a retry)."""
        created = self.store_alerts(self.evaluate_written(ads, new_phones))
        self.deliver(created, patient=False)
        return created


def _saved_search_alert(rule: str, saved: dict[str, Any], ad: dict[str, Any]) -> dict[str, Any]:
    phones = ad.get("phones") or []
    return alert(rule, "saved_search", str(phones[0]) if phones else "", ad, town=ad.get("town"),
                 road=ad.get("road"), km=ad.get("road_km"), key=saved_search_key(rule, saved["id"], ad["id"]),
                 details={"search_id": saved["id"], "search_name": saved.get("name"), "owner": saved.get("owner"),
                          "first_seen": ad.get("first_seen_at"), "score": ad.get("indicator_score") or 0.0})


def _named(saved: dict[str, Any]) -> str:
    """A saved search in a log line: its id and owner (never the name: the analyst's text, maybe sensitive)."""
    return f"{saved.get('id')} ({visible(saved.get('owner'), layout=False)})"
