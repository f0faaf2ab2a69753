"""index/rules.py: the data rules both stores keep, each with cases that hold and cases that do not."""

from __future__ import annotations

import pytest

from index import rules
from index.rules import Presence, Sighting
from index.store import AdState

T1, T2, T3 = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"


def test_earliest_and_latest_skip_empty_values() -> None:
    assert rules.earliest(T2, None, T1, "") == T1 and rules.latest(None, T3, T1) == T3
    assert rules.earliest(None, "") is None and rules.latest() is None


def test_seen_date_is_posted_else_first_seen() -> None:
    assert rules.seen_date(T1, T2) == T1
    assert rules.seen_date(None, T2) == T2


# --- versions -------------------------------------------------------------------------------


def test_an_ad_never_seen_is_version_one_first_seen_now() -> None:
    assert rules.version_step(None, "h", T2) == ("new", 1, T2)


def test_the_same_content_again_is_unchanged_and_keeps_its_first_sighting() -> None:
    step = rules.version_step(AdState("h", 3, T1), "h", T2)
    assert step == ("unchanged", 3, T1)
    assert step.outcome != "changed" and step.version != 4


def test_new_content_is_the_next_version_first_seen_unmoved() -> None:
    assert rules.version_step(AdState("h", 3, T1), "h2", T3) == ("changed", 4, T1)
    # A state without a first sighting (an old row) takes this sighting.
    assert rules.version_step(AdState("h", 1, None), "h2", T3) == ("changed", 2, T3)


def test_a_store_keeps_the_earliest_first_sighting_and_the_highest_version() -> None:
    stored = AdState("h", 2, T2)
    # New content written without asking the store (spooled, store down): still the next version.
    assert rules.merge_version(stored, "h2", 1, T3) == (3, T2, True)
    # Dedupe already numbered it: that number stands.
    assert rules.merge_version(stored, "h2", 5, T1) == (5, T1, True)
    # The same content again: no new version, none lost.
    assert rules.merge_version(stored, "h", 1, T3) == (2, T2, False)
    assert rules.merge_version(AdState("h", 1, None), "h", None, None) == (1, None, False)


def test_latest_sightings_keep_each_ads_latest() -> None:
    assert rules.latest_sightings([("a", T2), ("b", T1), ("a", T1), ("a", T3)]) == {"a": T3, "b": T1}
    assert rules.latest_sightings([]) == {}


def test_last_seen_moves_only_forward_and_only_for_stored_ads() -> None:
    stored = {"a": T2, "b": T2, "c": None}
    assert rules.moved_forward(stored, {"a": T3, "b": T1, "c": T1, "x": T3}) == {"a": T3, "c": T1}
    assert rules.moved_forward(stored, {"b": T2}) == {}


# --- phone registry -------------------------------------------------------------------------------


def test_a_number_of_a_new_ad_is_first_seen_when_the_ad_was() -> None:
    assert rules.number_first_seen(T1, T3, ad_is_new=True) == T1


def test_a_number_an_edit_adds_is_first_seen_at_the_edit() -> None:
    assert rules.number_first_seen(T1, T3, ad_is_new=False) == T3
    assert rules.number_first_seen(T1, None, ad_is_new=False) == T1  # no later sighting: the first


def test_ad_sightings_one_per_distinct_number() -> None:
    ad = {"id": "s:1", "phones": ["+2", "+1", "+2"], "town": "Gävle", "county": "X", "first_seen_at": T1,
          "last_seen_at": T2}
    assert rules.ad_sightings(ad, ad_is_new=True) == [("+1", Sighting(T1, "Gävle", "s:1", "X")),
                                                      ("+2", Sighting(T1, "Gävle", "s:1", "X"))]
    assert rules.ad_sightings({"id": "s:2", "phones": None}, ad_is_new=True) == []


def test_the_earliest_sighting_wins_with_its_town_and_ad() -> None:
    early, late = Sighting(T1, "Gävle", "s:1", "G"), Sighting(T2, "Malmö", "s:2", "S")
    assert rules.first_sighting(late, early) == early
    assert rules.first_sighting(early, late) == early  # a later one changes nothing
    assert rules.first_sighting(None, late) == late
    assert rules.is_earlier(early, late) and not rules.is_earlier(late, early)


