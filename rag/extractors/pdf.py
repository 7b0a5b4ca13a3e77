"""PDF (.pdf) with pypdfium2: the text layer of each page, lines hard-wrapped inside a paragraph joined.

PDFium gives lines, not paragraphs. A line is joined to the next (with a space) when the next line's first word
would not have fitted on it, measured against the width the text is wrapped at (as for plain text, with some
slack, since a proportional font fits more narrow letters on a line). A line starting with a bullet is a list
item. Headings are not recognised (a PDF's text layer has no structure without font analysis): every other
line is a paragraph. The source map gives, for each page's text, its page number as `source_start`.
"""
from __future__ import annotations

from pathlib import Path

from rag.extractors import BULLET, Extraction, LineBuilder, collapse
from rag.types import DocumentError, Segment


def _join_wrapped(lines: list[str], width: int) -> list[str]:
    """Lines of one page → logical lines: a wrapped line and its continuation become one line."""
    out: list[str] = []
    for line in lines:
        if (
            out
            and width
            and line
            and out[-1]
            and not BULLET.match(line)
            and len(out[-1].rsplit("\n", 1)[-1]) + 1 + len(line.split()[0]) > 0.85 * width
        ):
            out[-1] = out[-1] + "\n" + line  # marks the physical line end, joined with a space below
        else:
            out.append(line)
    return [" ".join(part for part in logical.split("\n")) for logical in out]


def _width(pages: list[list[str]]) -> int:
    """The wrap width in characters (third-longest line), 0 when too few long lines to say the text is wrapped."""
    widths = sorted((len(line) for lines in pages for line in lines if line), reverse=True)
    if len(widths) < 4:
        return 0
    width = widths[2]
    near = sum(1 for w in widths if w >= 0.85 * width)
    return width if width >= 30 and near >= max(3, len(widths) // 10) else 0


def extract_pdf(path: Path, raw: bytes) -> Extraction:
    import pypdfium2 as pdfium

    if not raw.startswith(b"%PDF-"):
        raise DocumentError(path, "pdf_not_pdf")
    try:
        pdf = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentError(path, "pdf_encrypted") from None
        raise DocumentError(path, "pdf_corrupt", detail=str(exc).splitlines()[0][:80]) from None
    try:
        pages: list[list[str]] = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            text = textpage.get_text_range().replace("\x02", "-")  # PDFium marks a soft hyphen at a line end with \x02
            textpage.close()
            page.close()
            pages.append([collapse(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")])
        meta_title = collapse(str(pdf.get_metadata_dict().get("Title") or ""))
    except pdfium.PdfiumError as exc:
        raise DocumentError(path, "pdf_corrupt", detail=str(exc).splitlines()[0][:80]) from None
    finally:
        pdf.close()
    if not any(line for lines in pages for line in lines):
        raise DocumentError(path, "pdf_no_text")
    width = _width(pages)
    out = LineBuilder()
    page_spans: list[Segment] = []
    for number, lines in enumerate(pages, start=1):
        start = None
        for line in _join_wrapped(lines, width):
            block = out.add(line, "item" if BULLET.match(line) else "paragraph", group=number)
            if block is not None and start is None:
                start = block.start
        if start is not None:
            # For a PDF, 'source_start' is the page number: offsets inside a compressed stream mean nothing.
            page_spans.append(Segment(start, out.length - start, number, 0))
    extraction = out.extraction()
    extraction.source_map = page_spans
    first = extraction.blocks[0]
    extraction.title = meta_title or extraction.text[first.start : first.end][:200]
    return extraction
