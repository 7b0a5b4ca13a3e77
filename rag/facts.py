"""What a sentence states that cannot be paraphrased: quantities with their scale, months, code and paths, quoted
strings and names. The support check requires a claim's facts in its cited sentence verbatim; the conflict
finder compares the quantities of two sources.

The rules here are about writing systems (digits, capitals, quotation marks, slashes), never about words of a
language: number and scale words, month names and the capitalised words that are not names come from the
language's resource file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag import languages
from rag.text import fold

# A numeral: digits with optional group separators and one decimal part ("14,3", "1 500", "14.3", "1,500,000").
# "0-59" is a range of two numbers, "-20" a number; "e-8139" (inside an identifier) is not one, nor the section of a
# manual page ("fstab(5)").
_NUMERAL = re.compile(r"(?<![\w.,/:])(?<![^\W\d]-)(?<![^\W\d]\()(\d{1,3}(?:[ \u00a0\u202f.,]\d{3})+|\d+)(?:([.,])(\d+))?(?![\w/]|[.,:]\d)")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_TOKEN = re.compile(r"\S+")
# Code: a path, an option, a manual page, a file or identifier with inner dots, underscores or equal signs, or
# `backquoted`.
_CODE = re.compile(
    r"`[^`\n]+`"
    r"|(?<![\w/])(?:~|\.{1,2})?/[\w.+~@%-]+(?:/[\w.+~@%*-]*)*"
    r"|(?<![\w-])--?[A-Za-z][\w-]*"
    r"|(?<![\w.+-])[\w.+-]*[A-Za-z][\w.+-]*\(\d\w{0,3}\)"  # a manual page: fstab(5), resolv.conf(5), crontab(1p)
    r"|\b[\w+-]*[A-Za-z][\w+-]*(?:(?:[._=]|::?)[\w+-]+)+\b"
    r"|\b\d+(?:\.\d+){2,}\b"  # a version: 2.6.32
)
# A date in ISO 8601 digits (2015-04-26): its month is a month, as "26 April 2015" names it, not a number.
_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\w-])")
_ABBREVIATION = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]\.?")  # "i.e", "e.g.", "U.S": letters and dots, not code
# A one-letter quote ("N") is matched too, then dropped: skipping it would pair its closing mark with the next opening.
_QUOTED = re.compile(r"\"([^\"\n]+)\"|«\s*([^»\n]{2,}?)\s*»|“([^”\n]{2,})”|„([^“”\n]{2,})[“”]|‘([^’\n]{2,})’")
_CLOSERS = ".,;:!?)]}»”\"'’"
_LINKED_SCALE = 1e6


@dataclass(frozen=True)
class Quantity:
    """A number as written (raw), its value with the scale applied, and where it stands in the text."""

    value: float
    raw: str
    start: int
    end: int
    unit: str = ""  # the word or symbol right after the number and its scale ("ans", "%", "GB"), folded


Date = tuple[int | None, int, int | None]  # (year, month, day): a month with its day, its year or both


@dataclass(frozen=True)
class Facts:
    numbers: frozenset[float]
    months: frozenset[int]
    ordinals: frozenset[int]
    dates: frozenset[Date]
    code: frozenset[str]
    quotes: tuple[str, ...]
    names: frozenset[str]
    languages: frozenset[str] = frozenset()  # ISO codes of the languages it names ("German" is "de")

    @property
    def empty(self) -> bool:
        return not (
            self.numbers or self.months or self.ordinals or self.dates or self.code or self.quotes or self.names or self.languages
        )


def _parse_numeral(match: re.Match, lang: str) -> float | None:
    """The value of a numeral, read with the language's decimal separator."""
    whole, sep, frac = match.group(1), match.group(2), match.group(3)
    decimal = languages.get(lang).decimal_separator
    groups = re.split(r"[ \u00a0\u202f.,]", whole)
    if len(groups) > 1:
        seps = set(re.findall(r"[ \u00a0\u202f.,]", whole))
        # "1,500" in English is 1500 but "1,500" in French is 1.5: one group separator equal to the decimal
        # separator, with no fraction after it, is a decimal point.
        if len(groups) == 2 and seps == {decimal} and sep is None:
            return float(f"{groups[0]}.{groups[1]}")
        whole = "".join(groups)
    if sep is not None:
        if sep != decimal and frac is not None and len(frac) == 3 and len(groups) == 1:
            return float(whole + frac)  # "1.500" in German: a thousands separator
        return float(f"{whole}.{frac}")
    return float(whole)


def quantities(text: str, lang: str) -> list[Quantity]:
    """Every number of the text, numerals and number words, with the scale words after it applied."""
    resources = languages.get(lang)
    found: list[Quantity] = []
    for match in _NUMERAL.finditer(text):
        value = _parse_numeral(match, lang)
        if value is not None:
            found.append(_scaled(text, value, match.group(0), match.start(), match.end(), resources))
    for match in _WORD.finditer(text):
        number = resources.numbers.get(match.group(0).lower())
        if number is None or any(q.start <= match.start() < q.end for q in found):
            continue  # "hundred" of "two hundred million" is part of 2e8, not a number of its own
        found.append(_scaled(text, float(number), match.group(0), match.start(), match.end(), resources))
    return sorted(found, key=lambda q: q.start)


