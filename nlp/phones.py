"""Phone numbers: find them however they are written, and normalize them to E.164.

Ads hide numbers from filters: spelled digits ("noll sju noll"), number words with
tens ("sjuttio", "fyrtiosex"), letters for digits ("O7O"), Unicode and keycap digits,
odd separators, digits spread out or split over a line, glued to words. The finder:

1. finds *units* — digit runs, number words, digit-like letters, "+" and "(0)";
2. joins units into *runs* when only a few separator characters lie between them;
3. cuts each run into valid numbers (``phonenumbers`` decides; longest window first),
   trying both readings of "tens + unit" words ("fyrtio sex" = 46, or 40 then 6).

Dates, times, prices, postcodes, organisation numbers and URLs are rejected because
they never validate under the region's rules or are recognised by shape before
validation. The region's rules are its ``phonenumbers`` metadata: whether a national
number carries a trunk prefix (always in Sweden, optionally in the US, never in Norway),
how long it is, how the prefix may rewrite it.
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
_MIN_DIGITS, _MAX_DIGITS = 7, 15  # fewer digits only where a region's numbers are shorter (St Helena: 5)
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
    # kl 18–02, at 9; not "at 12 345 67 89" or "at 08-12 34 56": a number goes on after its first digits
    r"|\b(?:kl\.?|klockan|at)\s*\d{1,2}(?:[.:]\d{2})?(?:\s*[-–]\s*\d{1,2}(?:[.:]\d{2})?)?\b(?![ \t]*[-–./]?[ \t]*\d)"
    r"|\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[./]\d{1,2}[./](?:19|20)\d{2}\b|\b\d{1,2}/\d{1,2}\b",  # dates
    re.IGNORECASE,
)
# Days ("1.12.–5.12.") and prices ("1 500 kr", "1.500,00 zł", "3000:-"). One pattern that
# starts with a digit: the regex engine skips to digits, so it costs little per ad. An
# amount never starts right after digits ("070-174 06 05 kr" keeps its last groups) and a
# symbol between digits is a separator ("070$174$06$29"), not a currency.
_DAY_OR_PRICE = re.compile(
    r"\d(?:(?<![\d.]\d)\d?\.\d{1,2}\.(?!\d)"  # not "20.12.34.", a number in New Caledonia
    r"|(?<![\w.,]\d)(?<!\d[^\w\n]\d)"
    r"(?:\d{0,2}(?:[ .,\u00a0]\d{3}){1,3}(?:[.,]\d{1,2})?|\d{0,5}(?:[.,]\d{1,2})?)\s?"
    r"(?:[$€£₽](?![\d$€£₽])|kr\b|sek\b|nok\b|dkk\b|eur|usd\b|gbp\b|zł|zl\b|pln\b|lei\b|ron\b|rub\b|руб|chf\b|:-|,-))",
    re.IGNORECASE,
)
_CURRENCY_SYMBOLS = "$€£₽"
_AMOUNT_AFTER_SYMBOL = re.compile(  # "$1,500", "€ 150" (not "€ 406 12 345": a number goes on)
    r"[$€£₽](?<![\d$€£₽][$€£₽])(?<!\d\s[$€£₽])\s?"
    r"(?:\d{1,3}(?:[ .,\u00a0]\d{3}){1,3}(?:[.,]\d{1,2})?|\d{1,6}(?:[.,]\d{1,2})?)(?![\d$€£₽])(?![ \t]?\d)"
)
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:se|com|net|org|eu|nu|info)/\S*", re.I)
_DATE_OR_TIME = re.compile(
    r"^\s*(?:\d{1,2}[.:]\d{2}\s*[-–]\s*\d{1,2}[.:]\d{2}"  # 10.00-22.00
    r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 2026-11-28
    # 28/11/2026, 11/28/26: day and month are at most 31 ("75.12.34" is a number in New Caledonia)
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:\d{2}|\d{4}))\s*$"
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


def _runs(text: str, units: list[_Unit], lex: NumberLexicon, min_digits: int) -> list[list[_Unit]]:
    runs: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        if current and not _gap_ok(text[current[-1].end : unit.start], lex):
            runs.append(current)
            current = []
        current.append(unit)
    if current:
        runs.append(current)
    return [run for run in runs if sum(len(u.values[0]) for u in run) >= min_digits]


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


class _Format(NamedTuple):
    leading: re.Pattern[str] | None  # the most detailed leading-digits pattern, when the format has one
    pattern: re.Pattern[str]
    prefix_required: bool  # written nationally, a number of this format carries the trunk prefix


class _Rules(NamedTuple):
    """How a region writes its numbers nationally, read from its ``phonenumbers`` metadata."""

    country_code: str
    lengths: frozenset[int]  # possible lengths of a national significant number
    prefix: re.Pattern[str] | None  # national_prefix_for_parsing: the trunk prefix, carrier codes, local forms
    transform: bool  # the prefix rewrites the number (Argentina's "15", the Caribbean's local 7 digits)
    bare: bool  # some national numbers are written without any prefix (none exists, or it is optional)
    formats: tuple[_Format, ...]  # which numbers need the prefix (those of the country code's main region)
    min_digits: int  # the fewest digits a national number is written with, at most _MIN_DIGITS


def _prefix_required(rule: str | None, optional: bool | None) -> bool:
    # phonenumbers' own test (PhoneNumberMatcher, leniency VALID): a formatting rule that
    # is only the first group, "(\\1)" at most, writes no prefix.
    return bool(rule) and not optional and not re.fullmatch(r"\(?\\1\)?", rule or "")


@cache
def _region_rules(region: str) -> _Rules:
    """Whether and how a national number carries a trunk prefix is the region's own rule:
    Sweden writes 070…, the United States 305-… (its "1" is optional), Norway has none."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    country_code = phonenumbers.country_code_for_region(region)
    if meta is None:  # not a region phonenumbers knows: international numbers only
        return _Rules(str(country_code), frozenset(), None, False, False, (), _MIN_DIGITS)
    lengths = frozenset(meta.general_desc.possible_length or ()) if meta.general_desc else frozenset()
    main = phonenumbers.PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(country_code))
    formats = tuple(
        _Format(re.compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None,
                re.compile(f.pattern or ""),
                _prefix_required(f.national_prefix_formatting_rule, f.national_prefix_optional_when_formatting))
        for f in (main or meta).number_format
    )
    prefix = re.compile(meta.national_prefix_for_parsing) if meta.national_prefix_for_parsing else None
    # A number no format matches needs no prefix either (phonenumbers' rule): a region
    # without formats writes every number bare.
    bare = prefix is None or not formats or not all(f.prefix_required for f in formats)
    trunk = len(meta.national_prefix or "")
    shortest = min(lengths) + (0 if bare else trunk) if lengths else _MIN_DIGITS
    return _Rules(str(country_code), lengths, prefix, bool(meta.national_prefix_transform_rule), bare, formats,
                  min(_MIN_DIGITS, shortest))


