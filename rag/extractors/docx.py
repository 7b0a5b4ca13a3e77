"""Word documents (.docx) with python-docx: paragraphs and tables in body order.

Paragraph styles `Title` and `Heading N` (and outline levels) give headings, list styles or numbering give
list items, `Caption` gives captions; a table gives one row per table row (cells joined with " | ", merged
cells once), its first row being the table head. A line break inside a paragraph starts a new line of the
same kind. No source map (offsets into a zip of XML mean nothing to a reader).
"""
from __future__ import annotations

import itertools
import re
import zipfile
from pathlib import Path

from rag.extractors import Extraction, LineBuilder, collapse
from rag.types import DocumentError

_HEADING = re.compile(r"^(?:heading|überschrift|titre|título|titolo)\s*(\d)$", re.IGNORECASE)


def _paragraph_kind(paragraph) -> tuple[str, int]:
    style = paragraph.style
    names = []
    while style is not None and len(names) < 5:  # a custom style based on "Heading 2" is a heading too
        names.append((style.name or "").strip())
        style = style.base_style
    for name in names:
        if name.lower() == "title":
            return "heading", 1
        match = _HEADING.match(name)
        if match:
            return "heading", min(max(int(match.group(1)), 1), 6)
        if name.lower().startswith("list") or name.lower() in ("aufzählungszeichen", "listenabsatz"):
            return "item", 0
        if name.lower() == "caption":
            return "caption", 0
    ppr = paragraph._p.pPr
    if ppr is not None and ppr.numPr is not None:
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
        raise DocumentError(path, f"corrupt or unreadable .docx ({type(exc).__name__})") from None
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
                    cells.append(collapse(cell.text).replace(" | ", " / "))
                if any(cells):
                    out.add(" | ".join(cells), "table_head" if index == 0 else "row", group=group)
    core_title = collapse(document.core_properties.title or "")
    extraction = out.extraction()
    if extraction.blocks and not (core_title or title):
        first = extraction.blocks[0]
        title = extraction.text[first.start : first.end][:200]
    extraction.title = core_title or title
    return extraction
