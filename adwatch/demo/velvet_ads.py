"""The ads of Velvet, the demo world's JavaScript classifieds (served by ``jssite.py``).

Derived from the same generator as sites A and B with another seed, so Velvet shares their
towns and, through the same fiction number pool, many of their numbers: a number can be
followed from a static site to a browser-rendered one. A few ads carry hostile text.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date

from adwatch.demo.generator import (
    OBFUSCATED_STYLES,
    PLAIN_STYLES,
    DemoAd,
    _fmt,
    generate_ads,
)

SITE_V = "velvet"
SEED_OFFSET = 101  # Velvet's generator seed is the world's seed plus this
MIN_SHARED = 5  # at least this many Velvet numbers also appear on site A or B
SLOW_SHARE = 0.10  # share of ads whose detail API answers late

# Hostile ads: markup that would run if a page ever used innerHTML, control characters,
# and a text far longer than any real ad. Ground truth keeps them verbatim.
PWNED = "window.__velvet_pwned=1"
MARKUP_TITLE = f'<img src=x onerror="{PWNED}"> '
MARKUP_TEXT = f"<script>{PWNED}</script> <b>fet</b> &amp; &lt;i&gt; <a href=\"javascript:{PWNED}\">länk</a>"
CONTROLS_TEXT = "Kontroll\x00tecken\x07 \x1b[31mröd\x1b[0m \u202eomvänd\u202c \ufeffslut\x7f"
HUGE_LINE = "Lång text utan slut. "
HUGE_REPEAT = 10_000  # about 210 kB


def derive_ads(world: Sequence[DemoAd], *, seed: int, count: int, anchor: date,
               source: Sequence[DemoAd] | None = None) -> list[DemoAd]:
    """Velvet's ads, newest first: ``source`` relabelled, or ``count`` generated ones.

    ``world`` holds the ads of sites A and B (for the shared numbers)."""
    base = list(source) if source is not None else generate_ads(
        seed=seed + SEED_OFFSET, count=count, anchor=anchor)
    rng = random.Random(seed + SEED_OFFSET)
    ads = _relabel(base, rng)
    ads = _share_numbers(ads, world, rng)
    ads = _make_hostile(ads, rng)
    ads.sort(key=lambda a: (a.posted_at, a.site_id), reverse=True)
    return ads


def _relabel(base: Iterable[DemoAd], rng: random.Random) -> list[DemoAd]:
    # Ids grow with posting time, with gaps, like any auto-increment.
    oldest_first = sorted(base, key=lambda a: (a.posted_at, a.site, a.site_id))
    out: list[DemoAd] = []
    next_id = 40000
    for ad in oldest_first:
        next_id += rng.randint(1, 5)
        out.append(replace(
            ad,
            site=SITE_V,
            site_id=next_id,
            path=f"/v/ad/{next_id}",
            images=tuple(f"/v/img/{next_id}-{k}.png" for k in range(1, len(ad.images) + 1)),
            # Velvet has no 503-once pages or broken markup: its faults are its own (slow, hostile).
            status="gone" if ad.status == "gone" else "ok",
            malformed=False,
        ))
    return out


_STYLES = tuple(s for s in (*PLAIN_STYLES, *OBFUSCATED_STYLES) if s != "glued")  # glued = word + compact


def _swap_number(ad: DemoAd, old: str, new: str) -> DemoAd:
    """The ad with number ``old`` (E.164) replaced by ``new`` everywhere, in the same styles."""
    old_nat, new_nat = "0" + old[3:], "0" + new[3:]
    text, field = ad.text, ad.phone_field
    # Longest renderings first, so a short one never matches inside a longer one.
    for style in sorted(_STYLES, key=lambda s: len(_fmt(old_nat, s)), reverse=True):
        shown, swapped = _fmt(old_nat, style), _fmt(new_nat, style)
        text, field = text.replace(shown, swapped), field.replace(shown, swapped)
    phones = tuple(dict.fromkeys(new if p == old else p for p in ad.phones))
    return replace(ad, text=text, phone_field=field, phones=phones)


def _share_numbers(ads: list[DemoAd], world: Sequence[DemoAd],
                   rng: random.Random) -> list[DemoAd]:
    """Make sure at least MIN_SHARED Velvet numbers are on site A or B too.

    The generator draws from one fiction pool, so worlds of a few dozen ads share plenty by
    themselves; tiny worlds get numbers of A/B swapped into one-number ads."""
    world_phones = sorted({p for a in world for p in a.phones})
    mine = {p for a in ads for p in a.phones}
    shared = mine & set(world_phones)
    spare = [p for p in world_phones if p not in mine]
    rng.shuffle(spare)
    candidates = [i for i, a in enumerate(ads)
                  if len(a.phones) == 1 and a.phones[0] not in shared and a.status == "ok"]
    rng.shuffle(candidates)
    out = list(ads)
    used_old: set[str] = set()
    for i in candidates:
        if len(shared) >= MIN_SHARED or not spare:
            break
        old = out[i].phones[0]
        if old in used_old:
            continue  # its other ads keep it; one swap per number keeps ground truth simple
        # Every ad with this number takes the new one, so Velvet's own repeats stay repeats.
        new = spare.pop()
        for j, other in enumerate(out):
            if old in other.phones:
                out[j] = _swap_number(other, old, new)
        used_old.add(old)
        shared.add(new)
    return out


def _make_hostile(ads: list[DemoAd], rng: random.Random) -> list[DemoAd]:
    """Three ads (when there are enough) carry markup, control characters, a huge text."""
    ok = [i for i, a in enumerate(ads) if a.status == "ok"]
    if len(ok) < 6:
        return ads
    markup, controls, huge = rng.sample(ok, 3)
    out = list(ads)
    a = out[markup]
    out[markup] = replace(a, title=MARKUP_TITLE + a.title, poster=f"<i>{a.poster}</i>",
                          text=_join(a.text, MARKUP_TEXT))
    a = out[controls]
    out[controls] = replace(a, title=a.title + "\x00\x1b[2J", text=_join(a.text, CONTROLS_TEXT))
    a = out[huge]
    out[huge] = replace(a, text=_join(a.text, (HUGE_LINE * HUGE_REPEAT).strip()))
    return out


def _join(text: str, extra: str) -> str:
    return f"{text}\n\n{extra}" if text else extra


def hostile_ids(ads: Sequence[DemoAd]) -> dict[str, int]:
    """Which ads carry which hostile content (kind -> Velvet id)."""
    found: dict[str, int] = {}
    for ad in ads:
        if MARKUP_TEXT in ad.text:
            found["markup"] = ad.site_id
        if CONTROLS_TEXT in ad.text:
            found["controls"] = ad.site_id
        if HUGE_LINE * 100 in ad.text:
            found["huge"] = ad.site_id
    return found


def slow_ids(ads: Sequence[DemoAd], seed: int) -> frozenset[int]:
    """About SLOW_SHARE of the ads (at least one when there are ten), fixed per seed."""
    ids = sorted(a.site_id for a in ads)
    n = round(len(ids) * SLOW_SHARE)
    if len(ids) >= 10:
        n = max(1, n)
    return frozenset(random.Random(seed + SEED_OFFSET + 1).sample(ids, n))

