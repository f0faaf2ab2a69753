"""Phone finder: every obfuscation it must see through, every decoy it must leave alone."""

from __future__ import annotations

import time

import pytest

from nlp.phones import find_phones, normalize_phone

N = "+46701740605"


@pytest.mark.parametrize(
    ("text", "obfuscated"),
    [
        ("Ring 070-174 06 05", False),
        ("070 174 06 05", False),
        ("(070) 174-0605", False),
        ("+46 (0)70 174 06 05", False),
        ("0046 70 174 06 05", False),
        ("46701740605", False),
        ("noll sju noll ett sju fyra noll sex noll fem", True),
        ("noll sjuttio – sjutton fyrtio – sex noll fem", True),
        ("nollsjunoll ettsjufyra nollsexnollfem", True),
        ("zero seven zero one seven four zero six zero five", True),
        ("oh seven oh, one seven four, oh six, oh five", True),
        ("O7O-174 O6 O5", True),
        ("07O1740605", True),
        ("O7O l74 O6 O5", True),
        ("070 one74 06 05", True),
        ("07three? no: 070 17four 06 05", True),
        ("０７０１７４０６０５", True),
        ("𝟎𝟕𝟎𝟏𝟕𝟒𝟎𝟔𝟎𝟓", True),
        ("⓪⑦⓪①⑦④⓪⑥⓪⑤", True),
        ("0️⃣7️⃣0️⃣1️⃣7️⃣4️⃣0️⃣6️⃣0️⃣5️⃣", True),
        ("070*174*06*05", True),
        ("070.174.06.05", True),
        ("070 / 174 06 05", True),
        ("070~174~06~05", True),
        ("070✨174✨06✨05", True),
        ("070 | 174 | 06 | 05", True),
        ("0‑7‑0‑1‑7‑4‑0‑6‑0‑5", True),
        ("0 7 0 1 7 4 0 6 0 5", True),
        ("070-174\n06 05", True),
        ("ring0701740605", True),
        ("weekend0701740605kyss", True),
        ("sjuttio, sjutton, fyrtio, sex, noll fem – med nolla före", True),
        ("seven zero one seven four zero six zero five (start with zero)", True),
        ("zero siedem zero jeden siedem cztery zero sześć zero pięć", True),
        ("zero șapte zero, unu șapte patru, zero șase, zero cinci", True),
        ("ноль семь ноль один семь четыре ноль шесть ноль пять", True),
    ],
)
def test_finds_the_number_however_it_is_written(text: str, obfuscated: bool) -> None:
    hits = find_phones(text, "SE")
    assert [h.e164 for h in hits] == [N], text
    assert hits[0].obfuscated is obfuscated
    assert hits[0].country == "SE" and hits[0].line_type == "mobile"


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("08-465 004 12", "+46846500412"),
        ("031-390 06 42", "+46313900642"),
        ("040 628 04 55", "+46406280455"),
        ("fyrtiosex sju noll ett sju fyra noll sex nittionio", "+46701740699"),  # "fyrtiosex" as 46
        ("Пиши в WhatsApp: ноль семь ноль один семь четыре ноль шесть семьдесят один", "+46701740671"),
        ("Sună la zero șapte zero, unu șapte patru, zero șase, șaptezeci și șapte", "+46701740677"),
        ("Call +61 491 570 156", "+61491570156"),
        ("Text me at 08-465 004 50", "+46846500450"),  # "at 08" is not a time when the number goes on
        ("070$174$06$05", "+46701740605"),  # a currency symbol between digits is a separator
        ("Ring 070-174 06 05, 1 500 kr", "+46701740605"),
        ("070 174 06 05 500kr", "+46701740605"),  # a price after the number keeps its last groups
        ("0701740605 kr", "+46701740605"),
        ("€ 0701740605", "+46701740605"),
    ],
)
def test_other_ranges_and_countries(text: str, e164: str) -> None:
    assert e164 in [h.e164 for h in find_phones(text, "SE")]


def test_two_numbers_in_one_run() -> None:
    hits = find_phones("070-174 06 05 / 070-174 06 06", "SE")
    assert [h.e164 for h in hits] == ["+46701740605", "+46701740606"]


@pytest.mark.parametrize(
    "decoy",
    [
        "Pris 1500 kr, 2000:-, 2 000 SEK/h, 150€",
        "Öppet 10:00-22:00, kl 18–02, 08.00-20.00",
        "Datum 12/11, 2026-11-28, 28.11.2026, 01.12.2026",
        "Postnummer 802 67, SE-411 03",
        "Jag är 23 år, 168 cm, 55 kg, 75C",
        "Org.nr 556677-8899",
        "Rum 214, room 1207",
        "Annons-id 8812345, www.example.se/ad/0701740605",
        "Ring 07x-xxx xx xx eller 070-XXX XX XX",
        "Ring 070-17… snart",
        "sex tjejer, en kväll, två timmar, tre dagar",
        "Cena 1.500,00 zł, 3000:-, $1,500, 25 000 ₽, 250,- EUR",
        "Nur 1.12.–5.12., 30.11.26 – 02.12.26",
    ],
)
def test_leaves_decoys_alone(decoy: str) -> None:
    assert find_phones(decoy, "SE") == []


def test_without_the_trunk_prefix_a_national_number_is_not_read() -> None:
    assert find_phones("701740605", "SE") == []


def test_hostile_input_is_bounded() -> None:
    started = time.perf_counter()
    find_phones("0 " * 5000 + "nittio nio " * 500, "SE")
    assert time.perf_counter() - started < 5  # generous: a regression here would take minutes


@pytest.mark.parametrize("raw", ["070-174 06 05", "+46 70 174 06 05", "0701740605", "O7O 174 O6 O5"])
def test_normalize_phone(raw: str) -> None:
    assert normalize_phone(raw, "SE") == N


@pytest.mark.parametrize("raw", ["12", "hello", "", "070-XXX"])
def test_normalize_phone_rejects(raw: str) -> None:
    assert normalize_phone(raw, "SE") is None
