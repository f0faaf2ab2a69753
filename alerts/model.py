"""An alert record: what every rule returns and every store keeps (``index.store.ALERT_FIELDS``)."""

from __future__ import annotations

import hashlib
from typing import Any

from adwatch.core.clock import now_iso
from adwatch.output import visible


def alert_key(rule: str, phone: str, extra: str | None = None, episode: str | None = None) -> str:
    """One alert per rule and number (and road, for moves); a number back after the look-back
    starts a new episode, named by the day it came back."""
    return "|".join([rule, phone, extra or "", episode or ""])


def alert_id(key: str) -> str:
    """Short, stable and the same in every store: a replay finds the alert it raised before."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]  # 64 bits: no clash in any realistic count


def saved_search_key(rule: str, search_id: str, ad_id: str) -> str:
    """One alert per saved search and ad, whatever number the ad shows (a new version of it may
    show another one): the number is not part of the key."""
    return "|".join([rule, f"saved:{search_id}", ad_id])


def alert(rule: str, kind: str, phone: str, ad: dict[str, Any], *, town: str | None, road: str | None,
          km: float | None, details: dict[str, Any], key_extra: str | None = None,
          episode: str | None = None, key: str | None = None) -> dict[str, Any]:
    """``key``: the alert's key when the rule has its own (``saved_search_key``); else it is
    made from the rule, the number, ``key_extra`` and the episode."""
    key = key or alert_key(rule, phone, key_extra, episode)
    return {
        "id": alert_id(key), "key": key, "rule": rule, "kind": kind, "phone": phone, "ad": ad.get("id"),
        "town": town, "road": road, "km": km, "created_at": now_iso(),
        "details": details | {"url": ad.get("url"), "source": ad.get("source")} | (
            {"episode": episode} if episode else {}),
        "deliveries": {}, "acked_at": None, "acked_by": None,
    }


def with_channels(record: dict[str, Any], channels: list[str]) -> dict[str, Any]:
    """The alert waiting for each of these channels."""
    return record | {"deliveries": {name: {"status": "pending", "attempts": 0} for name in channels}}


def summary_line(record: dict[str, Any]) -> str:
    """One line for logs, mail subjects and the terminal."""
    where = record.get("town") or "?"
    road = f" {record['road']} {record['km']:g} km" if record.get("road") and record.get("km") is not None else ""
    if record.get("kind") == "number_moves_along_highway":
        towns = " → ".join(t["town"] for t in record["details"].get("towns", []))
        return (f"[{record['rule']}] {record['phone']} moves along {record.get('road')} "
                f"({record['details'].get('direction')}): {towns}")
    if record.get("kind") == "saved_search":
        # The name is the analyst's own text: a log line or a mail subject is one line, nothing
        # in it may act on a terminal (controls and newlines shown as escapes).
        details = record.get("details") or {}
        name, owner, ad, town = (visible(value, layout=False) for value in (
            details.get("search_name"), details.get("owner"), record.get("ad"), where))
        return f"[{record['rule']}] saved search '{name}' ({owner}): new ad {ad} in {town}"
    return f"[{record['rule']}] new number {record['phone']} in {where}{road} (ad {record.get('ad')})"
