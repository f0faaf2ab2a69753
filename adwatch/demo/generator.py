"""Deterministic synthetic classifieds for the demo site (the project's test bed).

Everything here is invented. Phone numbers come only from the ranges the Swedish
regulator (PTS) reserves for use in fiction, so nothing ever points at a real person.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")

# PTS fiction ranges, as national significant numbers with trunk "0".
MOBILE_NUMBERS: tuple[str, ...] = tuple(f"070174{n:04d}" for n in range(605, 700))
STOCKHOLM_NUMBERS: tuple[str, ...] = tuple(f"0846500{n}" for n in range(400, 500))
GOTEBORG_NUMBERS: tuple[str, ...] = tuple(f"031390{n:04d}" for n in range(600, 700))
MALMO_NUMBERS: tuple[str, ...] = tuple(f"040628{n:04d}" for n in range(400, 500))
FICTION_NUMBERS: frozenset[str] = frozenset(
    "+46" + n[1:]
    for n in MOBILE_NUMBERS + STOCKHOLM_NUMBERS + GOTEBORG_NUMBERS + MALMO_NUMBERS
)

SITE_A = "annons"
SITE_B = "nl"


@dataclass(frozen=True)
class DemoAd:
    """One synthetic ad plus the ground truth of what its detail page shows."""

    site: str
    site_id: int
    path: str
    title: str
    text: str
    town: str
    posted_at: datetime
    phones: tuple[str, ...]
    phone_field: str
    obfuscated: bool
    poster: str
    age: int | None
    price: str
    images: tuple[str, ...]
    status: str
    malformed: bool
    language: str


@dataclass(frozen=True)
class Town:
    name: str
    weight: int  # relative ad volume; big cities dominate like on real sites
    postcode: str  # first three digits, used for postcode decoys
    landline: str | None = None  # parlours here advertise this fiction landline range


TOWNS: tuple[Town, ...] = (
    Town("Stockholm", 14, "113", "08"),
    Town("Göteborg", 10, "411", "031"),
    Town("Malmö", 9, "211", "040"),
    Town("Uppsala", 5, "753"),
    Town("Södertälje", 2, "151", "08"),
    Town("Gävle", 3, "802"),
    Town("Sandviken", 1, "811"),
    Town("Hudiksvall", 1, "824"),
    Town("Söderhamn", 1, "826"),
    Town("Bollnäs", 1, "821"),
    Town("Västerås", 3, "722"),
    Town("Sundsvall", 2, "852"),
    Town("Jönköping", 3, "553"),
    Town("Norrköping", 3, "602"),
    Town("Linköping", 3, "582"),
    Town("Örebro", 3, "702"),
    Town("Enköping", 1, "745"),
    Town("Nyköping", 1, "611"),
    Town("Helsingborg", 3, "252"),
    Town("Halmstad", 2, "302"),
    Town("Borås", 2, "503"),
    Town("Karlstad", 2, "652"),
    Town("Falun", 1, "791"),
    Town("Borlänge", 1, "784"),
    Town("Umeå", 2, "903"),
    Town("Luleå", 2, "972"),
    Town("Värnamo", 1, "331"),
    Town("Ljungby", 1, "341"),
    Town("Mora", 1, "792"),
    Town("Arboga", 1, "732"),
    Town("Kristianstad", 1, "291"),
    Town("Växjö", 2, "352"),
    Town("Östersund", 1, "831"),
    Town("Eskilstuna", 2, "632"),
    Town("Lund", 2, "222"),
    Town("Kalmar", 1, "392"),
    Town("Karlskrona", 1, "371"),
    Town("Skövde", 1, "541"),
    Town("Trollhättan", 1, "461"),
    Town("Varberg", 1, "432"),
    Town("Kungsbacka", 1, "434"),
    Town("Alingsås", 1, "441"),
)
TOWN_BY_NAME: dict[str, Town] = {t.name: t for t in TOWNS}

# Fallback landline range by region once the mobile range is used up, so a
# number at least looks local-ish (west: 031, south: 040, elsewhere: 08).
_WEST = {"Göteborg", "Borås", "Karlstad", "Skövde", "Trollhättan", "Varberg",
         "Kungsbacka", "Alingsås", "Halmstad"}
_SOUTH = {"Malmö", "Helsingborg", "Lund", "Kristianstad", "Karlskrona", "Kalmar",
          "Växjö", "Ljungby", "Värnamo"}


def _region_area(town: str) -> str:
    return "031" if town in _WEST else "040" if town in _SOUTH else "08"

# Towns in driving order; travelling numbers repost along one of these.
# Towns whose market grows: their single ads cluster in the latest weeks (trends show them rising).
GROWING_TOWNS = frozenset({"Jönköping", "Sundsvall", "Skövde"})

ROUTES: dict[str, tuple[str, ...]] = {
    "E4 syd": ("Stockholm", "Södertälje", "Nyköping", "Norrköping", "Linköping",
               "Jönköping", "Värnamo", "Ljungby", "Helsingborg"),
    "E4 norr": ("Stockholm", "Uppsala", "Gävle", "Söderhamn", "Hudiksvall",
                "Sundsvall", "Umeå", "Luleå"),
    "E6": ("Malmö", "Lund", "Helsingborg", "Halmstad", "Varberg", "Kungsbacka", "Göteborg"),
    "E16": ("Gävle", "Sandviken", "Falun", "Borlänge"),
    "E18": ("Stockholm", "Enköping", "Västerås", "Arboga", "Örebro", "Karlstad"),
    "E20": ("Göteborg", "Alingsås", "Skövde", "Örebro", "Arboga", "Eskilstuna",
            "Södertälje", "Stockholm"),
    "E22": ("Malmö", "Lund", "Kristianstad", "Karlskrona", "Kalmar", "Norrköping"),
    "E45": ("Göteborg", "Trollhättan", "Karlstad", "Mora", "Östersund"),
    "Rv40": ("Göteborg", "Borås", "Jönköping"),
    "Rv25": ("Halmstad", "Ljungby", "Växjö", "Kalmar"),
}


def town_slug(name: str) -> str:
    """URL slug: lowercase, ASCII-folded, spaces to dashes (Gävle -> gavle)."""
    folded = unicodedata.normalize("NFKD", name.lower())
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    return ascii_only.replace(" ", "-")


def swedish_sort_key(name: str) -> str:
    """Sort key putting å, ä, ö after z as in the Swedish alphabet."""
    return name.lower().translate(str.maketrans("åäö", "{|}"))


def to_e164(national: str) -> str:
    return "+46" + national[1:]


# ---------------------------------------------------------------------------
# Phone number rendering. Each style maps national digits to what the ad shows.

def _split(national: str) -> tuple[str, list[str]]:
    """Area code and the usual Swedish digit groups (070-174 06 05, 08-465 004 12)."""
    if national.startswith("08"):
        rest = national[2:]
        return "08", [rest[:3], rest[3:6], rest[6:]]
    rest = national[3:]
    return national[:3], [rest[:3], rest[3:5], rest[5:]]


_SV_DIGITS = ("noll", "ett", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio")
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _fmt(national: str, style: str) -> str:
    area, groups = _split(national)
    grouped = " ".join(groups)
    match style:
        # plain styles
        case "std":
            return f"{area}-{grouped}"
        case "spaces":
            return f"{area} {grouped}"
        case "compact":
            return national
        case "e164":
            return to_e164(national)
        case "intl":
            return f"+46 {area[1:]} {grouped}"
        # obfuscated styles
        case "sv_words":
            return " ".join(_SV_DIGITS[int(d)] for d in national)
        case "en_words":
            return " ".join(_EN_DIGITS[int(d)] for d in national)
        case "letter_o":
            return f"{area}-{grouped}".replace("0", "O")
        case "stars":
            return "*".join([area, *groups])
        case "dots":
            return f"{area}.{groups[0]}.{''.join(groups[1:])}"
        case "slash":
            return f"{area} / {grouped}"
        case "spread":
            return " ".join(national)
        case "fullwidth":
            return national.translate(_FULLWIDTH)
        case "keycap":
            return "".join(f"{d}\ufe0f\u20e3" for d in national)
        case "paren":
            return f"+46 (0){area[1:]} {grouped}"
        case "0046":
            return "0046" + national[1:]
        case "linebreak":
            return f"{area}-{groups[0]}\n{' '.join(groups[1:])}"
        case _:
            raise ValueError(f"unknown phone style {style!r}")


PLAIN_STYLES: tuple[str, ...] = ("std", "spaces", "compact", "e164", "intl")
_PLAIN_WEIGHTS: tuple[int, ...] = (5, 3, 3, 2, 2)
OBFUSCATED_STYLES: tuple[str, ...] = (
    "sv_words", "en_words", "letter_o", "stars", "dots", "slash", "spread",
    "fullwidth", "keycap", "paren", "0046", "linebreak", "glued",
)
OBFUSCATION_RATE = 0.35


# ---------------------------------------------------------------------------
# Ad text templates. Placeholders: {name} {age} {town} {price} {price2} {hours}
# {dates} {room} {postcode} {years} {contact}; "" is a paragraph break.

@dataclass(frozen=True)
class Template:
    key: str
    language: str
    indicator: bool  # carries typical trafficking-indicator wording
    names: str  # which name list the poster nick comes from
    titles: tuple[str, ...]
    lines: tuple[str, ...]


TEMPLATES: tuple[Template, ...] = (
    Template("sv_new_in_town", "sv", True, "intl",
             ("Ny i {town}! Bara några dagar", "NY i stan – {name} {age} år"),
             ("Hej! Jag heter {name}, {age} år, och är ny i {town}.",
              "Är här bara några dagar, så passa på.",
              "Tar emot på hotell nära centralen, rum {room}.",
              "",
              "{contact}",
              "Endast SMS, svarar ej på dolt nummer.")),
    Template("sv_two_girls", "sv", True, "ro",
             ("Två tjejer i {town} 24/7", "Två söta tjejer – {town} ✨"),
             ("Två söta tjejer från Rumänien besöker {town}.",
              "Öppet 24/7, även hotellbesök.",
              "Pratar ingen svenska, bara lite engelska.",
              "{contact}")),
    Template("sv_polish", "sv", True, "pl",
             ("Polsk tjej {age} – ny i stan", "Polsk tjej i {town} denna vecka"),
             ("Ny i stan! Polsk tjej, {age} år, söt och trevlig.",
              "Bara denna vecka i {town}, {dates}.",
              "Pris {price}.",
              "{contact}")),
    Template("sv_young_hotel", "sv", True, "intl",
             ("Ung och fräsch tjej i {town}", "Ung tjej {age} – hotell {town}"),
             ("Ung tjej {age} år, nyss kommen till {town}.",
              "Hotell, rum {room}. Tider {hours}.",
              "Pris {price}, endast kontant.",
              "",
              "{contact}")),
    Template("sv_massage", "sv", False, "parlor",
             ("Avslappnande massage i {town}", "Klassisk massage – {town} centrum"),
             ("Klassisk svensk massage och avslappning.",
              "Utbildad massör med {years} års erfarenhet.",
              "Öppet {hours}, drop-in eller bokning.",
              "Adress nära centrum, postnr {postcode}.",
              "{contact}")),
    Template("sv_thai", "sv", False, "parlor",
             ("Thaimassage – {town}", "Traditionell thaimassage i {town} 🌸"),
             ("Traditionell thaimassage, oljemassage och fotmassage.",
              "60 min {price}, 90 min {price2}.",
              "Öppet alla dagar {hours}.",
              "",
              "Välkommen!",
              "{contact}")),
    Template("sv_mature", "sv", False, "sv",
             ("Mogen kvinna i {town}", "Trevlig svensk kvinna {age}"),
             ("Svensk kvinna, {age} år, bor i {town}.",
              "Diskret och trevlig, endast seriösa förfrågningar.",
              "Träffas gärna på dagtid, {hours}.",
              "{contact}")),
    Template("sv_sensual", "sv", False, "sv",
             ("Sensuell massage & avkoppling", "Massage & avslappning i {town}"),
             ("Lugn miljö nära stationen i {town}, dusch finns.",
              "Bokning dagen innan, {hours}.",
              "{price} för en timme.",
              "{contact}")),
    Template("en_new_in_town", "en", True, "intl",
             ("New in {town}!! Only few days", "NEW girl in {town} 💋"),
             ("Hi, I am {name}, {age} years, new in town.",
              "Only few days in {town}, hotel visits 24/7.",
              "Only SMS, no calls. No Swedish, little English.",
              "{contact}")),
    Template("en_romanian", "en", True, "ro",
             ("Sweet Romanian girl {age} 💋", "Romanian girl just arrived {town}"),
             ("Romanian girl {age}, just arrived in {town}.",
              "Incall hotel, room {room}. Available 24/7.",
              "{price} / hour.",
              "",
              "{contact}")),
    Template("en_two_girls", "en", True, "pl",
             ("Two girls together – {town}", "2 girls new in {town} 24/7"),
             ("Two young girls from Poland, new in {town}.",
              "Outcall and hotel only. Only SMS.",
              "Here {dates}.",
              "{contact}")),
    Template("en_asian", "en", True, "asian",
             ("Young Asian girl – new", "Asian massage girl {age} new in {town}"),
             ("Young Asian girl {age}, new in {town} for few days.",
              "Massage and more, open 24/7.",
              "No English, only SMS please.",
              "{contact}")),
    Template("en_massage", "en", False, "parlor",
             ("Relaxing massage in {town}", "Professional massage {town}"),
             ("Professional relaxing massage, deep tissue and aroma oil.",
              "Open {hours} every day.",
              "Price {price} / 60 min.",
              "{contact}")),
    Template("en_companion", "en", False, "intl",
             ("Classy companion {name}", "Elegant lady in {town}"),
             ("Elegant and educated lady, {age}, based in {town}.",
              "Dinner dates & travel companion. Advance booking only.",
              "",
              "{contact}")),
)

_NAMES: dict[str, tuple[str, ...]] = {
    "sv": ("Anna", "Elin", "Sara", "Emma", "Lina", "Maja", "Jenny", "Malin", "Linnea", "Åsa"),
    "ro": ("Ioana", "Roxana", "Bianca", "Andreea", "Denisa", "Alina", "Larisa"),
    "pl": ("Kasia", "Ania", "Magda", "Ola", "Zosia", "Ewa"),
    "asian": ("Mai", "Lily", "Suki", "Nana", "Ploy", "Lin"),
    "intl": ("Angel", "Bella", "Nikki", "Luna", "Vanessa", "Kitty", "Jasmine", "Carmen",
             "Nina", "Roxy", "Sofia", "Mia"),
    "parlor": ("Lotus Spa", "Thai Harmony", "Siam Massage", "Sabai Spa", "Relax Center",
               "Bambu Massage", "Nordic Touch"),
}

_LEADS: dict[str, tuple[str, ...]] = {
    "sv": ("Ring eller SMS:", "SMS:", "Nås på", "Tel:", "Kontakt:", "Ring", "Endast SMS"),
    "en": ("Call or SMS:", "SMS only:", "Call", "Tel:", "WhatsApp", "Phone:"),
}
_GLUE_WORDS: dict[str, tuple[str, ...]] = {"sv": ("ring", "sms", "tel"), "en": ("call", "sms", "tel")}
_OR: dict[str, str] = {"sv": "eller", "en": "or"}
_HOURS = ("10:00-22:00", "12-20", "09:00–21:00", "11.00-23.00", "10-18")
_EXTRA_LINES: dict[str, tuple[str, ...]] = {
    "sv": ("Tider: {hours}.", "Finns här {dates}.", "Nära stationen, postnr {postcode}.",
           "Pris {price}.", "Hotell, rum {room}."),
    "en": ("Hours: {hours}.", "Available {dates}.", "Near the station, zip {postcode}.",
           "Rate {price}.", "Hotel room {room}."),
}


# ---------------------------------------------------------------------------
# Generation

@dataclass
class _Draft:
    """An ad before ids and statuses are assigned."""

    site: str
    town: str
    posted_at: datetime
    template: Template
    title_idx: int
    name: str
    age_text: int
    show_age: bool
    arrangement: str  # field | text | both | two
    numbers: list[str]  # national numbers: primary first
    styles: list[str]  # text style per number
    empty_text: bool
    drop_line: int | None
    extra_line: int | None
    price_base: int
    price_variant: int
    seq: int = 0
    extras: dict[str, str] = field(default_factory=dict)


class _NumberPool:
    """Hands out fiction numbers; mobiles first, landlines where a region fits."""

    def __init__(self, rng: random.Random) -> None:
        self._pools: dict[str, list[str]] = {
            "mobile": rng.sample(MOBILE_NUMBERS, len(MOBILE_NUMBERS)),
            "08": rng.sample(STOCKHOLM_NUMBERS, len(STOCKHOLM_NUMBERS)),
            "031": rng.sample(GOTEBORG_NUMBERS, len(GOTEBORG_NUMBERS)),
            "040": rng.sample(MALMO_NUMBERS, len(MALMO_NUMBERS)),
        }
        self._used: list[str] = []
        self._reuse = 0

    def take(self, kind: str, town: str) -> str:
        for name in (kind, "mobile", _region_area(town), "08", "031", "040"):
            if self._pools[name]:
                number = self._pools[name].pop()
                self._used.append(number)
                return number
        # Pool exhausted (only for huge counts): recycle deterministically.
        number = self._used[self._reuse % len(self._used)]
        self._reuse += 1
        return number


def _pick_style(rng: random.Random, language: str, allow_glued: bool = True) -> str:
    if rng.random() < OBFUSCATION_RATE:
        styles = OBFUSCATED_STYLES if allow_glued else OBFUSCATED_STYLES[:-1]
        style = rng.choice(styles)
        if style in ("sv_words", "en_words") and rng.random() < 0.85:
            style = f"{language}_words"  # spelled digits mostly match the ad's language
        return style
    return rng.choices(PLAIN_STYLES, _PLAIN_WEIGHTS)[0]


def _posted(rng: random.Random, anchor: date, days_ago: int) -> datetime:
    # Daytime/evening hours only, so DST switches (02:00-03:00) never produce
    # ambiguous or non-existent local times.
    day = anchor - timedelta(days=days_ago)
    return datetime.combine(day, time(rng.randint(8, 23), rng.randint(0, 59)), tzinfo=STOCKHOLM)


def _pick_template(rng: random.Random, site: str, indicator_share: float) -> Template:
    sv_share = 0.85 if site == SITE_A else 0.3
    language = "sv" if rng.random() < sv_share else "en"
    indicator = rng.random() < indicator_share
    choices = [t for t in TEMPLATES if t.language == language and t.indicator == indicator]
    return rng.choice(choices)


def _site(rng: random.Random) -> str:
    return SITE_A if rng.random() < 2 / 3 else SITE_B


def _new_draft(rng: random.Random, pool: _NumberPool, site: str, town: str,
               posted_at: datetime, template: Template, *, landline_ok: bool) -> _Draft:
    arrangement = rng.choices(("field", "text", "both", "two"), (30, 25, 35, 10))[0]
    kind = "mobile"
    town_info = TOWN_BY_NAME[town]
    if landline_ok and template.names == "parlor" and town_info.landline and rng.random() < 0.7:
        kind = town_info.landline  # parlours in the big cities advertise landlines
    numbers = [pool.take(kind, town)]
    if arrangement == "two":
        numbers.append(pool.take("mobile", town))
    two = len(numbers) > 1
    styles = [_pick_style(rng, template.language, allow_glued=not two) for _ in numbers]
    lines = len(template.lines)
    return _Draft(
        site=site,
        town=town,
        posted_at=posted_at,
        template=template,
        title_idx=rng.randrange(len(template.titles)),
        name=rng.choice(_NAMES[template.names]),
        age_text=rng.randint(19, 38) if template.names != "sv" else rng.randint(30, 49),
        show_age=template.names != "parlor" and rng.random() < 0.8,
        arrangement=arrangement,
        numbers=numbers,
        styles=styles,
        empty_text=arrangement == "field" and rng.random() < 0.15,
        drop_line=rng.randrange(lines) if rng.random() < 0.3 else None,
        extra_line=rng.randrange(len(_EXTRA_LINES["sv"])) if rng.random() < 0.4 else None,
        price_base=rng.choice((800, 1000, 1200, 1500, 2000, 2500, 3000)),
        price_variant=rng.randrange(4),
        extras={
            "room": str(rng.randint(101, 520)),
            "hours": rng.choice(_HOURS),
            "postcode": f"{town_info.postcode} {rng.randint(10, 99)}",
            "years": str(rng.randint(3, 15)),
        },
    )


def _retarget(draft: _Draft, rng: random.Random, site: str, town: str,
              posted_at: datetime) -> _Draft:
    """Copy of a draft reposted elsewhere: same text, number and style (copy-paste)."""
    extras = dict(draft.extras)
    extras["postcode"] = f"{TOWN_BY_NAME[town].postcode} {rng.randint(10, 99)}"
    return _Draft(**{**draft.__dict__, "site": site, "town": town,
                     "posted_at": posted_at, "extras": extras})


def _price_field(draft: _Draft) -> str:
    n = draft.price_base
    if draft.site == SITE_A:
        return (f"{n:,} kr".replace(",", " "), f"{n}:-", f"{n} kr/tim", "")[draft.price_variant]
    eur = {800: 80, 1000: 100, 1200: 120, 1500: 150, 2000: 200, 2500: 250, 3000: 300}[n]
    return (f"{eur} EUR", f"{n} SEK", f"{n}:-", "")[draft.price_variant]


def _contact(draft: _Draft, rng: random.Random) -> tuple[str | None, list[int]]:
    """The text's contact line and which of draft.numbers it writes (None: field only)."""
    lang = draft.template.language
    if draft.arrangement == "field":
        return None, []
    if draft.arrangement == "two":
        # Field shows the primary; the text has the second number, sometimes both.
        shown = [0, 1] if rng.random() < 0.5 else [1]
    else:
        shown = [0]
    if draft.styles[shown[0]] == "glued":  # only ever chosen for one-number ads
        return rng.choice(_GLUE_WORDS[lang]) + draft.numbers[shown[0]], shown
    parts = [_fmt(draft.numbers[i], draft.styles[i]) for i in shown]
    return f"{rng.choice(_LEADS[lang])} {f' {_OR[lang]} '.join(parts)}", shown