def _scaled(text: str, value: float, raw: str, start: int, end: int, resources: languages.Language) -> Quantity:
    """Apply the scale words that follow a number ("14 milliards", "3 mil millones", "two hundred million") and
    note its unit."""
    pos, unit = end, ""
    for token in _TOKEN.finditer(text, end):
        if text[pos : token.start()].strip():
            break
        word = token.group(0).lower().rstrip(_CLOSERS)
        scale = resources.scales.get(word)
        # Across a function word only a large scale applies: "centaines de millions" is 1e8, "50 pour cent" is not 5000.
        if scale is not None and (pos == end or scale >= _LINKED_SCALE):
            value *= scale
            end = pos = token.end()
        else:
            pos = token.end()
            if word and word not in resources.stop_words:
                unit = fold(token.group(0).strip(_CLOSERS + "([{«“\"'"))[:12]
                break
        if token.group(0).endswith(tuple(_CLOSERS)):
            break  # "about 40 of. Users said", "3 million. Users": scale and unit stop at the clause's end
    return Quantity(round(value, 6), raw, start, end, unit)


def months(text: str, lang: str) -> set[int]:
    """Month numbers (1..12) named in the text, in its language, or given by an ISO date."""
    names = languages.get(lang).months
    return {int(w) if w.isdigit() else names.index(w.lower()) + 1 for w in month_words(text, lang)}


def ordinals(text: str, lang: str) -> set[int]:
    """The values of the text's ordinal words ("second" is 2), by its language's list."""
    known = languages.get(lang).ordinals
    return {known[w] for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w in known}


def languages_named(text: str, lang: str) -> set[str]:
    """The ISO codes of the languages the text names, by its language's list; "franco-américain" names French."""
    known = _language_names(lang)
    return {known[w] for m in _WORD.finditer(text) for w in fold(m.group(0)).split("-") if w in known}


@lru_cache(maxsize=None)
def _language_names(lang: str) -> dict[str, str]:
    return {fold(word): code for word, code in languages.get(lang).language_names.items()}


def month_words(text: str, lang: str) -> list[str]:
    """The months of the text as written: its month names and the month digits of its ISO dates ("04")."""
    resources = languages.get(lang)
    named = [
        m.group(0) for m in _WORD.finditer(text)
        if m.group(0).lower() in resources.months and (m.group(0)[0].isupper() or not resources.capitalizes_months)
    ]
    return named + [m.group(2) for m in _ISO_DATE.finditer(text)]


def without_iso_months(text: str) -> str:
    """The text with each ISO date's month taken out ("2015-04-26" read as "2015 / 26"): its numbers are then
    those of the same date in words, whose month is a word."""
    return _ISO_DATE.sub(lambda m: f"{m.group(1)} / {m.group(3)}", text)


def numbers(text: str, lang: str) -> set[float]:
    """The values of the text's numbers, an ISO date's month left out (it is a month)."""
    return {q.value for q in quantities(without_iso_months(text), lang)}


def dates(text: str, lang: str) -> set[Date]:
    """The dates of the text as (year, month, day), a part None when not given: ISO dates, and month names with the
    day and year written next to them ("31 août 2026", "26. April 2015", "April 26, 2015", "26 de abril de 2015")."""
    plain = without_iso_months(text)
    return _iso_dates(text) | _word_dates(plain, quantities(plain, lang), lang)


def _iso_dates(text: str) -> set[Date]:
    return {(int(m.group(1)), int(m.group(2)), int(m.group(3))) for m in _ISO_DATE.finditer(text)}


def _word_dates(text: str, found: list[Quantity], lang: str) -> set[Date]:
    """The dates a month name makes with the numbers written next to it, in a text whose ISO dates are taken out
    and whose quantities are `found`."""
    resources = languages.get(lang)
    numbers = [q for q in found if q.value == int(q.value)]
    out: set[Date] = set()
    for match in _WORD.finditer(text):
        word = match.group(0).lower()
        if word not in resources.months:
            continue
        before = [q for q in numbers if q.end <= match.start() and _joins(text[q.end : match.start()], resources)][-1:]
        after, end = [], match.end()
        for q in (q for q in numbers if q.start >= match.end()):
            if len(after) == 2 or not _joins(text[end : q.start], resources):
                break
            after.append(q)
            end = q.end
        year = day = None
        for q in before + after:
            value = int(q.value)
            if year is None and 1000 <= value <= 2999:
                year = value
            elif day is None and 1 <= value <= 31:
                day = value
        if year is not None or day is not None:
            out.add((year, resources.months.index(word) + 1, day))
    return out


def _joins(gap: str, resources: languages.Language) -> bool:
    """The text between a number and a month makes them one date: spaces and marks, or one of the language's date
    joiners ("de"); "12 in August" is a number and a month, not the 12th of August."""
    between = gap.strip(" \u00a0.,").lower()
    return not between or between in resources.date_joiners


