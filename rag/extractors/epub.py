"""E-books (.epub) with EbookLib: the chapters in reading order (the book's spine), each read by the HTML
extractor's walker into one text, so that headings, lists, tables, definitions and code are what they are in a web
page. The navigation document (the table of contents) is left out; a book's chapters are all content, so no line is
labelled boilerplate. The title is the book's (Dublin Core). A book whose chapters are encrypted (DRM) is refused
with its reason rather than indexed as noise. No source map (offsets into a zip of XHTML mean nothing to a reader).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from rag.extractors import Extraction, collapse
from rag.extractors.html import html_lines
from rag.types import DocumentError

ENCRYPTION = "META-INF/encryption.xml"
XMLENC = "http://www.w3.org/2001/04/xmlenc#"


def chapters(book) -> list[str]:
    """The XHTML of each document of the spine, in reading order, the navigation document left out."""
    import ebooklib
    from ebooklib import epub

    found = []
    for idref, _linear in book.spine:  # a chapter read out of the main flow (linear="no") is content too
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        found.append(item.get_content().decode("utf-8", errors="replace"))
    return found


def encrypted_files(raw: bytes) -> list[str]:
    """The files META-INF/encryption.xml says are encrypted (paths from the container's root): a book under DRM
    lists its chapters, a book that only obfuscates its fonts lists the fonts."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        if ENCRYPTION not in archive.namelist():
            return []
        root = ElementTree.fromstring(archive.read(ENCRYPTION))
    return [ref.get("URI", "") for ref in root.iter(f"{{{XMLENC}}}CipherReference")]


def extract_epub(path: Path, raw: bytes) -> Extraction:
    from ebooklib import epub

    book = epub.read_epub(io.BytesIO(raw), {"ignore_ncx": True})
    encrypted = encrypted_files(raw)
    documents = [item.file_name for item in book.get_items() if item.file_name.endswith((".xhtml", ".html", ".htm"))]
    if any(uri.endswith(name) for uri in encrypted for name in documents):
        raise DocumentError(path, "epub_encrypted")
    titles = book.get_metadata("DC", "title")
    publishers = book.get_metadata("DC", "publisher")
    out = html_lines(chapters(book))
    extraction = out.extraction(collapse(titles[0][0])[:300] if titles else "")
    extraction.publisher = collapse(publishers[0][0])[:100] if publishers else ""
    return extraction
