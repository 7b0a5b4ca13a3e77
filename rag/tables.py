"""A table as the support check reads it: a row's values by column name, and each column's kind of value."""
from __future__ import annotations

from bisect import bisect_right

from rag import facts as F
from rag.text import cells, head_cells
from rag.types import Block, Document

KINDS = ("", "text", "number", "date")  # a column's kind: the highest of its values' ('' when every value is empty)
TABLE_ROWS = 400  # rows read from a table's start for its columns' names and kinds: a CSV file may hold a million
TABLE_KINDS = ("row", "table_head")
NAME_WORDS = 3  # a "name: value" line names its value in a few words; "In short, it does this: ..." is prose


def record(row: str, head: str = "") -> list[tuple[str, str]]:
    """A row's (column name, value) pairs: after its table head's names when as many cells (two or more), else
    from its own "name: value" cells (a record line); [] when its cells are not named."""
    matched = head_cells(head, row) if head else None
    if matched:
        return list(zip(*matched))
    pairs = [cell.partition(": ") for cell in cells(row)]
    if len(pairs) >= 2 and all(name and sep for name, sep, _ in pairs):
        return [(name, value) for name, _, value in pairs]
    return []


def names_its_value(line: str, head: str = "") -> bool:
    """A row whose cells are named, or a "name: value" line whose name is a few words ("Installed-Size: 145")."""
    if record(line, head):
        return True
    name, sep, value = line.partition(": ")
    return bool(sep and value.strip()) and 0 < len(name.split()) <= NAME_WORDS


def value_kind(value: str, lang: str) -> str:
    """'date', 'number', 'text', or '' for an empty value."""
    if not value.strip():
        return ""
    if F.dates(value, lang):
        return "date"
    return "number" if F.numbers(value, lang) else "text"


def columns(doc: Document, start: int, lang: str) -> dict[str, str]:
    """The columns of the table holding the row that starts at `start`, each with its kind: read from the table's
    head and first rows, and the row itself, also where the model did not read them (a CSV record line leaves its
    empty values out, so the row of an unreleased version never names the release column)."""
    blocks = doc.blocks
    at = bisect_right(blocks, start, key=lambda b: b.start) - 1
    if at < 0 or blocks[at].kind != "row":
        return {}  # not a table's row
    first = at
    while first > 0 and blocks[first - 1].kind in TABLE_KINDS:
        first -= 1
    key = (doc.doc_id, doc.sha256, first, lang)
    if key not in _SEEN:
        if len(_SEEN) >= 32:  # the same few tables for every claim and line tried
            _SEEN.clear()
        last = first
        while last < len(blocks) and last - first < TABLE_ROWS and blocks[last].kind in TABLE_KINDS:
            last += 1
        _SEEN[key] = _kinds(doc, blocks[first:last], lang)
    return _kinds(doc, [blocks[at]], lang, dict(_SEEN[key]))


_SEEN: dict[tuple, dict[str, str]] = {}


def _kinds(doc: Document, blocks: list[Block], lang: str, kinds: dict[str, str] | None = None) -> dict[str, str]:
    """Each column name of the blocks (table heads and rows, in order) with the highest kind of its values."""
    kinds = kinds if kinds is not None else {}
    head = ""
    for block in blocks:
        line = doc.text[block.start : block.end]
        if block.kind == "table_head":
            head = line
            kinds.update((name, kinds.get(name, "")) for name in cells(line) if name)
            continue
        for name, value in record(line, head):
            kind = value_kind(value, lang)
            if KINDS.index(kind) >= KINDS.index(kinds.get(name, "")):
                kinds[name] = kind
    return kinds
