"""Split documents into sentences and overlapping chunks of whole sentences, with exact offsets."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from rag.documents import Document

# Words that end with a period without ending a sentence (French and English).
_ABBREVIATIONS = {
    "m", "mm", "mme", "mmes", "mlle", "dr", "pr", "st", "ste", "mr", "mrs", "ms", "prof", "etc", "cf", "p",
    "pp", "vol", "no", "n°", "vs", "env", "av", "apr", "j.-c", "e.g", "i.e", "inc", "ltd", "co", "jr", "sr",
    "fig", "éd", "ed", "chap",
}
_BOUNDARY = re.compile(r"[.!?…]+[»\"”’)\]]*(?=\s+[«\"“(\[A-ZÀ-ÖØ-Þ0-9¿¡—–-])")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    ord: int
    start: int
    end: int
    text: str
    label: str

    def to_dict(self) -> dict:
        return asdict(self)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text[start:end]; a line break always ends a sentence."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        line_end = text.find("\n", pos, end)
        line_end = end if line_end == -1 else line_end
        spans.extend(_line_sentences(text, pos, line_end))
        pos = line_end + 1
    return spans


def _line_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        if _is_abbreviation(text, cursor, match.start()):
            continue
        spans.append((cursor, match.end()))
        cursor = match.end()
    spans.append((cursor, end))
    return [trimmed for s, e in spans if (trimmed := _trim(text, s, e)) is not None]


def _is_abbreviation(text: str, line_start: int, dot: int) -> bool:
    """True when the period at `dot` closes an abbreviation or a single-letter initial."""
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > line_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lower().lstrip("(«\"“")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end or not any(ch.isalnum() for ch in text[start:end]):
        return None
    return start, end


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def chunk_document(doc: Document, min_words: int = 60, max_words: int = 100, overlap: int = 1) -> list[Chunk]:
    """Chunks of whole sentences, min_words..max_words long, sharing `overlap` sentences, never across labels."""
    sentences = _split_long(doc.text, sentence_spans(doc.text), max_words)
    chunks: list[Chunk] = []
    for label, group in _group_by_label(doc, sentences):
        for first, last in _windows([word_count(doc.text[s:e]) for s, e in group], min_words, max_words, overlap):
            start, end = group[first][0], group[last][1]
            chunks.append(Chunk(f"{doc.doc_id}#{len(chunks)}", doc.doc_id, len(chunks), start, end, doc.text[start:end], label))
    return chunks


def _group_by_label(doc: Document, sentences: list[tuple[int, int]]) -> list[tuple[str, list[tuple[int, int]]]]:
    groups: list[tuple[str, list[tuple[int, int]]]] = []
    for span in sentences:
        label = doc.label_at(span[0])
        if groups and groups[-1][0] == label:
            groups[-1][1].append(span)
        else:
            groups.append((label, [span]))
    return groups


def _windows(words: list[int], min_words: int, max_words: int, overlap: int) -> list[tuple[int, int]]:
    """Index ranges (first, last inclusive) of sentence windows."""
    windows: list[tuple[int, int]] = []
    first = 0
    n = len(words)
    while first < n:
        last = first
        total = words[first]
        while last + 1 < n and total < min_words and total + words[last + 1] <= max_words * 1.2:
            last += 1
            total += words[last]
        windows.append((first, last))
        if last + 1 >= n:
            break
        first = max(last + 1 - overlap, first + 1) if last > first else last + 1
    return _merge_short_tail(windows, words, min_words, max_words, overlap)


def _merge_short_tail(windows: list[tuple[int, int]], words: list[int], min_words: int, max_words: int, overlap: int) -> list[tuple[int, int]]:
    """Fold a final window that adds only a few words into the one before it."""
    if len(windows) < 2:
        return windows
    (pf, pl), (_, ll) = windows[-2], windows[-1]
    new_words = sum(words[pl + 1 : ll + 1])
    if new_words < min_words / 3 and sum(words[pf : ll + 1]) <= max_words * 1.5:
        return windows[:-2] + [(pf, ll)]
    return windows


def _split_long(text: str, spans: list[tuple[int, int]], max_words: int) -> list[tuple[int, int]]:
    """Cut sentences longer than max_words at word boundaries so no chunk grows without bound."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        words = list(_WORD.finditer(text, start, end))
        if len(words) <= max_words * 1.5:
            out.append((start, end))
            continue
        for i in range(0, len(words), max_words):
            piece = words[i : i + max_words]
            out.append((piece[0].start(), piece[-1].end()))
    return out
