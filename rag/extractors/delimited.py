"""Tables in delimited text (.csv, .tsv) with Python's csv module: one line per record, each value after its
column's name ("version: 7 | codename: Wheezy | release: 2013-05-04").

A CSV file has no look of its own to keep, so each record is written so that it reads alone: quoted as evidence
(row 300 of a table, far from its head) and read by the model. Measured on Debian's release table
(distro-info-data's debian.csv, nine questions in four languages, 2026-12-05): with bare values under a head line
the model took the "created" column for the "release" one three times, each shown as supported; with the names
beside the values it answered five right and gave one such answer.

The delimiter of a .csv is sniffed among comma, semicolon, tab and bar (a spreadsheet in a French or German locale
writes semicolons); a .tsv is tab-separated. The first record names the columns (a file without such a head keeps
its first record as the names, so none of its text is lost). Empty values are left out. No source map (quoting
and the names make the file's offsets differ from the line's).
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

from rag.extractors import Extraction, LineBuilder, table_cell
from rag.text import CELLS, record_line

DELIMITERS = ",;\t|"
SNIFF_CHARS = 64 * 1024


def dialect_of(text: str, suffix: str) -> type[csv.Dialect] | csv.Dialect:
    """The csv dialect of the text: tabs for .tsv, else sniffed, else the comma of RFC 4180."""
    if suffix == ".tsv":
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(text[:SNIFF_CHARS], delimiters=DELIMITERS)
    except csv.Error:  # one column, or too irregular to tell
        return csv.excel


def write_records(out: LineBuilder, rows: Iterable[list[str]], heading: str = "") -> None:
    """A table's rows of cell texts into the text: the first non-empty row names the columns, every other one is a
    record line; the heading, if any, goes above them (a workbook's sheet name). A head alone is still written."""
    table = object()  # one group: records are separated by one newline, as a table's rows are
    names: list[str] | None = None
    records = 0
    for values in rows:
        if not any(values):
            continue
        if names is None:
            names = values
            if heading:
                out.add(heading, "heading", 1)
            continue
        out.add(record_line(names, values), "row", group=table)
        records += 1
    if names is not None and not records:
        out.add(CELLS.join(v for v in names if v), "row", group=table)


def extract_delimited(text: str, suffix: str = ".csv") -> Extraction:
    out = LineBuilder()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), dialect_of(text, suffix))
    write_records(out, ([table_cell(cell) for cell in cells] for cells in reader))
    return out.extraction()
