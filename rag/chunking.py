"""From a document's blocks to units (sentences, rows, lines) and overlapping chunks of whole units, with exact offsets."""
from __future__ import annotations

from rag.language import detect_language
from rag.text import WORD_SPAN, sentence_spans, word_count
from rag.types import CONTEXT_KINDS, PROSE_KINDS, Block, Chunk, Document, LangSpan, Unit


def ensure_structure(doc: Document) -> Document:
    """Give a document built without blocks or languages (an older index, a bare Document) both."""
    if not doc.blocks:
        doc.blocks = line_blocks(doc.text)
    if not doc.langs and doc.text.strip():
        doc.langs = [LangSpan(0, len(doc.text), str(doc.metadata.get("language") or detect_language(doc.text)))]
    return doc


def line_blocks(text: str) -> list[Block]:
    """Every non-empty line as a paragraph block."""
    blocks, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            blocks.append(Block(pos, pos + len(line), "paragraph"))
        pos += len(line) + 1
    return blocks


def document_units(doc: Document) -> list[Unit]:
    """Every unit of the document in order, each with the spans of the headings (and table head or term) above it."""
    ensure_structure(doc)
    headings: list[Block] = []
    local: Block | None = None  # the table head or defined term the next lines belong to
    units: list[Unit] = []
    for block in doc.blocks:
        if block.kind == "heading":
            headings = [h for h in headings if h.level < block.level] + [block]
            local = None
            continue
        context = tuple((h.start, h.end) for h in headings)
        if block.kind in ("table_head", "term"):
            local = block
            continue
        if local is not None and block.kind != {"table_head": "row", "term": "definition"}[local.kind]:
            local = None  # the table or the definition ended
        if local is not None:
            context += ((local.start, local.end),)
        lang = doc.lang_at(block.start)
        if block.kind in PROSE_KINDS:
            for s, e in sentence_spans(doc.text, block.start, block.end, lang):
                units.append(Unit(s, e, block.kind, lang, context))
        else:
            units.append(Unit(block.start, block.end, block.kind, lang, context))
    return units


def context_blocks(doc: Document) -> list[Block]:
    return [b for b in doc.blocks if b.kind in CONTEXT_KINDS]


def heading_text(doc: Document, unit: Unit) -> str:
    """The context of a unit as one line: 'Chapter › Section › term'."""
    return " › ".join(" ".join(doc.text[s:e].split()) for s, e in unit.context)


def chunk_embedding_text(chunk: Chunk) -> str:
    """What the dense side embeds of a chunk: the headings above it, then its text ("Specifications" explains "0 to 40 °C")."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


def unit_embedding_text(doc: Document, unit: Unit) -> str:
    """What the dense side embeds of a unit: its nearest heading (or table head, or defined term), then the unit;
    a table row or a definition means little without it."""
    text = doc.text[unit.start : unit.end]
    if not unit.context:
        return text
    start, end = unit.context[-1]
    return f"{' '.join(doc.text[start:end].split())}: {text}"


def chunk_units_texts(doc: Document, chunks: list[Chunk]) -> list[str]:
    """The embedding texts of every unit of these chunks, chunk after chunk (the rows an index stores)."""
    return [unit_embedding_text(doc, unit) for chunk in chunks for unit in chunk.units]


def chunk_document(doc: Document, min_words: int = 60, max_words: int = 100, overlap: int = 1) -> list[Chunk]:
    """Chunks of whole units, min_words..max_words long, sharing `overlap` units, never across labels or headings.

    A section shorter than a third of min_words joins the next one, so that a heading with one line under it
    does not make a chunk of its own.
    """
    chunks: list[Chunk] = []
    heading_starts = {b.start for b in doc.blocks if b.kind == "heading"}
    units = _split_long(doc.text, document_units(doc), max_words)
    for label, group in _sections(doc, units, min_words, heading_starts):
        words = [word_count(doc.text[u.start : u.end]) for u in group]
        for first, last in _windows(words, min_words, max_words, overlap):
            units = tuple(group[first : last + 1])
            start, end = units[0].start, units[-1].end
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}#{len(chunks)}",
                    doc_id=doc.doc_id,
                    ord=len(chunks),
                    start=start,
                    end=end,
                    text=doc.text[start:end],
                    label=label,
                    units=units,
                    heading=heading_text(doc, units[0]),
                )
            )
    return chunks


def _sections(doc: Document, units: list[Unit], min_words: int, heading_starts: set[int]) -> list[tuple[str, list[Unit]]]:
    """Runs of units with one label and one heading path; a short run joins the next run of its label."""
    runs: list[tuple[str, tuple, list[Unit]]] = []
    for unit in units:
        label = doc.label_at(unit.start)
        headings = tuple(span for span in unit.context if span[0] in heading_starts)
        if runs and runs[-1][0] == label and (runs[-1][1] == headings or _short(doc, runs[-1][2], min_words)):
            runs[-1][2].append(unit)
        else:
            runs.append((label, headings, [unit]))
    return [(label, group) for label, _, group in runs]


def _short(doc: Document, group: list[Unit], min_words: int) -> bool:
    return sum(word_count(doc.text[u.start : u.end]) for u in group) < min_words / 3


def _split_long(text: str, units: list[Unit], max_words: int) -> list[Unit]:
    """Cut units longer than 1.5 x max_words at word boundaries, so that no chunk grows without bound."""
    out: list[Unit] = []
    for unit in units:
        words = list(WORD_SPAN.finditer(text, unit.start, unit.end))
        if len(words) <= max_words * 1.5:
            out.append(unit)
            continue
        for i in range(0, len(words), max_words):
            piece = words[i : i + max_words]
            out.append(Unit(piece[0].start(), piece[-1].end(), unit.kind, unit.lang, unit.context))
    return out


def _windows(words: list[int], min_words: int, max_words: int, overlap: int) -> list[tuple[int, int]]:
    """Index ranges (first, last inclusive) of unit windows."""
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
    return _merge_short_tail(windows, words, min_words, max_words)


def _merge_short_tail(windows: list[tuple[int, int]], words: list[int], min_words: int, max_words: int) -> list[tuple[int, int]]:
    """Fold a final window that adds only a few words into the one before it."""
    if len(windows) < 2:
        return windows
    (pf, pl), (_, ll) = windows[-2], windows[-1]
    new_words = sum(words[pl + 1 : ll + 1])
    if new_words < min_words / 3 and sum(words[pf : ll + 1]) <= max_words * 1.5:
        return windows[:-2] + [(pf, ll)]
    return windows
