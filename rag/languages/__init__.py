"""The registry of per-language resources: one TOML file per language in this folder, loaded on first use.

Everything the product writes or reads that belongs to a human language (refusal sentence, note templates,
stop words, number and scale words, month names, negations, the web chat's text) is data in these files; the code
holds none of it.
A new language is a new file named by its ISO 639-1 code.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FOLDER = Path(__file__).parent
FALLBACK = "en"  # whose sentences are used for a language without a file of its own
# Snowball algorithms of PyStemmer by ISO code, for languages detected without a resource file of their own.
SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "et": "estonian", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish",
    "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "nl": "dutch", "no": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish",
}


@dataclass(frozen=True)
class Language:
    """One language's resources, as read from its file."""

    code: str
    name: str
    stemmer: str
    decimal_separator: str
    capitalizes_nouns: bool
    text: dict[str, str]
    notes: dict[str, str]
    scales: dict[str, float]
    numbers: dict[str, int]
    months: tuple[str, ...]
    date_joiners: frozenset[str]  # words between a day or year and its month: "de" of "26 de abril de 2015"
    negations: frozenset[str]
    conditions: frozenset[str]
    answers: frozenset[str]
    question_words: frozenset[str]
    capitalized: frozenset[str]
    stop_words: frozenset[str]
    filler: frozenset[str] = frozenset()
    record: frozenset[str] = frozenset()  # "field", "value": what a "name: value" line names without saying it
    kinds: frozenset[str] = frozenset()  # "range", "year": what a question calls the numbers it asks for
    unfinished: frozenset[str] = frozenset()  # "is", "the": a statement does not end on them
    refers_back: frozenset[str] = frozenset()  # "and", "it": a question holding one points back to the conversation
    count_questions: frozenset[str] = frozenset()  # "how many": the question asks for a count
    not_count_questions: frozenset[str] = frozenset()  # "combien de temps": it asks for another quantity
    counts: frozenset[str] = frozenset()  # "none", "only one": a count given without a numeral
    ordinals: dict[str, int] = field(default_factory=dict)  # "second" is 2: the second field is not the first
    name_endings: tuple[str, ...] = ()
    language_names: dict[str, str] = field(default_factory=dict)  # "german" is "de": a language this one names
    capitalizes_months: bool = False  # "may" is no month in English, "May" is
    has_file: bool = True
    ui: dict[str, str] = field(default_factory=dict)  # the web chat's text (labels, status, results), by key

    def note(self, kind: str, **values: object) -> str:
        """The note template of this kind filled with the values."""
        return self.notes[kind].format(**values)


def _from_file(path: Path) -> Language:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    words = data.get("words", {})
    lower = lambda items: frozenset(w.lower() for w in items)  # noqa: E731
    return Language(
        code=data["code"],
        name=data["name"],
        stemmer=data.get("stemmer", ""),
        decimal_separator=data.get("decimal_separator", "."),
        capitalizes_nouns=bool(data.get("capitalizes_nouns", False)),
        capitalizes_months=bool(data.get("capitalizes_months", False)),
        text=dict(data["text"]),
        notes=dict(data["notes"]),
        scales={k.lower(): float(v) for k, v in words.get("scales", {}).items()},
        numbers={k.lower(): int(v) for k, v in words.get("numbers", {}).items()},
        months=tuple(m.lower() for m in words.get("months", [])),
        ordinals={k.lower(): int(v) for k, v in words.get("ordinals", {}).items()},
        date_joiners=lower(words.get("date_joiners", [])),
        negations=lower(words.get("negations", [])),
        conditions=lower(words.get("conditions", [])),
        answers=lower(words.get("answers", [])),
        question_words=lower(words.get("question", [])),
        capitalized=lower(words.get("capitalized", [])),
        stop_words=lower(words.get("stop", [])),
        filler=lower(words.get("filler", [])),
        record=lower(words.get("record", [])),
        kinds=lower(words.get("kinds", [])),
        unfinished=lower(words.get("unfinished", [])),
        refers_back=lower(words.get("refers_back", [])),
        count_questions=lower(words.get("count_questions", [])),
        not_count_questions=lower(words.get("not_count_questions", [])),
        counts=lower(words.get("counts", [])),
        name_endings=tuple(e.lower() for e in words.get("name_endings", [])),
        language_names={k.lower(): v for k, v in words.get("language_names", {}).items()},
        ui=dict(data.get("ui", {})),
    )


@lru_cache(maxsize=None)
def available() -> tuple[str, ...]:
    """Codes of the languages that have a resource file."""
    return tuple(sorted(p.stem for p in FOLDER.glob("*.toml")))


@lru_cache(maxsize=None)
def get(code: str | None) -> Language:
    """The resources of a language; a language without a file gets the fallback's sentences and no word lists."""
    code = (code or FALLBACK).lower()
    if code in available():
        return _from_file(FOLDER / f"{code}.toml")
    base = get(FALLBACK)
    empty: frozenset[str] = frozenset()
    text = {**base.text, "answer_in": base.text["answer_in_question_language"]}
    return replace(
        base,
        code=code,
        name=code,
        stemmer=SNOWBALL.get(code, ""),
        text=text,
        scales={},
        numbers={},
        months=(),
        date_joiners=empty,
        negations=empty,
        conditions=empty,
        answers=empty,
        question_words=empty,
        capitalized=empty,
        stop_words=empty,
        filler=empty,
        record=empty,
        kinds=empty,
        unfinished=empty,
        refers_back=empty,
        count_questions=empty,
        not_count_questions=empty,
        counts=empty,
        name_endings=(),
        language_names={},
        has_file=False,
    )


def all_languages() -> list[Language]:
    return [get(code) for code in available()]


@lru_cache(maxsize=None)
def stemmers() -> dict[str, str]:
    """The Snowball algorithm of every language that has one (a file's `stemmer`, else SNOWBALL), by code."""
    codes = sorted(set(available()) | set(SNOWBALL))
    return {code: get(code).stemmer for code in codes if get(code).stemmer}


@dataclass(frozen=True)
class Words:
    """The text shown to a reader (web chat, terminal) in one language: `words(key, name=value)` is the
    template `key` filled in."""

    code: str
    table: dict[str, str]
    decimal_separator: str = "."

    def __call__(self, key: str, **values: object) -> str:
        return self.table[key].format(**{k: self.number(v) if isinstance(v, float) else v for k, v in values.items()})

    def fill(self, key: str, **values: str) -> str:
        """Text `key` with only the named `{placeholders}` replaced: the page's text is not formatted when shown, and
        other braces (the API help's code) stay as they are."""
        text = self.table[key]
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text

    def number(self, value: float, digits: int = 1) -> str:
        """A decimal number written as this language writes it (2.5 s, 2,5 s)."""
        return f"{value:.{digits}f}".replace(".", self.decimal_separator)


@lru_cache(maxsize=None)
def words(code: str) -> Words:
    """The text in language `code`; the fallback's where its table lacks a key (or the language has no file)."""
    lang, base = get(code), get(FALLBACK)
    return Words(lang.code, {**base.ui, **lang.ui}, lang.decimal_separator)
