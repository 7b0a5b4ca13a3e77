"""Spreadsheets (.xlsx) with openpyxl: each sheet's records written as CSV records are (rag/extractors/delimited.py),
one line per record with its column names, the first non-empty row of a sheet naming its columns. A workbook of
several sheets gives each sheet's name as a heading above its records (context for them, never quoted); formulas
give the value the spreadsheet last computed. No source map (offsets into a zip of XML mean nothing to a reader).
"""
from __future__ import annotations

import datetime as dt
import io

from rag.extractors import Extraction, LineBuilder, collapse, table_cell
from rag.extractors.delimited import write_records


def cell_text(value: object) -> str:
    """A cell as the spreadsheet shows it by default: 7 not 7.0, a date without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return table_cell(str(value))


def extract_xlsx(raw: bytes) -> Extraction:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    try:
        out = LineBuilder()
        several = len(book.worksheets) > 1
        for sheet in book.worksheets:
            rows = ([cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True))
            write_records(out, rows, collapse(sheet.title) if several else "")
        title = collapse(book.properties.title or "")
    finally:
        book.close()
    return out.extraction(title[:300])
