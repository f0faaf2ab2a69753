#!/usr/bin/env python3
"""Sanity checks for the synthetic NLP development corpus (nlp_dev.jsonl).

Usage: python tests/data/check_corpus.py [path/to/nlp_dev.jsonl]

Hard errors (exit 1): bad JSON, missing/extra keys, duplicate or malformed ids,
< 320 ads, a gold phone that is not valid E.164 inside the fiction ranges, an
unknown category or language, a gold town missing from the gazetteer, or any
number in the text that libphonenumber finds valid but that lies outside the
fiction ranges.
Warnings: a gold phone whose digits cannot be recovered from the text by a
simple de-obfuscation, or a fiction-range number recovered from the text that
is not in the gold list (deliberate decoys, such as an ad URL, show up here).
"""
from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import phonenumbers

HERE = Path(__file__).resolve().parent
KEYS = {"id", "title", "text", "region", "location_field", "phones", "towns", "categories", "language"}
CATEGORIES = ["movement", "youth", "third_party", "language_barrier", "controlled_contact",
              "risky_services", "multiple_women", "hotel", "availability", "nationality"]
LANGUAGES = {"sv", "en", "pl", "ro", "ru", "other"}
AU_FICTION = {"+61491570006", "+61491570156", "+61491570157", "+61491570158", "+61491570159",
              "+61491570110", "+61491570313", "+61491570737", "+61491570938"}
SE_FICTION = [r"\+467017406(0[5-9]|[1-9]\d)", r"\+468465004\d\d", r"\+463139006\d\d", r"\+464062804\d\d"]
# Towns whose names are also ordinary words or given names.
COMMON_WORD_TOWNS = ["Vara", "Ed", "Bro", "Kil", "Mora", "Lit", "Bara", "Ås", "Berg", "Sala", "Åre",
                     "Boden", "Hova", "Nora", "Åsa", "Vilhelmina", "Kalix", "Vännäs", "Tidaholm", "Tranås"]
DECOY_PATTERNS = {
    "price": r"\d[\d \u00a0]*(?:kr\b|:-|\s?SEK|€|zł|lei|руб)",
    "time": r"\b\d{1,2}[:.]\d{2}\s*[-–]\s*\d{1,2}[:.]\d{2}\b|\bkl\.? ?\d{1,2}|\b\d{1,2}\s?[-–]\s?\d{1,2}\b",
    "date": r"\b\d{1,2}[/.]\d{1,2}\b|\b20\d\d-\d\d-\d\d\b",
    "postcode": r"\b\d{3} \d{2}\b",
    "age": r"\b\d{2} ?(?:år|y\.?o\.?|years|lat|ani|лет)\b|\bage \d{2}\b|\b\d{2}-åring",
    "measure": r"\b\d{2,3} ?(?:cm|kg)\b|\b\d{2}[A-F]\b",
    "org_no": r"\b\d{6}-\d{4}\b",
    "room": r"(?i)\b(?:rum|room|pokój|rumsnummer|rum nr)\s?\d+",
    "ad_id": r"(?i)(?:annons-id|ad id)\s?\d+|/ad/\d+",
    "masked": r"0\d{1,2}[xX]?-?[xX]{2,}|07x",
    "partial": r"0\d\d-\d\d…",
}