def _needs_prefix(rules: _Rules, national: str) -> bool:
    """Whether the format this national number is written in carries the trunk prefix."""
    for fmt in rules.formats:
        if (fmt.leading is None or fmt.leading.match(national)) and fmt.pattern.fullmatch(national):
            return fmt.prefix_required
    return False


class _Number(NamedTuple):
    e164: str
    country: str | None
    line_type: str


def _candidates(digits: str, rules: _Rules) -> list[tuple[str, bool]]:
    """What ``phonenumbers`` is asked to parse, in order, and whether that reading writes a
    national number without its prefix (then its format must allow that)."""
    if digits.startswith("+"):
        return [(digits, False)]
    if digits.startswith("00"):
        return [("+" + digits[2:], False)]
    out: list[tuple[str, bool]] = []
    prefix = rules.prefix.match(digits) if rules.prefix else None
    if prefix:
        # phonenumbers rewrites the number when the prefix pattern's last group took part
        rewrites = rules.transform and bool(prefix.groups()) and prefix.groups()[-1] is not None
        # Cheaper than letting phonenumbers parse and reject it: after the prefix, a
        # national number of a possible length (unless the prefix rewrites the number).
        if rewrites or not rules.lengths or len(digits) - prefix.end() in rules.lengths:
            out.append((digits, False))
    if digits.startswith(rules.country_code) and len(digits) >= 10:
        out.append(("+" + digits, False))
    if rules.bare and len(digits) in rules.lengths:
        # Norway, Spain…: no trunk prefix; the US, China, Brazil…: optional for some numbers.
        out.append((digits, rules.prefix is not None))
    # Nothing else: a national number without a required trunk prefix is a price, an id, a date.
    return out


