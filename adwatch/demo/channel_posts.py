"""The posts of the demo world's social channel: deterministic, synthetic, with ground truth.

One public channel (``escortsverige``) of a few hundred posts over the same ~60 days and
towns as sites A and B. Several posts carry the SAME fiction numbers as ads on site A or B,
so a number can be followed from a classifieds site to the channel; others are written in
Polish, Romanian, Russian or Nigerian English with numbers from ``phonenumbers``' own
documented examples. Some posts are edited a few days after posting, some deleted, and a
few are hostile (control characters, a huge post, a script tag, broken markup).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html import escape

import phonenumbers

from adwatch.demo.generator import MOBILE_NUMBERS, SITE_A, DemoAd, to_e164

CHANNEL = "escortsverige"
CHANNEL_TITLE = "Escort Sverige 🔥"
PRIVATE_CHANNEL = "privatklubben"
GONE_CHANNEL = "gammalkanal"
POST_COUNT = 300
SHARED_NUMBERS = 12  # site ads whose number the channel repeats
FOREIGN_REGIONS = ("PL", "RO", "NG", "RU", "SK", "GB")
HUGE_POST_CHARS = 200_000


@dataclass(frozen=True)
class Post:
    """One channel post and what a reader of it should find."""

    id: int
    posted_at: datetime  # UTC
    author: str  # the signature under the post (a handle)
    html: str  # the text as the channel's page holds it (already escaped where it must be)
    edited_html: str | None = None  # the text after the edit
    edited_on: date | None = None  # the day the edit happens (the site clock)
    deleted_on: date | None = None  # the day the post is deleted
    photos: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    views: int = 0
    phones: tuple[str, ...] = ()  # E.164, ground truth
    region: str = "SE"  # where the number is from
    language: str = "sv"
    town: str | None = None
    shared_with: str | None = None  # "annons:10213": the site ad with the same number
    hostile: str | None = None  # control, huge, script, broken


@dataclass
class _Mix:
    """Which post index gets which special treatment (fixed for a seed)."""

    shared: dict[int, DemoAd] = field(default_factory=dict)
    hostile: dict[int, str] = field(default_factory=dict)


def _national_swedish(e164: str) -> str:
    return "0" + e164.removeprefix("+46")


def _swedish_written(e164: str, rng: random.Random) -> str:
    """A Swedish mobile number as posts write it: 070-174 06 37, +46 70 174 06 37, 0701740637."""
    national = _national_swedish(e164)
    area, rest = national[:3], national[3:]
    groups = f"{rest[:3]} {rest[3:5]} {rest[5:]}"
    return rng.choice((f"{area}-{groups}", f"+46 {area[1:]} {groups}", national, f"{area} {groups}"))


def example_number(region: str) -> str:
    """The library's documented example mobile number of ``region``, in E.164."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _international(e164: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_SWEDISH = (
    "🔥 <b>Ny i {town}</b> 🔥<br>Söt tjej {age} år, besöker {town} bara 3 dagar.<br>Ring eller SMS: {phone}",
    "💋 <b>{name} i {town}</b><br>Trevlig och diskret, hotell incall.<br>📞 {phone}",
    "🌸 Ny tjej i {town} denna vecka!<br><i>Endast SMS</i>: {phone}",
)
_ENGLISH = (
    "💋 <b>New in {town}</b><br>Sweet girl {age}, available 24/7. Hotel incall.<br>Call {phone}",
    "✨ <b>{name}</b> visiting {town} only 2 days<br>WhatsApp only: {phone}",
)
_FOREIGN = {
    "PL": ("pl", "🌹 <b>Nowa w {town}</b><br>Polska dziewczyna, tylko kilka dni.<br>Tel: {phone}"),
    "RO": ("ro", "✨ <b>Nouă în {town}</b><br>Fată din România, disponibilă non-stop.<br>Telefon: {phone}"),
    "NG": ("en", "🌺 New girls in {town} this week<br>Nigerian lady, only WhatsApp: {phone}"),
    "RU": ("ru", "💎 <b>Новая в {town}</b><br>Русская девушка, только SMS.<br>Тел: {phone}"),
    "SK": ("sk", "🌷 <b>Nová v {town}</b><br>Slovenské dievča, len pár dní.<br>Tel. {phone}"),
    "GB": ("en", "👑 <b>{name}</b> on tour: {town}<br>English girl, call {phone}"),
}
_NAMES = ("Anna", "Bella", "Carla", "Dana", "Elena", "Fiona", "Gina", "Ira", "Julia", "Kasia", "Lena", "Maja")
_TOWNS = ("Stockholm", "Göteborg", "Malmö", "Uppsala", "Gävle", "Västerås", "Jönköping", "Sundsvall",
          "Norrköping", "Linköping", "Örebro", "Hudiksvall", "Borlänge", "Helsingborg")


