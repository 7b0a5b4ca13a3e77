"""Text processing per language: accent folding, word analysis (stop words, Snowball stems) and sentences."""
from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache
from typing import Iterable

from rag import languages

WORD = re.compile(r"\w+", re.UNICODE)
WORD_SPAN = re.compile(r"\S+")  # a word as counted for sizes: anything between spaces
CLAUSE = re.compile(r"[,;:()\[\]—–]")  # where one clause of a sentence ends, in most scripts' punctuation


CELLS = " | "  # between the cells of a table row's line; a cell's own " | " is written " / " (extractors.table_cell)
_CELL_BORDER = re.compile(r"(?:(?<= )|^)\|(?= |$)")


LEAD_IN = (":", "：")  # how a line announcing the next one ends, in most scripts


def opens_list(text: str) -> bool:
    """Whether a line announces what follows ("To list them, run:"): it ends with a colon."""
    return text.rstrip().endswith(LEAD_IN)


def cells(line: str) -> list[str]:
    """The cells of a row's line, also once its spaces are normalised (an empty cell leaves "a | | b")."""
    return [cell.strip() for cell in _CELL_BORDER.split(line)]


def head_cells(head: str, row: str) -> tuple[list[str], list[str]] | None:
    """The head's names and the row's values when the head names as many cells as the row has (two or more)."""
    names, values = cells(head), cells(row)
    return (names, values) if len(names) >= 2 and len(names) == len(values) else None


def record_line(names: list[str], values: list[str]) -> str:
    """'name: value | name: value' for the non-empty values; a value beyond the named columns stands alone."""
    pairs = itertools.zip_longest(names, values, fillvalue="")
    return CELLS.join(f"{name}: {value}" if name else value for name, value in pairs if value)


APOSTROPHES = str.maketrans("’‘ʼ＇", "''''")  # one character for one: offsets into folded text stay valid


def fold(text: str) -> str:
    """Lower case without accents and with one apostrophe, so 'Équipe' and 'equipe', 'l’IA' and 'l'IA' meet."""
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(APOSTROPHES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1 << 17)
def fold_word(word: str) -> str:
    """fold() of one word, remembered: a corpus repeats its words, and folding was half of indexing time."""
    return fold(word)


def holds_phrase(text: str, phrases: Iterable[str]) -> bool:
    """One of the phrases stands in the text as whole words, case, accents and apostrophes aside ("Combien d’actions"
    holds "combien d'")."""
    folded = fold(text)
    for phrase in map(fold, phrases):
        end = r"(?!\w)" if phrase[-1:].isalnum() else ""
        if re.search(rf"(?<!\w){re.escape(phrase)}{end}", folded):
            return True
    return False


def written_words(text: str) -> set[str]:
    """The text's words as written, in lower case: nothing analysed, so that a name or a copy is told as it stands."""
    return {w.casefold() for w in WORD.findall(text)}


def word_count(text: str) -> int:
    return len(WORD_SPAN.findall(text))


class Analyzer:
    """Tokenize, drop the language's stop words, stem with its Snowball stemmer, fold accents."""

    def __init__(self, lang: str) -> None:
        import Stemmer

        resources = languages.get(lang)
        self.lang = resources.code
        self.stop_words = frozenset(fold(w) for w in resources.stop_words)
        self.stemmer = Stemmer.Stemmer(resources.stemmer) if resources.stemmer else None

    def __call__(self, text: str) -> list[str]:
        tokens = [t for t in WORD.findall(text.lower()) if fold_word(t) not in self.stop_words]
        if self.stemmer is not None:
            tokens = self.stemmer.stemWords(tokens)
        return [fold_word(t) for t in tokens]

    def terms(self, text: str) -> set[str]:
        """Distinct analysed words, single letters left out (numbers kept)."""
        return {t for t in self(text) if len(t) > 1 or t.isdigit()}


@lru_cache(maxsize=64)
def analyzer(lang: str) -> Analyzer:
    """The analyzer of a language, built once."""
    return Analyzer(lang)


@lru_cache(maxsize=64)
def interrogative_terms(lang: str) -> frozenset[str]:
    """The analysed forms of the language's question words ("which", "welche"): they ask, they say nothing."""
    return frozenset(analyzer(lang).terms(" ".join(languages.get(lang).question_words)))


def sentence_spans(text: str, start: int = 0, end: int | None = None, lang: str = languages.FALLBACK) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:end], trimmed, by sentencex's rules for the language.

    A line break always ends a sentence: extractors put one after every block (heading, list item, table row).
    """
    import sentencex

    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        line_end = text.find("\n", pos, end)
        line_end = end if line_end == -1 else line_end
        line = text[pos:line_end]
        if line.strip():
            for bound in sentencex.get_sentence_boundaries(lang, line):
                trimmed = _trim(text, pos + bound["start_index"], pos + bound["end_index"])
                if trimmed is not None:
                    spans.append(trimmed)
        pos = line_end + 1
    return _merge_fragments(text, spans)


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _merge_fragments(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A piece without a letter or digit ('-', '…') joins the sentence before it on the same line."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        fragment = not any(ch.isalnum() for ch in text[s:e])
        if fragment and out and "\n" not in text[out[-1][1] : s]:
            out[-1] = (out[-1][0], e)
        elif not fragment:
            out.append((s, e))
    return out


def clauses(text: str, shortest: int = 4) -> list[str]:
    """The text, then each of its clauses of at least `shortest` words: a long line may state a claim in one clause
    ("Wang, aged 29, had the experience...") that the rest of the line drowns in a whole-line similarity."""
    parts = [part.strip() for part in CLAUSE.split(text) if len(part.split()) >= shortest]
    return [text] + [part for part in parts if part != text.strip()]