def date_stated(date: Date, known: frozenset[Date] | set[Date]) -> bool:
    """One of the known dates gives every part the date gives, the same: "31 August 2024" is not stated by a text
    holding 2024-08-14 and 2026-08-31, though it holds its day, month and year."""
    return any(all(part is None or part == other for part, other in zip(date, date2)) for date2 in known)


def code_spans(text: str) -> list[str]:
    """Paths, options, file names and identifiers that must be quoted exactly ("/etc/fstab", "-b", "apt.conf")."""
    out = []
    for match in _CODE.finditer(text):
        token = match.group(0).strip("`").rstrip(".,;:")
        if token and not _NUMERAL.fullmatch(token) and not _ABBREVIATION.fullmatch(token):
            out.append(token)
    return out


def quoted(text: str) -> list[str]:
    """What the text puts between quotation marks, folded and with its spaces normalised."""
    found = (" ".join(fold(q).split()) for q in quoted_as_written(text))
    return [q for q in found if len(q) >= 2]


def quoted_as_written(text: str) -> list[str]:
    """What the text puts between quotation marks, as written."""
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]


def unquoted(text: str, strings: list[str] | None = None) -> str:
    """The text without what it puts between quotation marks, nor the given strings wherever they stand: a quoted
    message's "NOT" is the message's, not a negation of the sentence quoting it."""
    text = _QUOTED.sub(" ", text)
    for string in strings or []:
        text = re.sub(r"\s+".join(map(re.escape, string.split())), " ", text, flags=re.IGNORECASE)
    return text


def names(text: str, lang: str) -> list[str]:
    """Words that name something: inner capitals (LeCun), acronyms (GRUB), and capitalised words after the first
    in languages that do not capitalise nouns, unless the language capitalises them anyway (months, "French")."""
    resources = languages.get(lang)
    out = []
    for i, match in enumerate(_WORD.finditer(text)):
        word = match.group(0).rstrip("'’-")
        parts = [p for p in re.split(r"[-'’]", word) if p]
        if not parts or all(fold(p) in resources.capitalized or p.lower() in resources.months for p in parts):
            continue
        # Inner capitals within one part of the word: "LeCun", "iPhone"; not "E-Mails" or "Debian-Veröffentlichung".
        inner = any(any(ch.isupper() for ch in p[1:]) and any(ch.islower() for ch in p) for p in parts)
        acronym = len(word) >= 2 and word.isupper()
        capital = word[0].isupper() and i > 0 and not resources.capitalizes_nouns and len(word) >= 3
        opens = not text[: match.start()].strip(" «\"“„¿¡(")
        if inner or acronym or (capital and not opens):
            out.append(word)
    return out


def facts(text: str, lang: str) -> Facts:
    plain = without_iso_months(text)  # an ISO date's month is a month, not a number
    found = quantities(plain, lang)  # read once: the numbers, and the days and years of the dates in words
    return Facts(
        numbers=frozenset(q.value for q in found),
        months=frozenset(months(text, lang)),
        ordinals=frozenset(ordinals(text, lang)),
        dates=frozenset(_iso_dates(text) | _word_dates(plain, found, lang)),
        code=frozenset(code_spans(text)),
        quotes=tuple(quoted(text)),
        names=frozenset(names(text, lang)),
        languages=frozenset(languages_named(text, lang)),
    )


def contains_word(word: str, folded_text: str, endings: tuple[str, ...] = ()) -> bool:
    """The word is a whole word of the (folded) text, or is without one of the language's name endings
    ("LLMs" for "LLM", "LeCun's" for "LeCun"; rag/languages `name_endings`), at least three letters left."""
    key = fold(word)
    keys = [key] + [key[: -len(e)] for e in map(fold, endings) if key.endswith(e) and len(key) - len(e) > 2]
    return any(re.search(rf"(?<!\w){re.escape(k)}(?!\w)", folded_text) for k in keys)


def contains_quote(quote: str, folded_text: str) -> bool:
    """The quoted string (folded, as quoted() gives it) stands in the folded text as whole words: "ro" is not in
    "otro"."""
    return re.search(rf"(?<!\w){re.escape(quote)}(?!\w)", folded_text) is not None


def contains_code(token: str, text: str) -> bool:
    """The code token stands in the text exactly and whole (case kept, spaces normalised): "-i" is not the start
    of "--ignore", nor "/etc/fs" of "/etc/fstab"."""
    return _code_pattern(" ".join(token.split())).search(" ".join(text.split())) is not None


@lru_cache(maxsize=4096)
def _code_pattern(token: str) -> re.Pattern:
    # A letter, digit or dash next to it would make it another token; a dot or slash after it may follow it
    # ("/etc/fstab." ending a sentence; "/etc/apt" of "/etc/apt/sources.list" is the directory it names).
    return re.compile(rf"(?<![\w-]){re.escape(token)}(?![\w-])")