def _hostile_html(kind: str, phone: str) -> str:
    if kind == "control":  # bytes a terminal or an XML parser would choke on
        return f"Ring\x00 nu\x07 \x1b[31m{phone}\x1b[0m<br>\x0bbara\x0c idag"
    if kind == "script":  # the page escapes it, as a real site does; a reader must never run it
        return escape(f"<script>alert('x')</script> Ring {phone} <img src=x onerror=alert(1)>")
    if kind == "broken":  # unclosed tags and a stray quote
        return f"<b>Ny tjej <i>i stan<br>Ring {phone} <a href=\"https://broken.example/x>länk</a> <u>idag"
    line = "Lorem ipsum dolor sit amet, stor annons utan slut. "
    return f"{line * (HUGE_POST_CHARS // len(line))}<br>Ring {phone}"


def _mix(ads: list[DemoAd], rng: random.Random) -> _Mix:
    mix = _Mix()
    # Ads whose number the site's page always shows (the phone field), so a crawl finds it there.
    candidates = sorted((a for a in ads if a.status == "ok" and a.phone_field and a.phones),
                        key=lambda a: (a.site != SITE_A, a.site_id))
    seen: set[str] = set()
    unique = [a for a in candidates if not (a.phones[0] in seen or seen.add(a.phones[0]))]  # type: ignore[func-returns-value]
    chosen = unique[:: max(1, len(unique) // SHARED_NUMBERS)][:SHARED_NUMBERS]
    # Spread over the channel, some of them among the newest posts (the RSS feed shows those).
    newest = [POST_COUNT - 2, POST_COUNT - 9, POST_COUNT - 17]
    slots = newest[: len(chosen)] + rng.sample(range(10, POST_COUNT - 20), max(0, len(chosen) - len(newest)))
    mix.shared = dict(zip(slots, chosen, strict=True))
    # The hostile posts sit among the newest, so a crawl and the feed both meet them.
    mix.hostile = {POST_COUNT - 4: "control", POST_COUNT - 7: "script", POST_COUNT - 12: "huge",
                   POST_COUNT - 15: "broken"}
    for index in mix.hostile:
        mix.shared.pop(index, None)
    return mix


def generate_posts(ads: list[DemoAd], anchor: date, seed: int = 7) -> list[Post]:
    """The public channel's posts, oldest first; deterministic in its arguments."""
    rng = random.Random(seed * 7919 + 13)
    mix = _mix(ads, rng)
    first = datetime.combine(anchor - timedelta(days=59), time(8, 0), tzinfo=UTC)
    last = datetime.combine(anchor - timedelta(days=1), time(20, 0), tzinfo=UTC)
    step = (last - first) / (POST_COUNT - 1)
    posts: list[Post] = []
    post_id = 0
    for index in range(POST_COUNT):
        post_id += rng.choice((1, 1, 1, 2))  # gaps: service messages and early deletions
        jitter = timedelta(minutes=rng.randint(0, int(step.total_seconds() // 120)))
        posted = (first + step * index + jitter).replace(second=0, microsecond=0)
        posts.append(_post(index, post_id, posted, mix, rng))
    return posts


def _post(index: int, post_id: int, posted: datetime, mix: _Mix, rng: random.Random) -> Post:
    name = rng.choice(_NAMES)
    author = f"@{name.lower()}_{rng.randint(10, 99)}"
    views = rng.randint(150, 25_000)
    photos = tuple(f"/img/ch{post_id}-{k}.jpg" for k in range(1, rng.choice((0, 1, 1, 2, 3)) + 1))
    link = f"https://t.me/{author[1:]}"
    age = rng.randint(19, 29)
    ad = mix.shared.get(index)
    if ad is not None:
        town, e164, region, language = ad.town, ad.phones[0], "SE", ad.language
        template = rng.choice(_SWEDISH if language == "sv" else _ENGLISH)
        written = _swedish_written(e164, rng)
        shared: str | None = f"{ad.site}:{ad.site_id}"
        author = f"@{ad.poster.lower()}" if ad.poster else author
    else:
        shared = None
        town = rng.choice(_TOWNS)
        if rng.random() < 0.4:
            region = rng.choice(FOREIGN_REGIONS)
            e164 = example_number(region)
            language, template = _FOREIGN[region]
            written = _international(e164) if rng.random() < 0.7 else e164
        else:
            region = "SE"
            e164 = to_e164(rng.choice(MOBILE_NUMBERS))
            language = rng.choice(("sv", "sv", "en"))
            template = rng.choice(_SWEDISH if language == "sv" else _ENGLISH)
            written = _swedish_written(e164, rng)
    html = template.format(town=escape(town), name=name, age=age, phone=written)
    html += f'<br>👉 <a href="{link}">{escape(author)}</a>'
    hostile = mix.hostile.get(index)
    if hostile is not None:
        html = _hostile_html(hostile, written)
    edited_html = edited_on = deleted_on = None
    if hostile is None and index % 23 == 5:  # edited two days later: a new price line
        edited_html = html + f"<br>✏️ Uppdaterat: nytt pris {rng.choice((1500, 2000, 2500))} kr"
        edited_on = posted.date() + timedelta(days=2)
    elif hostile is None and shared is None and index % 31 == 7:  # deleted four days later
        deleted_on = posted.date() + timedelta(days=4)
    return Post(id=post_id, posted_at=posted, author=author, html=html, edited_html=edited_html,
                edited_on=edited_on, deleted_on=deleted_on, photos=photos, links=(link,), views=views,
                phones=(e164,), region=region, language=language, town=town, shared_with=shared,
                hostile=hostile)
