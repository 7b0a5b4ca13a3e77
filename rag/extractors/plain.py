"""Plain text (.txt): hand-written, because no library turns wrapped text (man pages rendered by `man`,
e-mails, exported articles) into paragraphs, headings, terms and list items while keeping every offset.

The clean text is the file's text, except that real HTML tags left over from a web page are removed (the
source map records where) and the newline inside a hard-wrapped paragraph becomes a space (same length: the
offsets of the file do not move). So `doc.text[i]` is the character the source map points at.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rag.extractors import BULLET, Extraction, collapse
from rag.types import Block, Segment

# Element names of HTML: only these are markup; <Rechner>, <fstab.h>, <name> are content.
HTML_TAGS = frozenset(
    "a abbr address area article aside audio b base bdi bdo big blockquote body br button canvas caption center "
    "cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption figure "
    "font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label "
    "legend li link main map mark menu meta meter nav noscript object ol optgroup option output p param picture pre "
    "progress q rp rt ruby s samp script search section select small source span strike strong style sub summary "
    "sup svg table tbody td template textarea tfoot th thead time title tr track tt u ul var video wbr".split()
)
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_TAG = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s[^<>]*)?)>", re.DOTALL)


def remove_tags(source: str) -> tuple[str, list[Segment]]:
    """Text without its real HTML tags (and the content of <script>/<style>), with the map back to the source.

    A known tag name is not enough: `LABEL=<label>` in a man page is a placeholder. A tag is markup when it is a
    comment, a closing tag, a tag with attributes or a slash, a void element (<br>), or opens an element that
    is closed further on.
    """
    lowered = source.lower()
    spans: list[tuple[int, int]] = []
    for match in _TAG.finditer(source):
        closing, name, rest = match.group(1), (match.group(2) or "").lower(), match.group(3) or ""
        if match.group(0).startswith("<!--"):
            spans.append(match.span())
            continue
        if name not in HTML_TAGS:
            continue
        real = bool(closing) or bool(rest.strip()) or name in _VOID or f"</{name}" in lowered[match.end() :]
        if not real:
            continue
        end = match.end()
        if name in ("script", "style") and not closing:
            close = lowered.find(f"</{name}", end)
            if close != -1:
                end = close  # the closing tag is removed by its own match
        spans.append((match.start(), end))
    pieces: list[str] = []
    segments: list[Segment] = []
    pos = out = 0
    for start, end in spans + [(len(source), len(source))]:
        if start < pos:
            pos = max(pos, end)
            continue
        if start > pos:
            pieces.append(source[pos:start])
            segments.append(Segment(out, start - pos, pos, start - pos))
            out += start - pos
        pos = max(pos, end)
    return "".join(pieces), segments


@dataclass
class _Line:
    start: int
    end: int
    indent: int  # columns, tabs expanded
    content: str  # stripped
    width: int  # columns up to the last visible character

    @property
    def first_word(self) -> str:
        return self.content.split()[0]


def _lines(text: str) -> list[_Line | None]:
    """One entry per line of the text: None for a blank line."""
    out: list[_Line | None] = []
    pos = 0
    for raw in text.split("\n"):
        start, pos = pos, pos + len(raw) + 1
        if not raw.strip():
            out.append(None)
            continue
        expanded = raw.expandtabs(8)
        indent = len(expanded) - len(expanded.lstrip())
        out.append(_Line(start, start + len(raw), indent, raw.strip(), len(expanded.rstrip())))
    return out


def _wrap_width(lines: list[_Line]) -> int:
    """The width the text is wrapped at, 0 when its paragraphs are single long lines (or too few lines to tell).

    The third-longest line stands for the width, so one overlong line (a URL) does not skew it; the document is
    wrapped when enough lines come close to that width.
    """
    widths = sorted((line.width for line in lines), reverse=True)
    if len(widths) < 4:
        return 0
    width = widths[2]
    near = sum(1 for w in widths if w >= width - 10)
    return width if 40 <= width <= 160 and near >= max(3, len(widths) // 10) else 0


def _cell_columns(line: _Line) -> set[int]:
    """Columns where a cell starts after a gap of two spaces or more (a column-aligned table row)."""
    raw = " " * line.indent + line.content.expandtabs(8)
    return {m.end() for m in re.finditer(r"\S {2,}(?=\S)", raw)}


def extract_plain(source: str) -> Extraction:
    text, segments = remove_tags(source)
    lines = _lines(text)
    present = [line for line in lines if line is not None]
    width = _wrap_width(present)
    indents = Counter(line.indent for line in present)
    body = max(indents, key=lambda i: (indents[i], -i)) if indents else 0
    indented = body > 0 and any(i < body for i in indents)  # a man page: headings at the margin, text indented
    heading_levels = {indent: rank + 1 for rank, indent in enumerate(sorted(i for i in indents if i < body))}

    def following(i: int) -> _Line | None:
        return lines[i + 1] if i + 1 < len(lines) else None

    # Physical lines → logical lines: a wrapped line and its continuation lines become one block.
    groups: list[list[int]] = []
    i = 0
    while i < len(lines):
        if lines[i] is None:
            i += 1
            continue
        group = [i]
        first = lines[i]
        bullet = BULLET.match(first.content)
        hanging = {first.indent} | ({first.indent + bullet.end()} if bullet else set())
        tagged = _cell_columns(first)  # 'NIS    Sites that use NIS...': a tag, then text hanging at its column
        if tagged:
            hanging.add(min(tagged))
        while width and (nxt := following(group[-1])) is not None:
            last = lines[group[-1]]
            if (
                BULLET.match(nxt.content)
                or nxt.indent not in hanging
                or last.width + 1 + len(nxt.first_word) < width
                or first.content.startswith("#")  # a comment line of an example, not prose
                or nxt.content.startswith(("#", "$ "))
            ):
                break
            group.append(group[-1] + 1)
        groups.append(group)
        i = group[-1] + 1

    # Column-aligned rows: in a run of single lines (same indent, no blank line between), the lines whose cells
    # start at a column shared by the run's lines with gaps of two spaces or more ('Tag des Monats 0-31' has no
    # such gap but its value starts at the shared column); a line of dashes under the first row makes it a head.
    row_kind: dict[int, str] = {}

    def is_rule(line: _Line) -> bool:
        return set(line.content) <= set("-=+| ")

    def starts_at(line: _Line, column: int) -> bool:
        raw = " " * line.indent + line.content.expandtabs(8)
        return 0 < column < len(raw) and raw[column - 1] == " " and raw[column] != " "

    def mark_rows(run: list[int]) -> None:
        run_lines = [lines[groups[g][0]] for g in run]
        gapped = [_cell_columns(line) for line in run_lines if not is_rule(line) and _cell_columns(line)]
        shared = set.intersection(*gapped) if len(gapped) >= 2 else set()
        if not shared:
            return
        rows = [
            g
            for g, line in zip(run, run_lines)
            if is_rule(line) or (_cell_columns(line) & shared) or (not line.content.startswith("#") and any(starts_at(line, c) for c in shared))
        ]
        if sum(1 for g in rows if not is_rule(lines[groups[g][0]])) < 2:
            return
        for g in rows:
            row_kind[g] = "row"
        if len(run) > 2 and run[0] in rows and run[1] in rows and is_rule(run_lines[1]) and not is_rule(run_lines[0]):
            row_kind[run[0]] = "table_head"

    run: list[int] = []
    for g, group in enumerate(groups + [[len(lines)]]):
        line = lines[group[0]] if g < len(groups) else None
        if run and not (
            line is not None
            and len(group) == 1
            and groups[run[-1]][-1] + 1 == group[0]
            and lines[groups[run[-1]][0]].indent == line.indent
        ):
            mark_rows(run)
            run = []
        if line is not None and len(group) == 1:
            run.append(g)

    blocks: list[Block] = []
    chars = list(text)
    definition_indent: int | None = None  # the indent of the term whose definition is running
    for g, group in enumerate(groups):
        first, last = lines[group[0]], lines[group[-1]]
        for k in group[:-1]:  # join the wrapped lines: the newline becomes a space, offsets do not move
            chars[lines[k].end] = " "
        before = lines[group[0] - 1] if group[0] > 0 else None
        after = following(group[-1])
        more_indented_next = after is not None and after.indent > first.indent
        if definition_indent is not None and first.indent <= definition_indent:
            definition_indent = None
        kind, level = "paragraph", 0
        if g in row_kind:
            kind = row_kind[g]
        elif indented and first.indent < body and len(group) == 1 and more_indented_next:
            kind, level = "heading", min(heading_levels[first.indent], 6)
        elif BULLET.match(first.content):
            kind = "item"
        elif (
            len(group) == 1
            and len(first.content) <= 60
            and more_indented_next
            and (before is None or before.indent != first.indent)  # not the last line of a paragraph
        ):
            kind = "term"
            definition_indent = first.indent
        elif indented and first.indent > body and definition_indent is None:
            kind = "code"  # an indented example under a paragraph of the body (not a definition)
        elif definition_indent is not None:
            kind = "definition"
        blocks.append(Block(first.start, last.end, kind, level))
    text = "".join(chars)
    title = next((collapse(line.content) for line in present if len(line.content) <= 200), "")
    if indented:  # a man page: its first line is a running header; the line under NAME says what it is
        first_heading = next((i for i, b in enumerate(blocks) if b.kind == "heading"), None)
        if first_heading is not None and first_heading + 1 < len(blocks) and blocks[first_heading + 1].kind != "heading":
            under = blocks[first_heading + 1]
            title = collapse(text[under.start : under.end])[:200] or title
    return Extraction(text, blocks, title, [], segments)
