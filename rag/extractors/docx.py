"""Word documents (.docx) with python-docx: paragraphs and tables in body order.

Paragraph styles `Title` and `Heading N`, or an outline level, give headings; numbering or a list style gives
list items, `Caption` gives captions; a table gives one row per table row (cells joined with " | ", merged
cells once), its first row being the table head. A line break inside a paragraph starts a new line of the
same kind. No source map (offsets into a zip of XML mean nothing to a reader).
"""
from __future__ import annotations

import itertools
import re
import zipfile
from pathlib import Path

from rag.extractors import Extraction, LineBuilder, collapse, table_cell
from rag.text import CELLS
from rag.types import DocumentError

# Word stores a built-in style under its English name whatever the user's language ("heading 1" in w:name, shown
# as "Überschrift 1"): these names are OOXML identifiers, not words; custom styles are read by outline level.
_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"  # python-docx is imported lazily
_BODY_TEXT = 9  # w:outlineLvl 9 marks body text; 0..8 are heading levels 1..9


def _style_chain(paragraph) -> list:
    """The paragraph's style and the styles it is based on, nearest first (a custom style based on "Heading 2")."""
    chain, style = [], paragraph.style
    while style is not None and len(chain) < 5:
        chain.append(style)
        style = style.base_style
    return chain


def _outline_level(properties) -> int | None:
    """The w:outlineLvl of paragraph properties, or None."""
    if properties is None:
        return None
    found = properties.find(f"{_W}outlineLvl")
    return None if found is None else int(found.get(f"{_W}val", _BODY_TEXT))


def _paragraph_kind(paragraph) -> tuple[str, int]:
    chain = _style_chain(paragraph)
    properties = [paragraph._p.pPr, *(style.element.pPr for style in chain)]
    for name in ((style.name or "").strip() for style in chain):
        if name.lower() == "title":
            return "heading", 1
        match = _HEADING.match(name)
        if match:
            return "heading", min(max(int(match.group(1)), 1), 6)
        if name.lower() == "caption":
            return "caption", 0
    for ppr in properties:  # the paragraph's own setting overrides its style's
        level = _outline_level(ppr)
        if level is not None:
            if level < _BODY_TEXT:
                return "heading", min(level + 1, 6)
            break
    if any(ppr is not None and ppr.find(f"{_W}numPr") is not None for ppr in properties):
        return "item", 0
    if any((style.name or "").lower().startswith("list") for style in chain):
        return "item", 0
    return "paragraph", 0


def extract_docx(path: Path, raw: bytes) -> Extraction:
    import io

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(raw))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(path, "docx_corrupt", detail=type(exc).__name__) from None
    out = LineBuilder()
    ids = itertools.count(1)
    title = ""
    list_group = None
    for element in document.element.body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(element, document)
            kind, level = _paragraph_kind(paragraph)
            if kind == "item":
                list_group = list_group or next(ids)
                group = list_group
            else:
                list_group = None
                group = next(ids)
            for line in paragraph.text.split("\n"):
                block = out.add(collapse(line), kind, level, group=group)
                if block is not None and kind == "heading" and not title:
                    title = out.text[block.start : block.end]
        elif tag == "tbl":
            list_group = None
            group = next(ids)
            for index, row in enumerate(Table(element, document).rows):
                cells, seen = [], []
                for cell in row.cells:
                    if any(cell._tc is tc for tc in seen):  # a merged cell is listed once per grid column
                        continue
                    seen.append(cell._tc)
                    cells.append(table_cell(cell.text))
                if any(cells):
                    out.add(CELLS.join(cells), "table_head" if index == 0 else "row", group=group)
    core_title = collapse(document.core_properties.title or "")
    extraction = out.extraction()
    if extraction.blocks and not (core_title or title):
        first = extraction.blocks[0]
        title = extraction.text[first.start : first.end][:200]
    extraction.title = core_title or title
    return extraction
