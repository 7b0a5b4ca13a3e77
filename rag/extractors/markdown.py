"""Markdown (.md, .markdown) with markdown-it-py (CommonMark, plus GFM tables and strikethrough).

Headings, paragraphs, list items, table rows (" | "-joined cells, the header row as table_head), fenced and
indented code (one block per line) and raw HTML blocks (tags removed). Inline markup goes: emphasis marks,
link targets, images (alt text too), inline HTML tags; link text and inline code stay. A paragraph's soft line
breaks become spaces (one block per paragraph), hard breaks new lines.

Source map: markdown-it gives each block its source lines; inside them each piece of text is looked up in
order, so most offsets of the clean text map to the exact character of the file.
"""
from __future__ import annotations

import itertools

from rag.extractors import Extraction, LineBuilder, collapse, table_cell
from rag.text import CELLS
from rag.extractors.plain import remove_tags


class _Source:
    def __init__(self, source: str) -> None:
        self.text = source
        self.line_starts = [0]
        for i, ch in enumerate(source):
            if ch == "\n":
                self.line_starts.append(i + 1)

    def offset(self, line: int) -> int:
        return self.line_starts[line] if line < len(self.line_starts) else len(self.text)

    def span(self, token) -> tuple[int, int]:
        if not token.map:
            return 0, 0
        return self.offset(token.map[0]), self.offset(token.map[1])


def _inline_lines(token, src: _Source, limit: tuple[int, int] | None = None) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """The lines of an inline token as (text, segments); a hard break starts a new line."""
    cursor, end = limit or src.span(token)
    lines: list[tuple[str, list[tuple[int, int, int]]]] = []
    text, segments = "", []
    for child in token.children or []:
        kind = child.type
        if kind == "image":
            continue
        if kind == "hardbreak":
            lines.append((text, segments))
            text, segments = "", []
            continue
        if kind == "softbreak":
            piece, look = " ", "\n"
        elif kind in ("text", "code_inline", "text_special"):
            piece = look = child.content
        else:  # markup: emphasis, links, inline HTML
            continue
        if not piece:
            continue
        at = src.text.find(look, cursor, end) if look else -1
        if at != -1 and (kind != "text_special" or at - cursor < 16):
            segments.append((len(text), len(piece), at))
            cursor = at + len(look)
        text += piece
    lines.append((text, segments))
    return lines


def extract_markdown(source: str) -> Extraction:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    tokens = md.parse(source)
    src = _Source(source)
    out = LineBuilder()
    ids = itertools.count(1)
    lists: list[int] = []  # group ids of the open lists
    pending: tuple[str, int] | None = None  # (kind, level) of the next inline token
    table_group = 0
    in_head = False
    cells: list[str] | None = None
    headings: list[tuple[int, str]] = []
    paragraph_group = None
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            pending = ("heading", int(token.tag[1:]))
        elif kind == "paragraph_open":
            pending = ("item" if lists else "paragraph", 0)
            paragraph_group = lists[-1] if lists else next(ids)
        elif kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(next(ids))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "table_open":
            table_group = next(ids)
        elif kind == "thead_open":
            in_head = True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            cells = []
        elif kind == "tr_close" and cells is not None:
            out.add(CELLS.join(cells), "table_head" if in_head else "row", group=table_group)
            cells = None
        elif kind == "inline" and cells is not None:
            cells.append(table_cell(" ".join(text for text, _ in _inline_lines(token, src))))
        elif kind == "inline" and pending is not None:
            block_kind, level = pending
            group = paragraph_group if block_kind != "heading" else None
            for text, segments in _inline_lines(token, src):
                block = out.add(text, block_kind, level, group=group, segments=segments)
                if block is not None and block_kind == "heading":
                    headings.append((level, out.text[block.start : block.end]))
            pending = None
        elif kind in ("fence", "code_block"):
            group = next(ids)
            start, end = src.span(token)
            cursor = start
            for line in token.content.rstrip("\n").split("\n"):
                at = source.find(line, cursor, end) if line.strip() else -1
                segments = [(0, len(line), at)] if at != -1 else []
                if at != -1:
                    cursor = at + len(line)
                out.add(line, "code", group=group, segments=segments)
        elif kind == "html_block":
            stripped, _ = remove_tags(token.content)
            group = next(ids)
            for line in stripped.split("\n"):
                out.add(collapse(line), "paragraph", group=group)
    first_level = min((level for level, _ in headings), default=0)
    title = next((text for level, text in headings if level == first_level), "")
    if not title and out.blocks:
        first = out.blocks[0]
        title = out.text[first.start : first.end][:200]
    return out.extraction(title)