@lru_cache(maxsize=16_384)
def _number(digits: str, region: str) -> _Number | None:
    """The valid number these digits spell, or None.

    Cached because the same numbers recur across the ads of a crawl, and a parse with its
    validity and type checks is most of what reading a number costs.
    """
    rules = _region_rules(region)
    for candidate, bare in _candidates(digits, rules):
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        # is_valid_number is "its own region's metadata gives it a type": one type lookup
        # answers both questions.
        country = phonenumbers.region_code_for_number(number)
        if country is None:
            continue
        line_type = phonenumbers.number_type(number)
        if line_type == PhoneNumberType.UNKNOWN:
            continue
        if bare and _needs_prefix(rules, phonenumbers.national_significant_number(number)):
            continue  # written without the trunk prefix its format requires: not a number here
        return _Number(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), country,
                       _TYPES.get(line_type, "unknown"))
    return None


@lru_cache(maxsize=1024)
def _written_nationally(raw: str, region: str) -> bool:
    """Whether a date-shaped text is exactly how the region writes one of its numbers
    ("20.12.34" in New Caledonia): then it is read as the number, as phonenumbers does."""
    number = _number(re.sub(r"\D", "", raw), region)
    if number is None:
        return False
    national = phonenumbers.format_number(phonenumbers.parse(number.e164), phonenumbers.PhoneNumberFormat.NATIONAL)
    return national == raw


def clear_number_cache() -> None:
    """Forget parsed numbers (benchmarks time a cold pass)."""
    _number.cache_clear()
    _written_nationally.cache_clear()


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
    min_digits = _region_rules(region).min_digits
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
                if shortest > _MAX_DIGITS or longest < min_digits:
                    continue
                if _ORG_NUMBER.match(raw):
                    continue
                if _DATE_OR_TIME.match(raw) and not _written_nationally(raw.strip(), region):
                    continue
                for readings in _readings(window):
                    digits = _digits_of(window, tuple(readings))
                    if not min_digits <= len(digits.lstrip("+")) <= _MAX_DIGITS:
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
    region = region.upper()
    rules = _region_rules(region)
    # Every web address holds "/" or "www.": most ads need no URL scan.
    urls = _URL.finditer(text) if "/" in text or "www." in text.lower() else ()
    blocked = [m.span() for m in urls] + [m.span() for m in _NOT_PHONE.finditer(text)]
    if rules.bare:
        # Only where national numbers may be written bare can an amount or a day pass for
        # one: where the trunk prefix is required (Sweden), no price starts with it.
        blocked += [m.span() for m in _DAY_OR_PRICE.finditer(text)]
        if any(symbol in text for symbol in _CURRENCY_SYMBOLS):
            blocked += [m.span() for m in _AMOUNT_AFTER_SYMBOL.finditer(text)]
    units = _units(text, lex)
    if blocked:
        units = [u for u in units if not any(a <= u.start < b for a, b in blocked)]
    seen: set[str] = set()
    hits: list[PhoneHit] = []
    budget = _Budget(_MAX_PARSES)
    for run in _runs(text, units, lex, rules.min_digits):
        found = _cut(text, run, region, budget, lex)
        if not found and _zero_hint(text, run, lex):
            # "sjuttio, sjutton, fyrtio, sex, åttiotvå – nolla först": put the zero back.
            zero = _Unit(run[0].start, run[0].start, "hint", ("0",))
            found = [replace(h, start=run[0].start, raw=text[run[0].start : h.end], obfuscated=True)
                     for h in _cut(text, [zero, *run], region, budget, lex)]
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
