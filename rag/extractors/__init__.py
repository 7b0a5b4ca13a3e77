"""Per-format extractors: each turns a file into clean text made of lines, one `Block` per non-empty line.

An extractor returns an `Extraction`; `rag.documents.load_document` adds metadata, labelled regions from
sources.json and languages. Formats whose text is rebuilt (HTML, Markdown, DOCX, PDF) write it through a
`LineBuilder`, which guarantees the line/block invariant: no block spans a newline, every non-empty line is
exactly one block, blocks in order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.text import CELLS
from rag.types import Block, Region, Segment

# A list item in plain text or in a PDF: a bullet, or "1." / "1)" / "a)" / "б)" followed by text (a letter of
# any script, Latin capitals aside as before: "A) ..." may be a sentence).
BULLET = re.compile(r"^[ \t]*(?:[-*•‣◦▪–·](?=[ \t]+\S)|\(?\d{1,3}[.)](?=[ \t]+\S)|\(?(?![A-Z])[^\W\d_][)](?=[ \t]+\S))[ \t]*")
_SPACES = re.compile(r"\s+")
# data: URIs and long base64 runs are never text to quote.
_BASE64 = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w=.-]+)*;base64,[A-Za-z0-9+/=\s]*|[A-Za-z0-9+/]{120,}={0,2}")
# Control characters other than tab and newline never reach the text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\ufeff\ufffe]")


def collapse(text: str) -> str:
    """Whitespace runs (newlines included) become one space; base64 data and control characters go."""
    text = _BASE64.sub(" ", _CONTROLS.sub("", text))
    return _SPACES.sub(" ", text).strip()


def table_cell(text: str) -> str:
    """A table cell's text on one line, its " | " written " / ": " | " separates the cells of a row's line."""
    return collapse(text).replace(CELLS, " / ")


@dataclass
class Extraction:
    text: str
    blocks: list[Block]
    title: str = ""
    regions: list[Region] = field(default_factory=list)
    source_map: list[Segment] = field(default_factory=list)
    publisher: str = ""  # the site or publisher the file names itself ("according to <publisher>" finds it)


@dataclass
class LineBuilder:
    """Clean text written one block (line) at a time.

    Lines of one group (the items of a list, the rows of a table, the lines of a code block or of a paragraph
    broken by <br>) are separated by one newline; other blocks by an empty line, so the text reads well.
    """

    parts: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    length: int = 0
    _group: object = None

    def add(
        self,
        line: str,
        kind: str = "paragraph",
        level: int = 0,
        group: object = None,
        segments: list[tuple[int, int, int]] = (),
        label: str | None = None,
    ) -> Block | None:
        """Append one line; `segments` are (offset in line, length, source offset) pieces copied from the source.

        Code keeps its indentation; other kinds are trimmed. Returns the block, None for a blank line.
        """
        line = re.sub(r"[\n\r\u2028\u2029\x85\x0b\x0c]", " ", line)
        stripped = line.rstrip() if kind == "code" else line.strip()
        if kind == "code":
            stripped = stripped.expandtabs(8)
        if not stripped.strip():
            return None
        shift = 0 if kind == "code" else len(line) - len(line.lstrip())
        if self.blocks:
            sep = "\n" if group is not None and group == self._group else "\n\n"
            self.parts.append(sep)
            self.length += len(sep)
        start = self.length
        self.parts.append(stripped)
        self.length += len(stripped)
        for offset, length, source_start in segments:
            lo, hi = max(offset - shift, 0), min(offset - shift + length, len(stripped))
            if hi > lo:
                self.segments.append(Segment(start + lo, hi - lo, source_start + lo - (offset - shift), hi - lo))
        block = Block(start, self.length, kind, level if kind == "heading" else 0)
        self.blocks.append(block)
        self.labels.append(label)
        self._group = group
        return block

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def regions(self, labels: list[str | None] | None = None) -> list[Region]:
        """Regions covering runs of consecutive blocks with one label (None = unlabelled article text)."""
        labels = self.labels if labels is None else labels
        regions: list[Region] = []
        for i, (block, label) in enumerate(zip(self.blocks, labels)):
            if label is None:
                continue
            if regions and regions[-1].label == label and labels[i - 1] == label:
                regions[-1] = Region(regions[-1].start, block.end, label)
            else:
                regions.append(Region(block.start, block.end, label))
        return regions

    def extraction(self, title: str = "", regions: list[Region] | None = None) -> Extraction:
        return Extraction(self.text, list(self.blocks), title, self.regions() if regions is None else regions, list(self.segments))