def _render_text(draft: _Draft, rng: random.Random) -> tuple[str, list[int]]:
    """Ad text and the indices (into draft.numbers) of the numbers written in it."""
    contact, written = _contact(draft, rng)
    if draft.empty_text:
        return "", []
    d1 = draft.posted_at.date()
    d2 = d1 + timedelta(days=3)
    n = draft.price_base
    values = {
        "name": draft.name,
        "age": str(draft.age_text),
        "town": draft.town,
        "price": f"{n} kr" if draft.price_variant % 2 == 0 else f"{n}:-",
        "price2": f"{n + 500} kr",
        "dates": f"{d1.day}/{d1.month}–{d2.day}/{d2.month}",
        **draft.extras,
    }
    lines = list(draft.template.lines)
    if draft.extra_line is not None:
        extra = _EXTRA_LINES[draft.template.language][draft.extra_line]
        lines.insert(max(0, lines.index("{contact}")), extra)
    if (draft.drop_line is not None and draft.drop_line < len(lines)
            and lines[draft.drop_line] not in ("{contact}", "")):
        del lines[draft.drop_line]
    out: list[str] = []
    for line in lines:
        if line == "{contact}":
            if contact is not None:
                out.append(contact)
        else:
            out.append(line.format(**values))
    text = "\n".join(out)
    while "\n\n\n" in text:  # a dropped line may leave stacked breaks
        text = text.replace("\n\n\n", "\n\n")
    text = text.strip("\n")
    return text, written