UNITS = {"noll": 0, "nolla": 0, "ett": 1, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "sju": 7, "åtta": 8,
         "nio": 9, "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
         "seven": 7, "eight": 8, "nine": 9, "jeden": 1, "dwa": 2, "trzy": 3, "cztery": 4, "pięć": 5,
         "sześć": 6, "siedem": 7, "osiem": 8, "dziewięć": 9, "unu": 1, "doi": 2, "trei": 3, "patru": 4,
         "cinci": 5, "șase": 6, "șapte": 7, "opt": 8, "nouă": 9, "ноль": 0, "один": 1, "два": 2, "три": 3,
         "четыре": 4, "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9}
TEENS = {"tio": 10, "elva": 11, "tolv": 12, "tretton": 13, "fjorton": 14, "femton": 15, "sexton": 16,
         "sjutton": 17, "arton": 18, "nitton": 19, "ten": 10, "eleven": 11, "twelve": 12, "seventeen": 17}
TENS = {"tjugo": 20, "trettio": 30, "fyrtio": 40, "femtio": 50, "sextio": 60, "sjuttio": 70, "åttio": 80,
        "nittio": 90, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90, "czterdzieści": 40, "șaptezeci": 70, "семьдесят": 70}


def _alt(words):
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


def digit_stream(text: str) -> str:
    """All digits of a text after a rough de-obfuscation (number words, O/l for 0/1, Unicode digits)."""
    text = "".join(str(unicodedata.digit(c)) if not c.isascii() and unicodedata.digit(c, None) is not None
                   else c for c in text).lower()
    units = {k: v for k, v in UNITS.items() if v}
    text = re.sub(rf"({_alt(TENS)})(?:-| | și | и |)({_alt(units)})(?![a-zåäöа-я])",
                  lambda m: str(TENS[m[1]] + UNITS[m[2]]), text)
    allw = {**UNITS, **TEENS, **TENS}
    text = re.sub(f"({_alt(allw)})", lambda m: str(allw[m[1]]), text)
    chars = list(text)
    for _ in range(3):
        for i, c in enumerate(chars):
            if c in "oil":
                left = next((x for x in reversed(chars[:i]) if x not in " -.–/"), " ")
                right = next((x for x in chars[i + 1:] if x not in " -.–/"), " ")
                if left.isdigit() or right.isdigit():
                    chars[i] = "0" if c == "o" else "1"
    return re.sub(r"[^0-9]", "", "".join(chars))


def allowed(e164: str) -> bool:
    return e164 in AU_FICTION or any(re.fullmatch(p, e164) for p in SE_FICTION)


def load_gazetteer() -> set[str] | None:
    tsv = HERE.parent.parent / "geo" / "data" / "se_towns.tsv"
    if not tsv.exists():
        return None
    names = set()
    canon = tsv.parent / "se_canonical_names.csv"
    if canon.exists():
        for line in canon.read_text(encoding="utf-8").splitlines()[1:]:
            if "," in line and not line.startswith("#"):
                names.add(line.split(",")[1].strip())
    for line in tsv.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("geonameid"):
            continue
        parts = line.split("\t")
        if len(parts) > 1:
            names.add(parts[1])
    return names


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "nlp_dev.jsonl"
    errors: list[str] = []
    warnings: list[str] = []
    ads = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            ads.append(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: invalid JSON ({exc})")
    gaz = load_gazetteer()
    ids = Counter(a.get("id") for a in ads)
    errors += [f"duplicate id {i}" for i, c in ids.items() if c > 1]
    if len(ads) < 320:
        errors.append(f"only {len(ads)} ads (need >= 320)")
    stats = Counter()
    cats = Counter()
    langs = Counter()
    decoy_kinds = Counter()
    cw_real = Counter()
    cw_decoy = Counter()
    for n, a in enumerate(ads, 1):
        aid = a.get("id", f"line {n}")
        if set(a) != KEYS:
            errors.append(f"{aid}: keys {sorted(set(a) ^ KEYS)} missing/extra")
            continue
        if a["id"] != f"dev-{n:04d}":
            errors.append(f"{aid}: expected id dev-{n:04d}")
        if a["region"] != "SE":
            errors.append(f"{aid}: region {a['region']!r}")
        if not isinstance(a["title"], str) or not isinstance(a["text"], str) or not a["text"]:
            errors.append(f"{aid}: title/text must be strings, text non-empty")
        if a["location_field"] is not None and not isinstance(a["location_field"], str):
            errors.append(f"{aid}: location_field must be str or null")
        for key in ("phones", "towns", "categories"):
            if not isinstance(a[key], list) or len(set(a[key])) != len(a[key]):
                errors.append(f"{aid}: {key} must be a list without duplicates")
        for p in a["phones"]:
            try:
                num = phonenumbers.parse(p)
                ok = phonenumbers.is_valid_number(num) and \
                    phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) == p
            except phonenumbers.NumberParseException:
                ok = False
            if not ok:
                errors.append(f"{aid}: phone {p} is not valid E.164")
            if not allowed(p):
                errors.append(f"{aid}: phone {p} outside the fiction ranges")
        for c in a["categories"]:
            if c not in CATEGORIES:
                errors.append(f"{aid}: unknown category {c!r}")
        if a["language"] not in LANGUAGES:
            errors.append(f"{aid}: unknown language {a['language']!r}")
        if gaz is not None:
            for t in a["towns"]:
                if t not in gaz:
                    errors.append(f"{aid}: town {t!r} not in gazetteer")
        full = a["title"] + "\n" + a["text"]
        # Nothing in the text may be a valid phone number outside the fiction ranges.
        for m in phonenumbers.PhoneNumberMatcher(full, "SE", leniency=phonenumbers.Leniency.VALID):
            e = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            if not allowed(e):
                errors.append(f"{aid}: text contains real-range number {m.raw_string!r} ({e})")
            elif e not in a["phones"]:
                errors.append(f"{aid}: text contains {e} ({m.raw_string!r}) not in gold phones")
        # Gold phones should be recoverable from the text.
        stream = digit_stream(full)
        for p in a["phones"]:
            nsn = str(phonenumbers.parse(p).national_number)
            if nsn not in stream:
                warnings.append(f"{aid}: gold phone {p} not recovered from text")
        for pat in (r"7017406\d\d", r"8465004\d\d", r"3139006\d\d", r"4062804\d\d", r"491570\d\d\d"):
            for m in re.finditer(pat, stream):
                if not any(p.endswith(m.group()) for p in a["phones"]):
                    warnings.append(f"{aid}: digits {m.group()} in text but not gold (decoy?)")
        # Plain vs obfuscated: a phone is plain if its digits appear in an ASCII run of digits
        # and ordinary separators.
        runs = ["".join(ch for ch in r if ch in "0123456789")
                for r in re.findall(r"(?<![^\W\d_])[+0-9][0-9 ()\-./]{5,}[0-9](?![^\W\d_])", full)
                if all(len(re.sub(r"[^0-9]", "", g)) >= 2 or g == "(0)" for g in re.split(r"[ \-./]+", r))]
        kinds = set()
        for p in a["phones"]:
            nsn = str(phonenumbers.parse(p).national_number)
            kinds.add("plain" if any(nsn in r for r in runs) else "obfuscated")
        if "obfuscated" in kinds:
            stats["ads with an obfuscated phone"] += 1
        if "plain" in kinds:
            stats["ads with a plain phone"] += 1
        stats[f"ads with {min(len(a['phones']), 2)}{'+' if len(a['phones']) >= 2 else ''} phone(s)"] += 1
        stats["ads with >= 1 town"] += bool(a["towns"])
        stats["ads with location_field"] += a["location_field"] is not None
        stats["ads with no indicator"] += not a["categories"]
        nsns = [str(phonenumbers.parse(p).national_number) for p in a["phones"]]
        def scrub(m: re.Match[str], nsns: list[str] = nsns) -> str:
            return " " if any(n in re.sub(r"[^0-9]", "", m.group()) for n in nsns) else m.group()

        scrubbed = re.sub(r"[+0-9][0-9 \-–./()*$;,|_~]{5,}[0-9]", scrub, a["text"])
        found = [k for k, pat in DECOY_PATTERNS.items() if re.search(pat, scrubbed)]
        decoy_kinds.update(found)
        stats["ads with a number-like decoy"] += bool(found)
        for w in COMMON_WORD_TOWNS:
            hits = re.findall(rf"(?<![\wÅÄÖåäö]){w}(?![\wÅÄÖåäö])", full + "\n" + (a["location_field"] or ""),
                              flags=re.IGNORECASE)
            if not hits:
                continue
            if w in a["towns"]:
                cw_real[w] += 1
            else:
                cw_decoy[w] += 1
        cats.update(a["categories"])
        langs[a["language"]] += 1
    total = len(ads)
    print(f"{path}: {total} ads")
    print("\ncategories (ads):")
    for c in CATEGORIES:
        print(f"  {c:20s} {cats[c]:4d}")
    print("\nlanguages:")
    for lang, c in langs.most_common():
        print(f"  {lang:6s} {c:4d} ({100 * c / max(total, 1):.0f}%)")
    print("\nother:")
    for k, v in sorted(stats.items()):
        print(f"  {k:32s} {v:4d} ({100 * v / max(total, 1):.0f}%)")
    print(f"  decoy kinds: {dict(decoy_kinds)}")
    print(f"  common-word towns as real towns: {sum(cw_real.values())} {dict(cw_real)}")
    print(f"  common-word towns as decoys (ad mentions word, town not gold): {sum(cw_decoy.values())} {dict(cw_decoy)}")
    for w in warnings:
        print("WARNING", w)
    for e in errors:
        print("ERROR", e)
    low = [c for c in CATEGORIES if cats[c] < 25]
    if low:
        print("ERROR categories with < 25 ads:", low)
    return 1 if errors or low else 0


if __name__ == "__main__":
    sys.exit(main())
