"""Phone numbers: find them however they are written, and normalize them to E.164.

Ads hide numbers from filters: spelled digits ("noll sju noll"), number words with
tens ("sjuttio", "fyrtiosex"), letters for digits ("O7O"), Unicode and keycap digits,
odd separators, digits spread out or split over a line, glued to words. The finder:

1. finds *units* — digit runs, number words, digit-like letters, "+" and "(0)";
2. joins units into *runs* when only a few separator characters lie between them;
3. cuts each run into valid numbers (``phonenumbers`` decides; longest window first),
   trying both readings of "tens + unit" words ("fyrtio sex" = 46, or 40 then 6).

Dates, times, prices, postcodes, organisation numbers and URLs are rejected because
they never validate under the region's rules (national numbers must carry the trunk
prefix) or are recognised by shape before validation.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import phonenumbers
import yaml
from phonenumbers import PhoneNumberType

NUMBER_WORDS = Path(__file__).resolve().parent / "data" / "number_words.yaml"
_TYPES = {value: name.lower() for name, value in vars(PhoneNumberType).items() if name.isupper()}
_MIN_DIGITS, _MAX_DIGITS = 7, 15
_MAX_PARSES = 3000  # per text: bounds the time a hostile page of digits can cost (~0.1 s)
_MAX_AMBIGUOUS = 6  # "tens + unit" pairs read both ways within one window (2**6 tries at most)
_PLAIN_GAP = frozenset(" -()")
_INVISIBLE = frozenset("\ufe0f\u20e3\u200b\u200d")  # keycap parts and zero-width joiners
_MAX_GAP = 3
# Times and dates are taken out before runs are built, so their digits cannot join a
# neighbouring number ("kl 18–02, 08.00-20.00" is not 020-800 20 00).
_NOT_PHONE = re.compile(
    r"\b\d{1,2}:\d{2}\b(?:\s*[-–]\s*\d{1,2}:\d{2}\b)?"  # 10:00, 10:00-22:00
    r"|\b\d{1,2}\.\d{2}\s*[-–]\s*\d{1,2}\.\d{2}\b"  # 08.00-20.00
    r"|\b(?:kl\.?|klockan|at)\s*\d{1,2}(?:[.:]\d{2})?(?:\s*[-–]\s*\d{1,2}(?:[.:]\d{2})?)?\b"  # kl 18–02
    r"|\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[./]\d{1,2}[./](?:19|20)\d{2}\b|\b\d{1,2}/\d{1,2}\b",  # dates
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:se|com|net|org|eu|nu|info)/\S*", re.I)
_DATE_OR_TIME = re.compile(
    r"^\s*(?:\d{1,2}[.:]\d{2}\s*[-–]\s*\d{1,2}[.:]\d{2}"  # 10.00-22.00
    r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 2026-11-28
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\s*$"  # 28/11/2026
)
_ORG_NUMBER = re.compile(r"^\s*\d{6}-\d{4}\s*$")


@dataclass(frozen=True)
class PhoneHit:
    e164: str
    raw: str
    start: int
    end: int
    country: str | None
    line_type: str
    obfuscated: bool

    def as_dict(self) -> dict[str, Any]:
        return {"e164": self.e164, "raw": self.raw, "start": self.start, "end": self.end, "country": self.country,
                "line_type": self.line_type, "obfuscated": self.obfuscated}


class _Unit(NamedTuple):  # a tuple: dozens are built per ad
    start: int
    end: int
    kind: str  # digits | unicode | word | letter | plus | zero | hint
    values: tuple[str, ...]  # digit strings of each reading (tens words have two)


class NumberLexicon:
    """Number words and digit-like characters (``nlp/data/number_words.yaml``), compiled once:
    the spaCy pipeline builds its own in ``initialize``; ``default_lexicon`` serves other callers."""

    def _add(self, word: str, value: str) -> None:
        for form in {word.casefold(), _fold(word).casefold()}:
            self.words.setdefault(form, (value,))

    def __init__(self, path: Path = NUMBER_WORDS) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.words: dict[str, tuple[str, ...]] = {}
        for lang in ("sv", "en", "pl", "ro", "ru"):
            units, teens, tens = data[lang]["units"], data[lang]["teens"], data[lang]["tens"]
            for word, value in {**units, **teens}.items():
                self._add(word, str(value))
            for word, value in tens.items():
                self._add(word, str(value))
                for unit, digit in units.items():
                    if digit:  # "sjuttiofyra": one word, one reading
                        self._add(word + unit, str(value + digit))
        self.joiners = tuple(data["joiners"])
        self.joiner_gap = re.compile(r"^\s+(?:" + "|".join(map(re.escape, self.joiners)) + r")\s+$", re.I)
        self.zero_hints = [re.compile(h, re.I) for h in data["leading_zero_hints"]]
        self.letters = {str(k): str(v) for k, v in data["letters"].items()}
        self.odd_digits = {chr(cp): str(d) for cp in range(0x2460, 0x2800)
                           if (d := unicodedata.digit(chr(cp), None)) is not None}
        words = "|".join(sorted(map(re.escape, self.words), key=len, reverse=True))
        odd = re.escape("".join(self.odd_digits))
        self.word_run = re.compile(rf"(?i:{words})")
        self.glued_words = re.compile(rf"(?i:{words})+")  # "nollsjunoll"
        self.word_prefixes = frozenset(w[:3] for w in self.words)
        # Letters come as whole runs and are looked up, so a word is read as a number word,
        # as digit-like letters ("O7O") or not at all, never half of it.
        self.units = re.compile(
            r"(?P<zero>\(\s*0\s*\))"
            r"|(?P<plus>\+)"
            r"|(?P<digits>\d+)"
            rf"|(?P<odd>[{odd}]+)"
            r"|(?P<alpha>[^\W\d_]+)"
        )


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


@cache
def default_lexicon() -> NumberLexicon:
    """The packaged number words, for callers outside the spaCy pipeline (``normalize_phone``,
    tests); the pipeline's component is given its own lexicon in ``initialize``."""
    return NumberLexicon()