def _phone_field(draft: _Draft, rng: random.Random) -> str:
    if draft.arrangement == "text":
        return ""
    primary = draft.numbers[0]
    if draft.site == SITE_A:
        style = rng.choices(("std", "compact", "spaces"), (70, 15, 15))[0]
    else:
        style = rng.choices(("intl", "e164", "compact"), (65, 15, 20))[0]
    return _fmt(primary, style)


def generate_ads(seed: int = 7, count: int = 360, anchor: date | None = None) -> list[DemoAd]:
    """Generate ``count`` synthetic ads, newest first per site, deterministic in its args."""
    if anchor is None:
        anchor = datetime.now(UTC).date()
    rng = random.Random(seed)
    pool = _NumberPool(rng)
    drafts: list[_Draft] = []
    town_names = [t.name for t in TOWNS]
    town_weights = [t.weight for t in TOWNS]

    # Travellers: one number reposted town to town along a highway, days apart.
    for _ in range(max(1, count // 15)):
        route = list(ROUTES[rng.choice(sorted(ROUTES))])
        if rng.random() < 0.5:
            route.reverse()
        stops = rng.randint(3, min(6, len(route)))
        start = rng.randrange(len(route) - stops + 1)
        gaps = [rng.randint(2, 5) for _ in range(stops - 1)]
        days_ago = rng.randint(sum(gaps) + 1, 60)
        first_site = _site(rng)
        base = _new_draft(rng, pool, first_site, route[start],
                          _posted(rng, anchor, days_ago),
                          _pick_template(rng, first_site, 1.0), landline_ok=False)
        drafts.append(base)
        for i, gap in enumerate(gaps, start=1):
            days_ago -= gap
            drafts.append(_retarget(base, rng, _site(rng), route[start + i],
                                    _posted(rng, anchor, days_ago)))

    # Repeat posters: same number and template in one town on several days.
    for _ in range(count // 14):
        town = rng.choices(town_names, town_weights)[0]
        site = _site(rng)
        days = sorted(rng.sample(range(1, 61), rng.randint(2, 3)), reverse=True)
        base = _new_draft(rng, pool, site, town, _posted(rng, anchor, days[0]),
                          _pick_template(rng, site, 0.3), landline_ok=True)
        drafts.append(base)
        for day in days[1:]:
            drafts.append(_retarget(base, rng, site, town, _posted(rng, anchor, day)))

    drafts = drafts[:count]
    # Singles; the first ones cover every town on site A so each town has a page.
    coverage = rng.sample(town_names, len(town_names)) if count >= 3 * len(TOWNS) else []
    target_a = round(count * 2 / 3)
    while len(drafts) < count:
        if coverage:
            town, site = coverage.pop(), SITE_A
        else:
            # Steer towards a 2/3 : 1/3 split whatever the earlier phases produced.
            have_a = sum(d.site == SITE_A for d in drafts)
            p_a = min(1.0, max(0.0, (target_a - have_a) / (count - len(drafts))))
            town = rng.choices(town_names, town_weights)[0]
            site = SITE_A if rng.random() < p_a else SITE_B
        days_ago = rng.randint(1, 60)
        if town in GROWING_TOWNS:  # the same ads, crowded into the last three weeks: a town that grows
            days_ago = 1 + (days_ago - 1) // 3
        drafts.append(_new_draft(rng, pool, site, town, _posted(rng, anchor, days_ago),
                                 _pick_template(rng, site, 0.45), landline_ok=True))

    for i, d in enumerate(drafts):
        d.seq = i
    return _finalise(drafts, rng)


def _finalise(drafts: list[_Draft], rng: random.Random) -> list[DemoAd]:
    # Ids grow with posting time, with gaps, like a real site's auto-increment.
    drafts = sorted(drafts, key=lambda d: (d.posted_at, d.seq))
    next_id = {SITE_A: 10000, SITE_B: 5000}
    ads: list[DemoAd] = []
    for d in drafts:
        next_id[d.site] += rng.randint(1, 4)
        site_id = next_id[d.site]
        text, written = _render_text(d, rng)
        phone_field = _phone_field(d, rng)
        order: list[str] = []
        if phone_field:
            order.append(d.numbers[0])
        order.extend(d.numbers[i] for i in written)
        phones = tuple(dict.fromkeys(to_e164(n) for n in order))
        if d.site == SITE_A:
            path = f"/annons/ad/{site_id}"
            img = f"/img/{site_id}"
        else:
            path = f"/nl/listing.php?id={site_id}"
            img = f"/img/nl{site_id}"
        n_images = rng.choices((0, 1, 2, 3, 4), (15, 30, 25, 20, 10))[0]
        title = d.template.titles[d.title_idx].format(
            town=d.town, name=d.name, age=d.age_text)
        ads.append(DemoAd(
            site=d.site,
            site_id=site_id,
            path=path,
            title=title,
            text=text,
            town=d.town,
            posted_at=d.posted_at,
            phones=phones,
            phone_field=phone_field,
            obfuscated=any(d.styles[i] in OBFUSCATED_STYLES for i in written),
            poster=d.name,
            age=d.age_text if d.show_age else None,
            price=_price_field(d),
            images=tuple(f"{img}-{k}.jpg" for k in range(1, n_images + 1)),
            status="ok",
            malformed=False,
            language=d.template.language,
        ))
    ads = _assign_statuses(ads, rng)
    ads = _with_payloads(ads, random.Random(rng.random()))
    ads.sort(key=lambda a: (a.posted_at, a.site, a.site_id), reverse=True)
    return ads


# Script written into ads by strangers, as on real sites: the web UI must show all of it as
# text and run none of it (tests/test_web_browser.py watches for the marks it would set).
# No digits, so no payload can read as a phone number.
XSS_PAYLOADS = (
    '<script>window.__xss_script=true;document.title="XSS"</script>',
    '<img src=x onerror="window.__xss_onerror=true">',
    '<a href="javascript:window.__xss_href=true">klicka här</a>',
    '<svg onload="window.__xss_svg=true"><circle r="x"></circle></svg>',
    '<style>body{display:none}</style><div style="background:url(javascript:window.__xss_css=true)">x</div>',
    '"><iframe srcdoc="<script>parent.__xss_iframe=true</script>"></iframe>',
    "{{ config.items() }} ${window.__xss_template=true}",
)


def _with_payloads(ads: list[DemoAd], rng: random.Random) -> list[DemoAd]:
    """A few ordinary ads (listed, well-formed) carry one payload each in their text; three of
    them also in the title and the poster's name."""
    candidates = [i for i, a in enumerate(ads) if a.status == "ok" and not a.malformed]
    chosen = rng.sample(candidates, min(len(XSS_PAYLOADS), len(candidates)))
    result = list(ads)
    for n, (i, payload) in enumerate(zip(chosen, XSS_PAYLOADS, strict=False)):
        ad = result[i]
        title, poster = (f"{ad.title} {payload}", f"{ad.poster}{payload}") if n < 3 else (ad.title, ad.poster)
        result[i] = replace(ad, text=f"{ad.text}\n{payload}", title=title, poster=poster)
    return result


def _assign_statuses(ads: list[DemoAd], rng: random.Random) -> list[DemoAd]:
    """Exact, per-site shares of gone (2%), flaky (5%) and malformed (3%) pages."""
    result = list(ads)
    for site in (SITE_A, SITE_B):
        idx = [i for i, a in enumerate(ads) if a.site == site]
        n = len(idx)
        floor = 1 if n >= 20 else 0  # guarantee each case exists on each site

        def share(p: float, n: int = n, floor: int = floor) -> int:
            return max(floor, round(n * p))

        shuffled = rng.sample(idx, n)
        n_gone, n_flaky = share(0.02), share(0.05)
        gone = shuffled[:n_gone]
        flaky = shuffled[n_gone:n_gone + n_flaky]
        rest = shuffled[n_gone:]  # malformed may overlap flaky but never gone
        malformed = rng.sample(rest, min(len(rest), share(0.03)))
        for i in gone:
            result[i] = replace(result[i], status="gone")
        for i in flaky:
            result[i] = replace(result[i], status="flaky")
        for i in malformed:
            result[i] = replace(result[i], malformed=True)
    return result


