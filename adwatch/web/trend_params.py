"""Trend parameters from a URL (the trends page and the trends API) → ``TrendQuery``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adwatch.web.params import BadParameter, Params
from index.trends import BYS, INTERVALS, METRICS, TrendQuery


@dataclass
class ParsedTrends:
    query: TrendQuery
    top: int
    form: dict[str, Any]


def parse_trends(params: Params, region: str) -> ParsedTrends:
    from adwatch.trends_cmd import build_trend_query

    form: dict[str, Any] = {
            "metric": str(params.get("metric") or "ads")[:20], "by": str(params.get("by") or "town")[:20],
            "interval": str(params.get("interval") or "week")[:20], "since": str(params.get("since") or "90d")[:40],
            "until": str(params.get("until") or "")[:40],
            "town": [str(t)[:100] for t in params.getlist("town") if str(t).strip()][:50],
            "top": str(params.get("top") or "20")[:6]}
    for name, allowed in (("metric", METRICS), ("by", BYS), ("interval", INTERVALS)):
        if form[name] not in allowed:
            raise BadParameter(name, f"{form[name]!r} is not one of {', '.join(allowed)}")
    if not (form["top"].isascii() and form["top"].isdigit()) or not 1 <= int(form["top"]) <= 200:
        raise BadParameter("top", "give a number of series from 1 to 200")
    try:
        query = build_trend_query(form["metric"], form["by"], form["interval"], form["since"] or None,
                                  form["until"] or None, form["town"], region)
    except ValueError as exc:
        name, _, reason = str(exc).partition(": ")
        raise BadParameter(name.lstrip("-") if reason else "trends", reason or str(exc)) from None
    return ParsedTrends(query, int(form["top"]), form)