def _units(text: str, lex: NumberLexicon) -> list[_Unit]:
    out: list[_Unit] = []
    words, letters = lex.words, lex.letters
    for match in lex.units.finditer(text):
        kind = match.lastgroup or ""
        if kind == "alpha":  # most units are ordinary words: settle them first and cheaply
            raw = match.group()
            folded = raw.casefold()
            value = words.get(folded)
            if value is not None:
                out.append(_Unit(*match.span(), "word", value))
            elif raw[0] in letters and all(c in letters for c in raw):
                out.append(_Unit(*match.span(), "letter", ("".join(letters[c] for c in raw),)))
            elif folded[:3] in lex.word_prefixes and lex.glued_words.fullmatch(raw):
                start = match.start()
                for word in lex.word_run.finditer(raw):  # a glued run: "nollsjunoll"
                    out.append(_Unit(start + word.start(), start + word.end(), "word",
                                     words[word.group().casefold()]))
        elif kind == "digits":
            raw = match.group()
            if raw.isascii():
                out.append(_Unit(*match.span(), "digits", (raw,)))
            else:
                out.append(_Unit(*match.span(), "unicode", ("".join(str(unicodedata.decimal(c)) for c in raw),)))
        elif kind == "odd":
            out.append(_Unit(*match.span(), "unicode", ("".join(lex.odd_digits[c] for c in match.group()),)))
        else:
            out.append(_Unit(*match.span(), kind, ("",)))
    return out


def _separator(char: str) -> bool:
    """Spaces, punctuation and symbols (✨ ~ | · ⁄ ‑) may stand between the parts of a number."""
    return char in "\n\r\t" or unicodedata.category(char)[0] in "PSZ"


@lru_cache(maxsize=4096)
def _gap_ok(gap: str, lex: NumberLexicon) -> bool:
    """Whether two units this far apart belong to one number (cached: a handful of gaps,
    " " and "-" above all, make up most of them)."""
    visible = "".join(c for c in gap if c not in _INVISIBLE)
    if lex.joiner_gap.match(visible):  # "șaptezeci și șapte"
        return True
    return len(visible) <= _MAX_GAP and all(_separator(c) for c in visible) and visible.count("\n") <= 1


def _runs(text: str, units: list[_Unit], lex: NumberLexicon) -> list[list[_Unit]]:
    runs: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        if current and not _gap_ok(text[current[-1].end : unit.start], lex):
            runs.append(current)
            current = []
        current.append(unit)
    if current:
        runs.append(current)
    return [run for run in runs if sum(len(u.values[0]) for u in run) >= _MIN_DIGITS]


