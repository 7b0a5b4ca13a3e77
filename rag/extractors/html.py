"""HTML (.html, .htm): the text and its structure come from selectolax (lexbor); which parts are the article, a
reader's comment or boilerplate comes from trafilatura.

Decision, measured on the Debian corpus (8 HTML chapters of the Debian FAQ in en/de/fr and of the Debian
Administrator's Handbook, tests/data/debian/corpus) with trafilatura 2.3 (`extract(output_format="xml",
include_tables=True, include_comments=True, favor_recall=True)`):

- trafilatura keeps the FAQ prose (every <p>, <li> and <dd> of the pkg-basics chapters, 76 of 77 <p> of
  pkgtools, all 28 cells of the handbook's table), but it drops all 104 headings of the 8 pages (they sit in
  DocBook's `div.titlepage`: its output has no <head> at all), the handbook's four sidebars, titles and text
  ("QUICK LOOK ... The apt-show-versions package provides a tool to check for installed packages without a
  package source": the evidence of dev question dd10), its figure captions and the FAQ's footnotes, and it
  turns each <pre> into one <quote> line (21 code blocks in pkg-basics lose their lines).
- selectolax gives every element (headings with their level, <pre> lines, <dl> terms, <th> rows) but has no
  idea of what is boilerplate.

So the text is built from the DOM walked with selectolax: the 49 dev questions with a source find all their
evidence in it (as with the former hand-written parser, 49/49), and trafilatura's output labels it. Lines
found in trafilatura's main text mark the article zone (first to last), lines found in its comments section
the comment zone; inside a zone a line is article (or `reader_comment`) unless it is mostly link text, and
outside both it is `boilerplate` (navigation bars, tables of contents, "Prev | Up | Next"). Boilerplate is
kept in doc.text but labelled (settings.exclude_labels keeps it out of retrieval), so a wrong verdict hides a
line from retrieval but never deletes it; a heading takes the label of the section it opens. Scripts, styles,
iframes, forms, hidden elements and base64 data never reach the text. No source map (offsets into markup
mean little to a reader): doc.source_map is empty.
"""
from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rag.extractors import Extraction, LineBuilder, collapse, table_cell
from rag.text import CELLS
from rag.types import Region

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser

