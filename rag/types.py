"""The types that travel along documents → chunks → index → retrieval → prompt → answer with citations.

Offsets are always character offsets into `Document.text`, the clean text every quote is cut from.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from pathlib import Path

# What a line of a document's clean text is. Every non-empty line of Document.text is exactly one block.
BLOCK_KINDS = ("heading", "paragraph", "item", "row", "table_head", "term", "definition", "code", "caption")
# Kinds that give context to the lines under them (shown to the model beside a passage, never quoted as an answer).
CONTEXT_KINDS = ("heading", "table_head", "term")
# Kinds whose lines are split into sentences; the others are one unit each (a table row, a line of code).
PROSE_KINDS = ("paragraph", "item", "definition", "caption")
# Kinds whose lines are records of a list, table or listing: they run on as one block under a line ending with a colon.
STRUCTURED_KINDS = ("item", "row", "definition", "code")


class DocumentError(Exception):
    """A file that cannot become a document: `key` names the reason in rag/languages ([ui] file_<key>), filled with
    `values`; str() is a one-line message naming the file, in the fallback language (for logs and the terminal)."""

    def __init__(self, path: object, key: str, **values: object) -> None:
        self.path, self.key, self.values = str(path), key, values
        super().__init__(f"{path}: {self.reason()}")

    def reason(self, lang: str | None = None) -> str:
        """Why the file was refused, in language `lang` (the fallback's when None)."""
        from rag.languages import words

        values = {k: v.reason(lang) if isinstance(v, DocumentError) else v for k, v in self.values.items()}
        return words(lang or "")(f"file_{self.key}", **values)

    def text(self, lang: str) -> str:
        """The one-line message in language `lang`: the file's name, then why."""
        return f"{Path(self.path).name}: {self.reason(lang)}"


def publisher_name(metadata: dict) -> str:
    """The publisher's short name, its words before any aside ("Futurism" of "Futurism (French translation),
    reporting..."); '' when the metadata names none."""
    publisher = str(metadata.get("publisher") or "")
    return re.split(r"\s*[(,;]", publisher)[0].strip() if publisher else ""


@dataclass(frozen=True)
class Block:
    """One line of the clean text and what it is: a heading (with its level), a paragraph, a list item, a table row..."""

    start: int
    end: int
    kind: str = "paragraph"
    level: int = 0  # heading level (1 = top); 0 for other kinds


@dataclass(frozen=True)
class Region:
    """A labelled span of the clean text (reader comment, boilerplate...)."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class LangSpan:
    """The language of a span of the clean text (a document may mix languages by section)."""

    start: int
    end: int
    lang: str


@dataclass(frozen=True)
class Segment:
    """Clean text [start, start+length) comes from source [source_start, source_start+source_length)."""

    start: int
    length: int
    source_start: int
    source_length: int


@dataclass
class Document:
    doc_id: str
    source: str
    title: str
    text: str
    sha256: str
    metadata: dict = field(default_factory=dict)
    regions: list[Region] = field(default_factory=list)
    source_map: list[Segment] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    langs: list[LangSpan] = field(default_factory=list)

    @property
    def publisher_name(self) -> str:
        return publisher_name(self.metadata)

    @property
    def lang(self) -> str:
        """The language of most of the text."""
        sizes: dict[str, int] = {}
        for span in self.langs:
            sizes[span.lang] = sizes.get(span.lang, 0) + span.end - span.start
        return max(sizes, key=sizes.__getitem__) if sizes else str(self.metadata.get("language") or "")

    def lang_at(self, offset: int) -> str:
        for span in self.langs:
            if span.start <= offset < span.end:
                return span.lang
        return self.lang

    def label_at(self, offset: int) -> str:
        """Label of the region holding this offset ('article' when unlabelled)."""
        holding = [r for r in self.regions if r.start <= offset < r.end]
        # The innermost region wins: a boilerplate line inside a comment is boilerplate.
        return min(holding, key=lambda r: r.end - r.start).label if holding else "article"

    def to_source_offset(self, offset: int) -> int:
        """Offset in the original file of a clean-text offset (for a PDF: the page number)."""
        # The segment holding the offset wins: at a boundary, the text after removed markup maps past it.
        for seg in self.source_map:
            if seg.start <= offset < seg.start + seg.length:
                return seg.source_start + min(offset - seg.start, seg.source_length)
        for seg in reversed(self.source_map):
            if offset == seg.start + seg.length:
                return seg.source_start + seg.source_length
        return offset

    def to_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "text": self.text,
            "sha256": self.sha256,
            "metadata": self.metadata,
            "regions": [[r.start, r.end, r.label] for r in self.regions],
            "source_map": [[s.start, s.length, s.source_start, s.source_length] for s in self.source_map],
            "blocks": [[b.start, b.end, b.kind, b.level] for b in self.blocks],
            "langs": [[s.start, s.end, s.lang] for s in self.langs],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Document":
        return cls(
            doc_id=data["doc_id"],
            source=data["source"],
            title=data["title"],
            text=data["text"],
            sha256=data["sha256"],
            metadata=data.get("metadata", {}),
            regions=[Region(*r) for r in data.get("regions", [])],
            source_map=[Segment(*s) for s in data.get("source_map", [])],
            blocks=[Block(*b) for b in data.get("blocks", [])],
            langs=[LangSpan(*s) for s in data.get("langs", [])],
        )


@dataclass(frozen=True)
class Unit:
    """The smallest quotable piece of a document: a sentence of prose, or a whole row, term or line of code.

    `context` holds the spans of the headings (and table head or defined term) the unit sits under, outermost
    first: given to the model beside the unit, never part of a quote.
    """

    start: int
    end: int
    kind: str
    lang: str
    context: tuple[tuple[int, int], ...] = ()

    def to_list(self) -> list:
        return [self.start, self.end, self.kind, self.lang, [list(c) for c in self.context]]

    @classmethod
    def from_list(cls, row: list) -> "Unit":
        return cls(row[0], row[1], row[2], row[3], tuple(tuple(c) for c in row[4]))


@dataclass(frozen=True)
class Chunk:
    """Consecutive units of one document, embedded and searched together; text == doc.text[start:end]."""

    chunk_id: str
    doc_id: str
    ord: int
    start: int
    end: int
    text: str
    label: str
    units: tuple[Unit, ...] = ()
    heading: str = ""  # the headings above the chunk's first unit, embedded and searched with it

    @property
    def lang(self) -> str:
        counts: dict[str, int] = {}
        for unit in self.units:
            counts[unit.lang] = counts.get(unit.lang, 0) + unit.end - unit.start
        return max(counts, key=counts.__getitem__) if counts else ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["units"] = [u.to_list() for u in self.units]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        return cls(**{**data, "units": tuple(Unit.from_list(u) for u in data.get("units", []))})


@dataclass
class Source:
    """A numbered unit shown to the model: what an answer's [k] points at."""

    k: int
    unit: Unit
    passage: "Passage"

    @property
    def text(self) -> str:
        return self.passage.doc.text[self.unit.start : self.unit.end]


@dataclass
class Passage:
    """The units of one retrieved chunk given to the model, numbered one by one (with what a line ending with a colon
    at its end announces from the next chunk)."""

    n: int
    doc: Document
    chunk_id: str
    score: float
    units: list[Unit]
    label: str = "article"

    @property
    def spans(self) -> list[tuple[int, int]]:
        return [(u.start, u.end) for u in self.units]

    @property
    def text(self) -> str:
        """The selected units, '…' where units were left out."""
        parts: list[str] = []
        for i, unit in enumerate(self.units):
            if i and unit.start > self.units[i - 1].end + 2:
                parts.append("…")
            parts.append(self.doc.text[unit.start : unit.end])
        return " ".join(parts)

    def term_of(self, unit: Unit) -> str:
        """The defined term or table head a definition or row stands under, '' for none ("no error if the device
        does not exist" says nothing without the "nofail" above it)."""
        if unit.kind not in ("definition", "row") or not unit.context:
            return ""
        start, end = unit.context[-1]
        blocks = self.doc.blocks  # in text order: one block per line
        i = bisect_left(blocks, start, key=lambda b: b.start)
        if i == len(blocks) or blocks[i].start != start or blocks[i].kind not in ("term", "table_head"):
            return ""
        return " ".join(self.doc.text[start:end].split())

    def context_text(self, levels: int = 2) -> str:
        """The innermost `levels` headings above the passage's first unit, outermost first, joined by ' › '; a
        heading that repeats the document's title is left out, and so is a term or table head (shown by its lines)."""
        spans = self.units[0].context if self.units else ()
        if self.units and self.term_of(self.units[0]):
            spans = spans[:-1]
        title = " ".join(self.doc.title.split())
        names = [" ".join(self.doc.text[s:e].split()) for s, e in spans]
        return " › ".join([n for n in names if n != title][-levels:])


@dataclass
class Citation:
    """One quote shown to the user: an exact span of a document, numbered in the answer's order."""

    n: int
    passage: Passage
    start: int
    end: int
    supported: bool

    @property
    def quote(self) -> str:
        return self.passage.doc.text[self.start : self.end]

    def to_dict(self) -> dict:
        doc = self.passage.doc
        return {
            "n": self.n,
            "doc_id": doc.doc_id,
            "title": doc.title,
            "source": doc.source,
            "chunk_id": self.passage.chunk_id,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "supported": self.supported,
        }


@dataclass
class Claim:
    """One sentence of the answer and the sources (numbered units) that support it after checking."""

    text: str  # as the model wrote it, its markers removed
    cited: list[int] = field(default_factory=list)  # source numbers k the model wrote
    support: list[int] = field(default_factory=list)  # source numbers k that state it, after checking
    supported: bool = False
    # Why the check decided so, as a code: "words" (all in the source), "judge:yes", "judge:no", "number:14e9",
    # "code:/etc/fstab", "quote:...", "name:...", "month", "language:de", "facts" (no unit holds them), "conflict",
    # "paraphrase" (most words, and e5 finds it a paraphrase of its line), "unfinished" (it stops on "is" or "the"),
    # "unsourced" (the model itself marked it [0]), "doubt" (the judge's yes, the model having nearly declined).
    reason: str = ""
    inline: bool = False  # written by the pipeline with [k] markers in place (a stated conflict)
    unsourced: bool = False  # the model marked it [0], its decline marker: no source states it


NOTE_KINDS = ("conflict", "unsupported", "withheld", "off_target", "invalid_citation")
NOTE_ICONS = {"conflict": "⚖", "unsupported": "⚠", "withheld": "⛔", "off_target": "⚠", "invalid_citation": "·"}


@dataclass(frozen=True)
class Note:
    """Something the reader should know about an answer, typed so that no one has to match its text."""

    kind: str
    text: str

    @property
    def icon(self) -> str:
        """The mark the web chat and the terminal show before a note of this kind."""
        return NOTE_ICONS.get(self.kind, "·")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text}


@dataclass
class Answer:
    """A checked answer: the text with its citation numbers, the quotes, the passages read, typed notes."""

    question: str
    answer: str
    abstained: bool
    lang: str
    citations: list[Citation]
    passages: list[Passage]
    claims: list[Claim]
    notes: list[Note]
    model: str
    timings_ms: dict[str, float]
    raw_answer: str = ""
    id: object = None
    claim_citations: list[dict[int, int]] = field(default_factory=list)  # per claim: source number k → citation n
    decline_probability: float | None = None  # how near the model came to declining (None: not seen)

    @property
    def unsupported_claims(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported]

    def to_dict(self) -> dict:
        """The JSON contract shared by `rag ask --json`, `rag batch`, the web API and the OpenAI-style endpoint."""
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "lang": self.lang,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [
                {"n": p.n, "doc_id": p.doc.doc_id, "chunk_id": p.chunk_id, "score": round(p.score, 6), "text": p.text}
                for p in self.passages
            ],
            "notes": [n.to_dict() for n in self.notes],
            "model": self.model,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