def _with_tens_readings(run: list[_Unit], text: str, lex: NumberLexicon) -> list[list[_Unit]]:
    """Both readings of 'tens word + unit word': 'fyrtio sex' as 46, or as 40 then 6."""
    merged: list[_Unit] = []
    for unit in run:
        prev = merged[-1] if merged else None
        gap = text[prev.end : unit.start] if prev is not None else ""
        if (prev is not None and prev.kind == "word" and unit.kind == "word" and len(prev.values[0]) == 2
                and prev.values[0].endswith("0") and prev.values[0] != "10" and len(unit.values[0]) == 1
                and unit.values[0] != "0" and (gap in (" ", "-") or lex.joiner_gap.match(gap))):
            both = (prev.values[0][0] + unit.values[0], prev.values[0] + unit.values[0])
            merged[-1] = _Unit(prev.start, unit.end, "word", both)
        else:
            merged.append(unit)
    return [merged]


@cache
def _region_rules(region: str) -> tuple[str | None, int, frozenset[int]]:
    """Trunk prefix, country code and the possible lengths of a national number."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk = meta.national_prefix if meta else None
    lengths = frozenset(meta.general_desc.possible_length or ()) if meta and meta.general_desc else frozenset()
    return trunk, phonenumbers.country_code_for_region(region), lengths


class _Number(NamedTuple):
    e164: str
    country: str | None
    line_type: str


@lru_cache(maxsize=16_384)
def _number(digits: str, region: str) -> _Number | None:
    """The valid number these digits spell, or None.

    Cached because the same numbers recur across the ads of a crawl, and a parse with its
    validity and type checks is most of what reading a number costs.
    """
    trunk, country_code, lengths = _region_rules(region)
    if digits.startswith("+"):
        candidate = digits
    elif digits.startswith("00"):
        candidate = "+" + digits[2:]
    elif trunk and digits.startswith(trunk):
        if lengths and len(digits) - len(trunk) not in lengths:
            return None  # cheaper than letting phonenumbers parse and reject it
        candidate = digits
    elif digits.startswith(str(country_code)) and len(digits) >= 10:
        candidate = "+" + digits
    elif not trunk and len(digits) in lengths:
        candidate = digits  # Norway, Spain…: national numbers have no trunk prefix
    else:
        return None  # a national number without the trunk prefix: a price, an id, a date
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    # is_valid_number is "its own region's metadata gives it a type": one type lookup
    # answers both questions.
    country = phonenumbers.region_code_for_number(number)
    if country is None:
        return None
    line_type = phonenumbers.number_type(number)
    if line_type == PhoneNumberType.UNKNOWN:
        return None
    return _Number(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), country,
                   _TYPES.get(line_type, "unknown"))


def clear_number_cache() -> None:
    """Forget parsed numbers (benchmarks time a cold pass)."""
    _number.cache_clear()


def _digits_of(units: list[_Unit], readings: tuple[int, ...]) -> str:
    out = []
    for index, unit in enumerate(units):
        if unit.kind == "plus":
            if index:
                return ""  # a "+" inside a run is not an international prefix
            out.append("+")
        elif unit.kind == "zero":
            if not (out and out[0] == "+"):
                out.append("0")  # "+46 (0)70": the trunk zero is dropped
        else:
            out.append(unit.values[readings[index] if len(unit.values) > 1 else 0])
    return "".join(out)


def _readings(window: list[_Unit]) -> list[tuple[int, ...]]:
    """Reading choices per unit; all combinations when few, else the two uniform ones."""
    ambiguous = sum(1 for u in window if len(u.values) > 1)
    if ambiguous <= _MAX_AMBIGUOUS:
        return list(itertools.product(*[range(len(u.values)) for u in window]))
    return [tuple(0 for _ in window), tuple(min(1, len(u.values) - 1) for u in window)]


def _obfuscated(text: str, units: list[_Unit]) -> bool:
    if any(u.kind in ("word", "letter", "unicode", "hint") for u in units):
        return True
    gaps = [text[a.end : b.start] for a, b in itertools.pairwise(units)]
    if any(c not in _PLAIN_GAP for gap in gaps for c in gap):
        return True
    singles = sum(1 for u in units if u.kind == "digits" and len(u.values[0]) == 1)
    before = text[units[0].start - 1] if units[0].start else " "
    after = text[units[-1].end] if units[-1].end < len(text) else " "
    return singles >= 5 or before.isalpha() or after.isalpha()


class _Budget:
    def __init__(self, parses: int) -> None:
        self.left = parses


def _cut(text: str, run: list[_Unit], region: str, budget: _Budget, lex: NumberLexicon) -> list[PhoneHit]:
    """Cut a run into valid numbers, longest window first, left to right."""
    hits: list[PhoneHit] = []
    for units in _with_tens_readings(run, text, lex):
        i = 0
        while i < len(units):
            found = None
            # Every unit but "+" and "(0)" adds a digit: longer windows cannot be a number.
            for j in range(min(len(units), i + _MAX_DIGITS + 2), i, -1):
                window = units[i:j]
                raw = text[window[0].start : window[-1].end]
                shortest = sum(min(len(v) for v in u.values) for u in window)
                longest = sum(max(len(v) for v in u.values) for u in window)
                if shortest > _MAX_DIGITS or longest < _MIN_DIGITS:
                    continue
                if _DATE_OR_TIME.match(raw) or _ORG_NUMBER.match(raw):
                    continue
                for readings in _readings(window):
                    digits = _digits_of(window, tuple(readings))
                    if not _MIN_DIGITS <= len(digits.lstrip("+")) <= _MAX_DIGITS:
                        continue
                    if budget.left <= 0:
                        return hits
                    budget.left -= 1
                    number = _number(digits, region)
                    if number is not None:
                        found = (j, window, number, raw)
                        break
                if found:
                    break
            if found is None:
                i += 1
                continue
            j, window, number, raw = found
            hits.append(PhoneHit(
                e164=number.e164, raw=raw, start=window[0].start, end=window[-1].end, country=number.country,
                line_type=number.line_type, obfuscated=_obfuscated(text, window),
            ))
            i = j
    return hits


def find_phones(text: str, region: str, lexicon: NumberLexicon | None = None) -> list[PhoneHit]:
    """Every phone number in ``text`` (each E.164 once, first occurrence), however written.
    ``region`` (ISO 3166 alpha-2) reads national numbers; the caller passes its default.
    """
    text = text.replace("\r\n", "\n")
    lex = lexicon or default_lexicon()
    # Every web address holds "/" or "www.": most ads need no URL scan.
    urls = _URL.finditer(text) if "/" in text or "www." in text.lower() else ()
    blocked = [m.span() for m in urls] + [m.span() for m in _NOT_PHONE.finditer(text)]
    units = _units(text, lex)
    if blocked:
        units = [u for u in units if not any(a <= u.start < b for a, b in blocked)]
    seen: set[str] = set()
    hits: list[PhoneHit] = []
    budget = _Budget(_MAX_PARSES)
    for run in _runs(text, units, lex):
        found = _cut(text, run, region.upper(), budget, lex)
        if not found and _zero_hint(text, run, lex):
            # "sjuttio, sjutton, fyrtio, sex, åttiotvå – nolla först": put the zero back.
            zero = _Unit(run[0].start, run[0].start, "hint", ("0",))
            found = [replace(h, start=run[0].start, raw=text[run[0].start : h.end], obfuscated=True)
                     for h in _cut(text, [zero, *run], region.upper(), budget, lex)]
        for hit in found:
            if hit.e164 not in seen:
                seen.add(hit.e164)
                hits.append(hit)
    return hits


def _zero_hint(text: str, run: list[_Unit], lex: NumberLexicon) -> bool:
    if run[0].values[0].startswith(("0", "+")) or run[0].kind == "plus":
        return False
    near = text[max(0, run[0].start - 60) : run[-1].end + 60]
    return any(h.search(near) for h in lex.zero_hints)


def normalize_phone(raw: str, region: str) -> str | None:
    """Whatever an analyst or a page writes ("070-174 06 05", "+46 70…") → E.164, or None."""
    hits = find_phones(raw, region)
    if len(hits) == 1 and hits[0].start <= 2:
        return hits[0].e164
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