_SKIP = frozenset(
    "script style noscript template iframe frame frameset object embed applet svg math canvas audio video "
    "source track map area head title meta link base button select option optgroup input textarea form dialog "
    "datalist progress meter".split()
)
_BLOCK = frozenset(
    "address article aside blockquote body center details dir div dl fieldset figure footer header hgroup hr "
    "html legend main menu nav ol p section summary ul".split()
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class _Context:
    kind: str = "paragraph"
    level: int = 0
    group: object = None
    pre: bool = False
    link: bool = False  # inside <a href>
    path: tuple[int, ...] = ()  # the block elements around it, outermost first, each by its own number


class _Walker:
    """Walks the DOM, writing one line per block element (and per <br>) into a LineBuilder."""

    def __init__(self) -> None:
        self.out = LineBuilder()
        self.buffer: list[tuple[str, bool]] = []  # (text, inside a link)
        self.ids = itertools.count(1)
        self.link_share: list[float] = []  # per block: the share of its letters inside links
        self.paths: list[tuple[int, ...]] = []  # per block: the elements it stands in (_Context.path)

    def add(self, line: str, kind: str, level: int = 0, group: object = None, link_share: float = 0.0, path: tuple[int, ...] = ()) -> None:
        if self.out.add(line, kind, level, group) is not None:
            self.link_share.append(link_share)
            self.paths.append(path)

    def flush(self, ctx: _Context) -> None:
        raw = "".join(text for text, _ in self.buffer)
        linked = sum(_letters(text) for text, link in self.buffer if link)
        self.buffer.clear()
        if ctx.pre:
            lines = raw.split("\n")
            while lines and not lines[0].strip():
                lines.pop(0)
            for line in lines:
                self.add(collapse_code(line), "code", group=ctx.group, path=ctx.path)
        else:
            self.add(collapse(raw), ctx.kind, ctx.level, ctx.group, linked / max(_letters(raw), 1), ctx.path)

    def walk(self, node, ctx: _Context) -> None:
        child = node.child
        while child is not None:
            self.visit(child, ctx)
            child = child.next

    def visit(self, node, ctx: _Context) -> None:
        tag = node.tag
        if tag == "-text":
            self.buffer.append((node.text_content or "", ctx.link))
            return
        if tag.startswith(("-", "!")) or tag in _SKIP or _hidden(node) or _permalink(node):
            return
        if tag == "br":
            if ctx.pre:
                self.buffer.append(("\n", False))
            else:
                self.flush(ctx)
            return
        if ctx.pre:  # inside <pre> every element is inline
            self.walk(node, ctx)
            return
        inner: _Context | None = None
        if tag in _HEADINGS:
            inner = _Context("heading", _HEADINGS[tag])
        elif tag == "pre":
            inner = _Context("code", group=next(self.ids), pre=True)
        elif tag == "table":
            self.flush(ctx)
            self.table(node, ctx)
            return
        elif tag in ("ul", "ol", "dl", "menu", "dir"):
            inner = _Context(ctx.kind if ctx.kind == "item" else "paragraph", group=next(self.ids))
        elif tag == "li":
            inner = _Context("item", group=ctx.group)
        elif tag == "dt":
            inner = _Context("term")
        elif tag == "dd":
            inner = _Context("definition")
        elif tag in ("figcaption", "caption"):
            inner = _Context("caption")
        elif tag in _BLOCK or tag in ("td", "th", "tr", "tbody", "thead", "tfoot"):
            inner = _Context(ctx.kind, ctx.level)
        if inner is None:  # inline element
            self.walk(node, replace(ctx, link=True) if tag == "a" and "href" in node.attributes else ctx)
            return
        self.flush(ctx)
        inner = replace(inner, path=(*ctx.path, next(self.ids)))
        self.walk(node, inner)
        self.flush(inner)

    def table(self, table, ctx: _Context) -> None:
        rows = list(_rows(table))
        if any(_has_blocks(cell) for row, _ in rows for cell in row):  # a layout table: its cells are containers
            for row, _ in rows:
                for cell in row:
                    inner = _Context(ctx.kind, ctx.level, path=(*ctx.path, next(self.ids)))
                    self.walk(cell, inner)
                    self.flush(inner)
            return
        group = next(self.ids)
        caption = next((c for c in _children(table) if c.tag == "caption"), None)
        if caption is not None:
            self.walk(caption, _Context("caption", path=ctx.path))
            self.flush(_Context("caption", path=ctx.path))
        for row, in_head in rows:
            texts = [self.cell_text(cell) for cell in row]
            cells = [text for text, _ in texts]
            if not any(cells):
                continue
            head = in_head or all(cell.tag == "th" for cell in row)
            linked = sum(link for _, link in texts) / max(sum(_letters(c) for c in cells), 1)
            self.add(CELLS.join(cells), "table_head" if head else "row", group=group, link_share=linked, path=ctx.path)

    def cell_text(self, cell) -> tuple[str, int]:
        """The text of a cell on one line, and how many of its letters are inside links."""
        pieces: list[str] = []
        linked = 0

        def collect(node, link: bool) -> None:
            nonlocal linked
            child = node.child
            while child is not None:
                if child.tag == "-text":
                    pieces.append(child.text_content or "")
                    linked += _letters(child.text_content or "") if link else 0
                elif not (child.tag.startswith(("-", "!")) or child.tag in _SKIP or _hidden(child)):
                    if child.tag == "br" or child.tag in _BLOCK:
                        pieces.append(" ")
                    collect(child, link or (child.tag == "a" and "href" in child.attributes))
                    if child.tag in _BLOCK:
                        pieces.append(" ")
                child = child.next

        collect(cell, False)
        return table_cell("".join(pieces)), linked


def collapse_code(line: str) -> str:
    """A line of preformatted text: tabs expanded, trailing spaces and control characters dropped."""
    return collapse(line) if not line.strip() else re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", line.expandtabs(8)).rstrip()


def _children(node):
    child = node.child
    while child is not None:
        yield child
        child = child.next


def _rows(table, in_head: bool = False):
    """(cells, in <thead>) of each row of a table (not of tables nested in its cells)."""
    for child in _children(table):
        if child.tag == "tr":
            yield [c for c in _children(child) if c.tag in ("td", "th")], in_head
        elif child.tag in ("thead", "tbody", "tfoot"):
            yield from _rows(child, child.tag == "thead")


def _has_blocks(cell) -> bool:
    """The cell holds a layout's blocks, not a value: one paragraph is a value (Sphinx writes <td><p>dict</p>)."""
    tags = [n.tag for n in cell.traverse(include_text=False) if n is not cell]
    return tags.count("p") > 1 or any(t in ("div", "table", "ul", "ol", "dl", "pre", "h1", "h2", "h3", "h4", "h5", "h6") for t in tags)


def _permalink(node) -> bool:
    """A link to its own heading shown as one symbol ("¶", "#", "§" after a Sphinx or MkDocs heading): no text."""
    if node.tag != "a" or not (node.attributes.get("href") or "").startswith("#"):
        return False
    text = (node.text(deep=True) or "").strip()
    return len(text) == 1 and not text.isalnum()


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _hidden(node) -> bool:
    attrs = node.attributes
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = (attrs.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


# ---------------------------------------------------------------- trafilatura's verdict


def _key(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def trafilatura_labels(source: str, out: LineBuilder, link_share: list[float], paths: list[tuple[int, ...]]) -> list[str | None]:
    """Per block: None (article), 'reader_comment' or 'boilerplate', from what trafilatura extracted.

    Lines are compared by their words only ('Architecture(s)' and 'Architecture s' meet). trafilatura's main
    text marks the article zone (from its first to its last line found there, by lines of 4 words or more,
    which do not match by chance); its comments section marks the comment zone. A line trafilatura dropped is
    boilerplate outside these zones, and inside them only when most of its letters are link text (a list of
    related links): trafilatura also drops real content, such as the handbook's sidebars ("QUICK LOOK ...")
    and figure captions, which the dev questions ask about. Past the zone's ends, a line that stands in the
    element holding every line of the main text (`paths`: DocBook's div.section, an <article>, never <body>
    itself) is article too when it has 4 words or more or is code, unless mostly link text: a sidebar or an
    example closing a section ("IN PRACTICE ... set up with apticron") is the article's, the navigation bars
    around that element are not.
    """
    import logging

    import trafilatura
    from lxml import etree

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    try:
        xml = trafilatura.extract(
            source, output_format="xml", include_tables=True, include_comments=True, include_formatting=False,
            include_links=False, include_images=False, favor_recall=True, with_metadata=False, deduplicate=False,
        )
        root = etree.fromstring(xml.encode("utf-8")) if xml else None
    except Exception:  # noqa: BLE001 - trafilatura's verdict is optional: without it, nothing is labelled
        root = None
    if root is None:
        return [None] * len(out.blocks)
    main, comments = root.find("main"), root.find("comments")
    main_words = f" {_key(''.join(main.itertext()))} " if main is not None else ""
    comment_words = f" {_key(''.join(comments.itertext()))} " if comments is not None else ""
    text = out.text
    keys = [_key(text[b.start : b.end]) for b in out.blocks]
    long_enough = [len(key.split()) >= 4 for key in keys]
    in_main = [bool(key) and f" {key} " in main_words for key in keys]
    in_comments = [bool(key) and f" {key} " in comment_words and not (sure and found) for key, sure, found in zip(keys, long_enough, in_main)]

    link_heavy = [share > 0.5 for share in link_share]

    def zone(found: list[bool]) -> tuple[int, int]:
        hits = [i for i, (f, sure, links) in enumerate(zip(found, long_enough, link_heavy)) if f and sure and not links]
        return (hits[0], hits[-1]) if hits else (len(keys), -1)

    article_zone, comment_zone = zone(in_main), zone(in_comments)
    within = _in_container(paths, [f and sure and not links for f, sure, links in zip(in_main, long_enough, link_heavy)])
    labels: list[str | None] = []
    for i, block in enumerate(out.blocks):
        # Past the zone, a line of a few words ("Table of Contents" above its links) does not tell by itself, and a
        # heading is judged by its section below.
        past = within[i] and not link_heavy[i] and block.kind != "heading" and (long_enough[i] or block.kind == "code")
        inside = article_zone[0] <= i <= article_zone[1] or past
        if in_comments[i] and comment_zone[0] <= i <= comment_zone[1]:
            labels.append("reader_comment")
        elif (in_main[i] and long_enough[i] and (inside or not link_heavy[i])) or (inside and not link_heavy[i]):
            labels.append(None)
        elif comment_zone[0] <= i <= comment_zone[1] and not link_heavy[i]:
            labels.append("reader_comment")
        else:
            labels.append("boilerplate")
    # A heading trafilatura dropped opens a section: it is article when the section holds article text, a
    # reader's comment when the section starts with comments ("2 comments"), boilerplate only when all of it is.
    for i, block in enumerate(out.blocks):
        if block.kind != "heading" or labels[i] != "boilerplate":
            continue
        section = []
        for j in range(i + 1, len(out.blocks)):
            if out.blocks[j].kind == "heading" and out.blocks[j].level <= block.level:
                break
            section.append(labels[j])
        if None in section:
            labels[i] = None
        elif "reader_comment" in section:
            labels[i] = "reader_comment"
    # When trafilatura kept almost nothing it misread the page: better no boilerplate label than a hidden page.
    letters = [_letters(text[b.start : b.end]) for b in out.blocks]
    if sum(n for n, label in zip(letters, labels) if label != "boilerplate") < 0.2 * max(sum(letters), 1):
        labels = [label if label == "reader_comment" else None for label in labels]
    return labels


def _in_container(paths: list[tuple[int, ...]], main: list[bool], share: float = 0.9) -> list[bool]:
    """Per block: whether it stands in the innermost element holding (nearly) all the main text's blocks, `share`
    of them: a page title trafilatura also found in the header does not make <body> the article. None when that
    element is <body> itself (a page whose main text is not wrapped tells nothing by its elements)."""
    hits = [path for path, found in zip(paths, main) if found]
    common: tuple[int, ...] = ()
    while hits:
        depth = len(common)
        inner = Counter(path[depth] for path in hits if len(path) > depth).most_common(1)
        if not inner or inner[0][1] < share * len(hits):
            break
        common = (*common, inner[0][0])
    if not common:
        return [False] * len(main)
    return [path[: len(common)] == common for path in paths]


def _walk_into(walker: _Walker, tree) -> None:
    root = tree.body if tree.body is not None else tree.root
    if root is not None:
        walker.walk(root, _Context())
        walker.flush(_Context())


def html_lines(sources: list[str]) -> LineBuilder:
    """The lines of several HTML documents read one after the other into one text (an e-book's chapters), without
    boilerplate labels: what a book's chapters hold is the book."""
    from selectolax.lexbor import LexborHTMLParser

    walker = _Walker()
    for source in sources:
        _walk_into(walker, LexborHTMLParser(source))
    return walker.out


def extract_html(source: str) -> Extraction:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(source)
    walker = _Walker()
    _walk_into(walker, tree)
    out = walker.out
    title_node = tree.css_first("title")
    title = collapse(title_node.text(deep=True)) if title_node is not None else ""
    if not title:
        h1 = tree.css_first("h1")
        title = collapse(h1.text(deep=True)) if h1 is not None else ""
    regions: list[Region] = out.regions(trafilatura_labels(source, out, walker.link_share, walker.paths)) if out.blocks else []
    extraction = out.extraction(title[:300], regions)
    extraction.publisher = _site_name(tree)
    return extraction


def _site_name(tree: LexborHTMLParser) -> str:
    """The site's own name from its metadata: Open Graph's `og:site_name`, else `<meta name="publisher">` or
    `application-name`; '' when the page names none."""
    for selector in ('meta[property="og:site_name"]', 'meta[name="publisher"]', 'meta[name="application-name"]'):
        node = tree.css_first(selector)
        name = collapse(node.attributes.get("content") or "") if node is not None else ""
        if name:
            return name[:100]
    return ""
