"""A table's columns as the support check reads them, from files as the extractors write them."""
from __future__ import annotations

from rag.documents import load_document
from rag.tables import columns, names_its_value, record, value_kind


def row_start(doc, text: str) -> int:
    return doc.text.index(text)


def test_a_csv_files_columns_come_from_all_its_records_not_only_the_row_read(tmp_path):
    """The row of an unreleased version leaves its release out; the file's other records name that column."""
    path = tmp_path / "debian.csv"
    path.write_text(
        "version,codename,created,release\n12,Bookworm,2021-08-14,2023-06-10\n13,Trixie,2023-06-10,2025-08-09\n"
        "15,Duke,2027-08-01,\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    duke = row_start(doc, "version: 15")
    assert "release" not in doc.text[duke:]
    assert columns(doc, duke, "en") == {"version": "number", "codename": "text", "created": "date", "release": "date"}


def test_two_tables_of_a_page_keep_their_own_columns(tmp_path):
    path = tmp_path / "page.md"
    path.write_text(
        "# Releases\n\n| version | release |\n|---|---|\n| 12 | 2023-06-10 |\n\n"
        "Some text between the tables.\n\n# Ports\n\n| port | since |\n|---|---|\n| arm64 | 8 |\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert columns(doc, row_start(doc, "arm64"), "en") == {"port": "text", "since": "number"}
    assert columns(doc, row_start(doc, "12 | 2023"), "en") == {"version": "number", "release": "date"}
    assert columns(doc, row_start(doc, "Some text"), "en") == {}  # not a row


def test_a_value_kind():
    assert [value_kind(v, "en") for v in ("2027-08-01", "31 August 2026", "1.1", "Duke", " ")] == [
        "date", "date", "number", "text", ""
    ]


def test_a_rows_cells_are_named_by_its_head_or_by_its_own_record_line():
    """What the support check reads of a row: each value with its column's name."""
    assert record("Temperature | 0 to 40 °C", "Setting | Value") == [("Setting", "Temperature"), ("Value", "0 to 40 °C")]
    assert record("15 | Duke | 2027-08-01 |", "version | codename | created | release")[-1] == ("release", "")
    assert record("version: 15 | codename: Duke") == [("version", "15"), ("codename", "Duke")]
    assert record("Note: read this | 12") == []  # one cell named, one not: not a record
    assert record("Both rows, one cell spanning the table", "Setting | Value") == []


def test_a_line_names_its_value_in_a_few_words():
    assert names_its_value("Installed-Size: 145")
    assert names_its_value("Temperature | 0 to 40 °C", "Setting | Value")
    assert not names_its_value("In short, when the package is installed by hand, do this: run dpkg -i")
    assert not names_its_value("Installed-Size:")  # no value
