"""Extraction of .txt, .md, .html and .pdf into clean text, metadata, labelled regions and a source map."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from conftest import DEVELOPPEZ, DOCS, FUTURISM
from rag.documents import Document, DocumentError, find_files, load_document

IFRAME = (
    "<iframe class=“restrain” title=“YouTube video player” width=“560” height=“315” allowfullscreen=“” src=“\n"
    "” frameborder=“0”></iframe>"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- .txt


def test_txt_leftover_iframe_is_removed_and_the_text_around_it_joined(tmp_path):
    raw = f"Avant la vidéo, une phrase.\n{IFRAME}Après la vidéo, une autre phrase.\n"
    doc = load_document(write(tmp_path / "video.txt", raw))
    assert doc.text == "Avant la vidéo, une phrase.\nAprès la vidéo, une autre phrase.\n"
    assert "<" not in doc.text and ">" not in doc.text and "“" not in doc.text


def test_txt_less_than_sign_that_is_not_markup_is_kept(tmp_path):
    doc = load_document(write(tmp_path / "maths.txt", "On sait que 3 < 5 et que 7 > 2.\n"))
    assert doc.text == "On sait que 3 < 5 et que 7 > 2.\n"


def test_shipped_article_has_no_markup_left():
    doc = load_document(DOCS / f"{DEVELOPPEZ}.txt")
    for markup in ("<", ">", "iframe", "frameborder", "YouTube video player", "“restrain”"):
        assert markup not in doc.text
    # The sentence that followed the tag starts its own line of clean text.
    assert "véritable intelligence.\nUne analyse récente suggère" in doc.text


def test_source_map_points_after_the_removed_tag(tmp_path):
    raw = f"Avant la vidéo, une phrase.\n{IFRAME}Après la vidéo, une autre phrase.\n"
    path = write(tmp_path / "video.txt", raw)
    doc = load_document(path)
    after = doc.text.index("Après")
    assert doc.to_source_offset(after) == raw.index("Après")
    assert doc.to_source_offset(after + 6) == raw.index("la vidéo, une autre")
    assert doc.to_source_offset(0) == 0
    assert doc.to_source_offset(doc.text.index("une phrase")) == raw.index("une phrase")
    assert doc.to_source_offset(len(doc.text)) == len(raw)


def test_source_map_of_shipped_article_maps_every_line_back_to_the_file():
    path = DOCS / f"{DEVELOPPEZ}.txt"
    raw = path.read_text(encoding="utf-8")
    doc = load_document(path)
    after_tag = doc.text.index("Une analyse récente")
    assert doc.to_source_offset(after_tag) == raw.index("Une analyse récente") > after_tag
    # Every clean character is the source character the map points at.
    for offset in range(0, len(doc.text), 7):
        assert raw[doc.to_source_offset(offset)] == doc.text[offset]


def test_crlf_and_bom_are_normalized(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffPremière ligne.\r\nDeuxième ligne.\r\n".encode("utf-8"))
    doc = load_document(path)
    assert doc.text == "Première ligne.\nDeuxième ligne.\n"
    assert doc.title == "Première ligne."


# ---------------------------------------------------------------- .md


def test_markdown_headings_emphasis_and_links_become_plain_text(tmp_path):
    raw = (
        "# Le titre principal\n"
        "\n"
        "Un paragraphe avec du **gras**, de l'*italique*, du _souligné_ et un "
        "[lien vers le site](https://example.com/page \"Titre\").\n"
        "\n"
        "## Sous-titre\n"
        "\n"
        "> Une citation importante avec `du code` et snake_case_name.\n"
    )
    doc = load_document(write(tmp_path / "note.md", raw))
    assert doc.title == "Le titre principal"
    assert doc.text == (
        "Le titre principal\n"
        "\n"
        "Un paragraphe avec du gras, de l'italique, du souligné et un lien vers le site.\n"
        "\n"
        "Sous-titre\n"
        "\n"
        "Une citation importante avec du code et snake_case_name.\n"
    )
    assert doc.metadata["format"] == "md"


def test_markdown_images_and_inline_html_are_removed(tmp_path):
    raw = "Texte ![une image](img/photo.png) puis <span class=\"x\">du html</span> fin.\n"
    doc = load_document(write(tmp_path / "img.markdown", raw))
    assert "img/photo.png" not in doc.text and "une image" not in doc.text
    assert "<" not in doc.text and "span" not in doc.text
    assert "du html" in doc.text


def test_markdown_source_map_skips_the_marks(tmp_path):
    raw = "# Titre\n\nDu **gras** puis un [lien](https://example.com) final.\n"
    doc = load_document(write(tmp_path / "map.md", raw))
    for word in ("Titre", "gras", "puis", "lien", "final"):
        assert doc.to_source_offset(doc.text.index(word)) == raw.index(word), word


# ---------------------------------------------------------------- .html

HTML = """<!DOCTYPE html>
<html><head><title>Page de test &amp; essai</title>
<style>body { color: red; } .hidden { display: none; }</style>
<script>var x = "<b>pas du texte</b>";</script>
</head>
<body>
<h1>Le grand titre</h1>
<p>Caf&eacute; &amp; th&eacute; sont servis.   Deux   espaces.</p>
<div>Un autre bloc<br>avec une ligne.</div>
<script>alert("non");</script>
</body></html>
"""


def test_html_visible_text_with_entities_decoded_and_title(tmp_path):
    doc = load_document(write(tmp_path / "page.html", HTML))
    assert doc.title == "Page de test & essai"
    assert doc.text == "Le grand titre\nCafé & thé sont servis. Deux espaces.\nUn autre bloc\navec une ligne."
    for hidden in ("color", "var x", "pas du texte", "alert", "<", "&amp;", "&eacute;"):
        assert hidden not in doc.text
    assert doc.metadata["format"] == "html"


def test_html_without_title_uses_h1(tmp_path):
    doc = load_document(write(tmp_path / "page.htm", "<html><body><h1>Titre &eacute;lu</h1><p>Corps du texte.</p></body></html>"))
    assert doc.title == "Titre élu"
    assert doc.text == "Titre élu\nCorps du texte."


def test_html_source_map_points_at_each_block(tmp_path):
    doc = load_document(write(tmp_path / "page.html", HTML))
    assert doc.to_source_offset(doc.text.index("Le grand titre")) == HTML.index("Le grand titre")
    assert doc.to_source_offset(doc.text.index("Café")) == HTML.index("Caf&eacute;")
    assert doc.to_source_offset(doc.text.index("Un autre bloc")) == HTML.index("Un autre bloc")
    assert doc.to_source_offset(doc.text.index("avec une ligne")) == HTML.index("avec une ligne")


# ---------------------------------------------------------------- .pdf


def test_pdf_text_title_and_pages(tmp_path, make_pdf):
    path = tmp_path / "rapport.pdf"
    path.write_bytes(make_pdf([["Le café de Zoé coûte 3 € (trois).", "Deuxième ligne."], ["Page deux : élève."]], title="Rapport été"))
    doc = load_document(path)
    assert doc.title == "Rapport été"
    assert doc.text == "Le café de Zoé coûte 3 € (trois).\nDeuxième ligne.\n\nPage deux : élève."
    assert doc.metadata["format"] == "pdf"
    # For a PDF the source map gives the page number.
    assert doc.to_source_offset(doc.text.index("Deuxième")) == 1
    assert doc.to_source_offset(doc.text.index("Page deux")) == 2


def test_pdf_without_title_metadata_uses_first_line(tmp_path, make_pdf):
    path = tmp_path / "sans-titre.pdf"
    path.write_bytes(make_pdf([["Une seule ligne de texte."]]))
    doc = load_document(path)
    assert doc.title == "Une seule ligne de texte."
    assert doc.text == "Une seule ligne de texte."


# ---------------------------------------------------------------- metadata and labelled regions


def test_metadata_from_sources_json():
    doc = load_document(DOCS / f"{DEVELOPPEZ}.txt")
    assert doc.doc_id == DEVELOPPEZ
    assert doc.title == "Yann LeCun quitte Meta, estimant que les grands modèles de langage (LLM) sont une impasse"
    assert doc.metadata["publisher"] == "developpez.com"
    assert doc.metadata["language"] == "fr"
    assert doc.metadata["format"] == "txt"
    other = load_document(DOCS / f"{FUTURISM}.txt")
    assert other.title == "L'ancien parrain de l'IA chez Meta révèle exactement pourquoi il a quitté Zuckerberg"
    assert other.metadata["publisher"].startswith("Futurism")


def test_reader_comment_and_boilerplate_are_kept_but_labelled():
    doc = load_document(DOCS / f"{DEVELOPPEZ}.txt")
    comment = doc.text.index("Une impasse ? C’est peut-être")
    assert doc.label_at(comment) == "reader_comment"
    assert doc.label_at(len(doc.text) - 1) == "reader_comment"
    assert doc.label_at(doc.text.index("Article complet : developpez.com")) == "boilerplate"
    assert doc.label_at(doc.text.index("[…]")) == "boilerplate"
    assert doc.label_at(doc.text.index("Une analyse récente")) == "article"
    assert doc.label_at(0) == "article"
    # The comment region starts right after the second '-' line and runs to the end.
    comments = [r for r in doc.regions if r.label == "reader_comment"]
    assert len(comments) == 1
    assert comments[0].end == len(doc.text)
    assert doc.text[comments[0].start :].lstrip().startswith("Une impasse ?")
    assert doc.text[: comments[0].start].rstrip().endswith("\n-")


def test_table_of_contents_is_boilerplate_but_headings_are_not():
    doc = load_document(DOCS / f"{FUTURISM}.txt")
    toc = doc.text.index("In This Article:")
    assert doc.label_at(toc) == "boilerplate"
    toc_line = doc.text.index("- World models et l’échec relatif")
    assert doc.label_at(toc_line) == "boilerplate"
    # The same heading text as a section title (not prefixed by '- ') is article text.
    heading = doc.text.index("\nWorld models et l’échec relatif") + 1
    assert doc.label_at(heading) == "article"
    assert not any(r.label == "reader_comment" for r in doc.regions)


def test_without_sources_json_title_is_first_line(tmp_path):
    doc = load_document(write(tmp_path / "libre.txt", "Mon titre\nLe corps du texte.\n"))
    assert doc.title == "Mon titre"
    assert doc.regions == []
    # The absolute path lets `rag ingest --prune` find the file from any working folder.
    assert doc.metadata == {"format": "txt", "path": str((tmp_path / "libre.txt").resolve())}


def test_broken_sources_json_is_ignored(tmp_path):
    write(tmp_path / "sources.json", "{not json")
    doc = load_document(write(tmp_path / "libre.txt", "Mon titre\nLe corps du texte.\n"))
    assert doc.title == "Mon titre"


def test_metadata_change_changes_the_digest(tmp_path):
    path = write(tmp_path / "a.txt", "Titre\nTexte.\n")
    write(tmp_path / "sources.json", json.dumps([{"file": "a.txt", "title": "Premier"}]))
    first = load_document(path)
    write(tmp_path / "sources.json", json.dumps([{"file": "a.txt", "title": "Second"}]))
    second = load_document(path)
    assert (first.title, second.title) == ("Premier", "Second")
    assert first.sha256 != second.sha256


def test_document_round_trips_through_dict():
    doc = load_document(DOCS / f"{DEVELOPPEZ}.txt")
    again = Document.from_dict(json.loads(json.dumps(doc.to_dict())))
    assert again == doc
    offset = doc.text.index("Une analyse récente")
    assert again.to_source_offset(offset) == doc.to_source_offset(offset)
    assert again.label_at(len(doc.text) - 1) == "reader_comment"


# ---------------------------------------------------------------- bad files


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "empty": tmp_path / "empty.txt",
        "blank": tmp_path / "blank.md",
        "binary": tmp_path / "binary.txt",
        "latin1": tmp_path / "latin1.txt",
        "corrupt_pdf": tmp_path / "corrupt.pdf",
        "fake_pdf": tmp_path / "fake.pdf",
        "missing": tmp_path / "missing.txt",
        "folder": tmp_path / "folder.txt",
        "unsupported": tmp_path / "notes.docx",
    }
    files["empty"].write_bytes(b"")
    files["blank"].write_bytes(b"  \n\t\n")
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(2000))
    files["latin1"].write_bytes("Crème brûlée à la française.\n".encode("latin-1"))
    files["corrupt_pdf"].write_bytes(b"%PDF-1.4\n" + random.Random(2).randbytes(1500))
    files["fake_pdf"].write_bytes(b"Ceci n'est pas un PDF.\n")
    files["folder"].mkdir()
    files["unsupported"].write_bytes(b"PK\x03\x04 zip")
    return files


EXPECTED_REASON = {
    "empty": "empty file",
    "blank": "empty file",
    "binary": "binary content",
    "latin1": "not valid UTF-8",
    "corrupt_pdf": "corrupt or unreadable PDF",
    "fake_pdf": "not a PDF file",
    "missing": "no such file",
    "folder": "not a regular file",
    "unsupported": "unsupported file type",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_REASON))
def test_bad_file_raises_one_line_error_naming_the_file(tmp_path, kind):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(DocumentError) as caught:
        load_document(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert EXPECTED_REASON[kind] in message
    assert "\n" not in message
    assert caught.value.path == str(path)


def test_text_with_a_pdf_header_named_txt_is_refused(tmp_path, make_pdf):
    path = tmp_path / "renamed.txt"
    path.write_bytes(make_pdf([["Du texte."]]))
    with pytest.raises(DocumentError, match="binary content"):
        load_document(path)


def test_permission_denied_is_a_document_error(tmp_path, monkeypatch):
    path = write(tmp_path / "secret.txt", "Texte secret.\n")
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: simulate the refusal the OS would give a normal user
        real = Path.read_bytes

        def refuse(self):
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DocumentError) as caught:
        load_document(path)
    assert str(caught.value) == f"{path}: permission denied"


def test_find_files_expands_folders_and_reports_missing_paths(tmp_path):
    write(tmp_path / "b.md", "B\n")
    write(tmp_path / "a.txt", "A\n")
    write(tmp_path / "ignored.docx", "x")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "c.html", "<p>C</p>")
    files, errors = find_files([tmp_path, tmp_path / "nope.txt"])
    assert [p.name for p in files] == ["a.txt", "b.md", "c.html"]
    assert [str(e) for e in errors] == [f"{tmp_path / 'nope.txt'}: no such file or folder"]