def test_on_a_tie_the_first_sighting_stays() -> None:
    held, same_time = Sighting(T1, "Gävle", "s:1", None), Sighting(T1, "Malmö", "s:2", None)
    assert rules.first_sighting(held, same_time) == held
    assert rules.earliest_sightings([("+1", held), ("+1", same_time)]) == {"+1": held}


def test_earliest_sightings_per_number() -> None:
    a, b, c = Sighting(T3, "A", "s:1", None), Sighting(T1, "B", "s:2", None), Sighting(T2, "C", "s:3", None)
    assert rules.earliest_sightings([("+1", a), ("+2", c), ("+1", b)]) == {"+1": b, "+2": c}


def test_an_entry_without_a_first_sighting_takes_any() -> None:
    assert rules.first_sighting(Sighting("", None, "s:0", None), Sighting(T3, "A", "s:1", None)).ad == "s:1"


# --- removals ------------------------------------------------------------------------------------


def test_a_listed_ad_is_present_again() -> None:
    assert rules.presence_after_crawl(Presence(2, T1), listed=True, seen_at=T3, after=2) == (0, None)
    assert rules.presence_after_crawl(Presence(0, None), listed=True, seen_at=T3, after=2) == (0, None)


def test_an_unlisted_ad_is_removed_after_enough_complete_crawls() -> None:
    once = rules.presence_after_crawl(Presence(0, None), listed=False, seen_at=T2, after=2)
    assert once == Presence(1, None) and not rules.removed_now(Presence(0, None), once)
    twice = rules.presence_after_crawl(once, listed=False, seen_at=T3, after=2)
    assert twice == Presence(2, T3) and rules.removed_now(once, twice)


def test_a_removed_ad_stays_removed_and_is_not_counted_again() -> None:
    gone = Presence(2, T2)
    assert rules.presence_after_crawl(gone, listed=False, seen_at=T3, after=2) == gone
    assert not rules.removed_now(gone, gone)


@pytest.mark.parametrize("after", [0, 1])
def test_after_below_one_still_needs_one_missed_crawl(after: int) -> None:
    assert rules.presence_after_crawl(Presence(0, None), listed=False, seen_at=T2, after=after) == (1, T2)


def test_presence_changes_write_only_what_changes_and_count_removals() -> None:
    stored = [("a", Presence(0, None)), ("b", Presence(1, None)), ("c", Presence(3, T1)), ("d", Presence(2, T1))]
    changes, removed = rules.presence_changes(stored, {"a", "d"}, T3, after=2)
    # a: listed and clean (no write); b: missed twice, removed; c: stays removed; d: listed again.
    assert changes == {"b": Presence(2, T3), "d": Presence(0, None)} and removed == 1
    assert rules.presence_changes(stored[:1], {"a"}, T3, after=2) == ({}, 0)


# --- crawl runs ------------------------------------------------------------------------------------


def test_run_fields_pass_known_names() -> None:
    fields = {"finished_at": T1, "status": "ok", "pages": 3, "stats": {"a": 1}}
    assert rules.run_fields(fields) == fields
    started = rules.new_run("s", T1)
    assert (started["source"], started["started_at"], started["status"], started["pages"]) == ("s", T1, "running", 0)
    assert set(started) - {"source", "started_at"} < rules.RUN_FIELDS and "finished_at" not in started
    assert rules.new_run("s", T1)["stats"] is not started["stats"]  # each run its own stats


def test_run_fields_refuse_unknown_names() -> None:
    with pytest.raises(ValueError, match="colour"):
        rules.run_fields({"status": "ok", "colour": "red"})


# --- availability ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_busy_or_failing_is_unavailable(status: int) -> None:
    assert rules.unavailable(status)


@pytest.mark.parametrize("status", [None, 200, 201, 400, 404, 409, 413, 499])
def test_a_refusal_of_the_data_is_not_unavailable(status: int | None) -> None:
    assert not rules.unavailable(status)
