"""Files → Documents: clean text with one block per line, languages by section, metadata, regions, errors.

Per format (.txt hand-written, .md markdown-it-py, .html selectolax + trafilatura, .pdf pypdfium2, .docx
python-docx), plus the line/block invariant over every real document of the Debian corpus and docs/.
"""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest

from conftest import DEVELOPPEZ, DOCS, FUTURISM, ROOT, make_epub
from rag.chunking import chunk_document
from rag.documents import Document, DocumentError, find_files, load_document
from rag.types import BLOCK_KINDS, Block, LangSpan

CORPUS = ROOT / "tests" / "data" / "debian" / "corpus"
CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.name != "MANIFEST.txt") if CORPUS.is_dir() else []
IFRAME = (
    "<iframe class=“restrain” title=“YouTube video player” width=“560” height=“315” allowfullscreen=“” src=“\n"
    "” frameborder=“0”></iframe>"
)
ENGLISH = (
    "The package manager keeps a database of every installed program, and it checks the dependencies of each "
    "package before installing it, so that the system always stays in a consistent state. When a package is "
    "removed, its configuration files are kept unless the administrator asks for them to be purged as well."
)
GERMAN = (
    "Die Paketverwaltung führt eine Datenbank aller installierten Programme und prüft vor jeder Installation die "
    "Abhängigkeiten eines Pakets, damit das System immer in einem konsistenten Zustand bleibt. Wird ein Paket "
    "entfernt, bleiben seine Konfigurationsdateien erhalten, solange der Verwalter sie nicht ausdrücklich löscht."
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def lines_of(text: str) -> list[tuple[int, int]]:
    """(start, end) of every non-empty line of the text, without its newline."""
    spans, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def check_invariants(doc: Document) -> None:
    """Every non-empty line is exactly one block, in order; kinds valid; languages cover the text."""
    assert [(b.start, b.end) for b in doc.blocks] == lines_of(doc.text)
    for block in doc.blocks:
        assert block.kind in BLOCK_KINDS
        assert "\n" not in doc.text[block.start : block.end]
        assert (1 <= block.level <= 6) if block.kind == "heading" else block.level == 0
    assert doc.langs and doc.langs[0].start == 0 and doc.langs[-1].end == len(doc.text)
    for before, after in zip(doc.langs, doc.langs[1:]):
        assert before.end == after.start and before.lang != after.lang
    for region in doc.regions:
        assert 0 <= region.start < region.end <= len(doc.text)


def blocks(doc: Document, kind: str | None = None) -> list[str]:
    return [doc.text[b.start : b.end] for b in doc.blocks if kind is None or b.kind == kind]


def block_at(doc: Document, needle: str) -> Block:
    offset = doc.text.index(needle)
    return next(b for b in doc.blocks if b.start <= offset < b.end)


# ---------------------------------------------------------------- every real document


@pytest.mark.skipif(not CORPUS_FILES, reason="Debian corpus not built (bash scripts/debian_corpus.sh)")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_document_blocks_and_language(path):
    doc = load_document(path)
    check_invariants(doc)
    assert doc.lang == path.name.split("-")[0]
    assert {"heading", "paragraph"} <= {b.kind for b in doc.blocks}
    for hidden in ("<script", "<style", "base64,", "\x00"):
        assert hidden not in doc.text


@pytest.mark.parametrize("stem", [DEVELOPPEZ, FUTURISM])
def test_shipped_articles_blocks_and_language(stem):
    doc = load_document(DOCS / f"{stem}.txt")
    check_invariants(doc)
    assert doc.lang == "fr"


@pytest.mark.skipif(not CORPUS_FILES, reason="Debian corpus not built")
def test_corpus_structure_that_questions_need():
    handbook = load_document(CORPUS / "en-handbook-migrate.html")
    assert "Operating System | Architecture(s)" in blocks(handbook, "table_head")
    assert "HP Unix | ia64, hppa" in blocks(handbook, "row")
    # trafilatura drops the handbook's sidebars; they stay article text, not boilerplate.
    sidebar = handbook.text.index("The apt-show-versions package provides a tool")
    assert handbook.label_at(sidebar) == "article"
    assert handbook.label_at(handbook.text.index("Download the ebook")) == "boilerplate"
    assert [b.level for b in handbook.blocks if b.kind == "heading"][:3] == [2, 3, 4]
    faq = load_document(CORPUS / "en-faq-pkg-basics.html")
    assert "Installed-Size: 145" in blocks(faq, "code")
    assert "7.1. What is a Debian package?" in blocks(faq, "heading")
    assert faq.label_at(faq.text.index("Table of Contents")) == "boilerplate"
    # a footnote after the last line trafilatura kept, in the chapter's element: article, as the text above it
    support = load_document(CORPUS / "en-faq-support.html")
    assert support.label_at(support.text.index("Use the debian-list-subject-REQUEST")) == "article"
    fstab = load_document(CORPUS / "de-man-fstab.txt")
    assert block_at(fstab, "nofail").kind == "term"
    definition = block_at(fstab, "Keine Fehler für dieses Gerät melden")
    assert definition.kind == "definition"
    assert block_at(fstab, "Das vierte Feld").kind == "heading" and block_at(fstab, "Das vierte Feld").level == 2
    assert block_at(fstab, "BESCHREIBUNG").level == 1
    crontab = load_document(CORPUS / "de-man-crontab.txt")
    assert block_at(crontab, "Feld           Zulässige Werte").kind == "table_head"
    assert block_at(crontab, "Minute         0-59").kind == "row"
    assert block_at(crontab, "Tag des Monats 0-31").kind == "row"


@pytest.mark.skipif(not CORPUS_FILES, reason="Debian corpus not built")
def test_corpus_french_faq_keeps_its_untranslated_english_section():
    doc = load_document(CORPUS / "fr-faq-pkg-basics.html")
    assert doc.lang == "fr"
    english = doc.text.index('The Section line gives the "section"')
    assert doc.lang_at(english) == "en"
    assert doc.lang_at(doc.text.index("Les paquets sources sont constitués")) == "fr"


# ---------------------------------------------------------------- .txt


MAN_PAGE = """\
MOUNT(8)                      System Administration                      MOUNT(8)

NAME
       mount - mount a filesystem

DESCRIPTION
       All files accessible in a Unix system are arranged in one big tree, the file
       hierarchy, rooted at /. These files can be spread out over several devices.
       The mount command serves to attach the filesystem found on some device to the
       big file tree.

       The standard form of the mount command is:

              mount -t type device dir

   Indicating the device and filesystem
       Most block devices are referred to by a LABEL=<label> or by the
       <host>:<dir> of a network share, which is the recommended way to name them.

OPTIONS
       -b, --boot
              Boot the system from this device after it has been checked, which only
              works with the firmware of some machines.

       -v, --verbose
              Verbose mode.

       - first point of a list
       - second point

SEE ALSO
       umount(8), fstab(5)
"""


def test_txt_man_page_wrapped_lines_are_joined_with_exact_offsets(tmp_path):
    path = write(tmp_path / "mount.txt", MAN_PAGE)
    doc = load_document(path)
    check_invariants(doc)
    # The newline of a wrapped line became a space: same length, every offset of the file kept.
    assert len(doc.text) == len(MAN_PAGE)
    assert doc.text.replace(" ", "\n") == MAN_PAGE.replace(" ", "\n")
    for block in doc.blocks:
        assert MAN_PAGE[block.start : block.end].replace("\n", " ") == doc.text[block.start : block.end]
    assert all(doc.to_source_offset(i) == i for i in range(0, len(doc.text), 11))
    paragraph = block_at(doc, "All files accessible")
    assert paragraph.kind == "paragraph"
    assert doc.text[paragraph.start : paragraph.end].split() == (
        "All files accessible in a Unix system are arranged in one big tree, the file hierarchy, rooted at /. "
        "These files can be spread out over several devices. The mount command serves to attach the filesystem "
        "found on some device to the big file tree."
    ).split()
    # A short last line ends its paragraph; a line after a blank line starts a new block.
    assert block_at(doc, "The standard form").end == doc.text.index("is:") + 3


def test_txt_man_page_headings_terms_items_and_code(tmp_path):
    doc = load_document(write(tmp_path / "mount.txt", MAN_PAGE))
    headings = [(doc.text[b.start : b.end].strip(), b.level) for b in doc.blocks if b.kind == "heading"]
    assert headings == [
        ("NAME", 1), ("DESCRIPTION", 1), ("Indicating the device and filesystem", 2), ("OPTIONS", 1), ("SEE ALSO", 1)
    ]
    assert [t.strip() for t in blocks(doc, "term")] == ["-b, --boot", "-v, --verbose"]
    definition = block_at(doc, "Boot the system")
    assert definition.kind == "definition" and "some machines." in doc.text[definition.start : definition.end]
    assert block_at(doc, "Verbose mode.").kind == "definition"
    assert [t.strip() for t in blocks(doc, "item")] == ["- first point of a list", "- second point"]
    assert [t.strip() for t in blocks(doc, "code")] == ["mount -t type device dir"]
    # The header line is not a heading: no indented text right under it. The title is the line under NAME.
    assert block_at(doc, "MOUNT(8)").kind == "paragraph"
    assert doc.title == "mount - mount a filesystem"


def test_txt_placeholders_in_angle_brackets_are_content(tmp_path):
    doc = load_document(write(tmp_path / "mount.txt", MAN_PAGE))
    assert "LABEL=<label>" in doc.text
    assert "<host>:<dir>" in doc.text
    raw = "Für NFS verwendet man <Rechner>:<Verzeichnis> oder LABEL=<label>, siehe <fstab.h> und x-<name>.\n"
    doc = load_document(write(tmp_path / "fstab.txt", raw))
    assert doc.text == raw


def test_txt_leftover_iframe_is_removed_and_the_text_around_it_joined(tmp_path):
    raw = f"Avant la vidéo, une phrase.\n{IFRAME}Après la vidéo, une <b>autre</b> phrase.\n"
    doc = load_document(write(tmp_path / "video.txt", raw))
    assert doc.text == "Avant la vidéo, une phrase.\nAprès la vidéo, une autre phrase.\n"
    assert "<" not in doc.text and ">" not in doc.text and "“" not in doc.text
    check_invariants(doc)


def test_txt_less_than_sign_that_is_not_markup_is_kept(tmp_path):
    doc = load_document(write(tmp_path / "maths.txt", "On sait que 3 < 5 et que 7 > 2.\n"))
    assert doc.text == "On sait que 3 < 5 et que 7 > 2.\n"


def test_txt_paragraphs_on_single_long_lines_keep_every_line_as_a_block():
    path = DOCS / f"{DEVELOPPEZ}.txt"
    raw = path.read_text(encoding="utf-8")
    doc = load_document(path)
    # Nothing joined: the clean text is the file minus the leftover iframe.
    assert doc.text == raw.replace(IFRAME, "")
    assert len(doc.blocks) == len([line for line in doc.text.split("\n") if line.strip()])


def test_txt_list_items(tmp_path):
    raw = "Courses :\n- du pain\n* du lait\n• des œufs\n1. premier\n2) second\na) lettre\n-\nTexte.\n"
    doc = load_document(write(tmp_path / "liste.txt", raw))
    assert blocks(doc, "item") == ["- du pain", "* du lait", "• des œufs", "1. premier", "2) second", "a) lettre"]
    assert block_at(doc, "Texte.").kind == "paragraph"
    assert doc.blocks[7].kind == "paragraph"  # a lone '-' is a separator line, not an item


def test_txt_list_items_lettered_in_any_script(tmp_path):
    raw = "Список:\nа) первый пункт\nб) второй пункт\nΛίστα:\nα) πρώτο\nβ) δεύτερο\nA) Eine Zeile, kein Punkt.\n"
    doc = load_document(write(tmp_path / "liste.txt", raw))
    assert blocks(doc, "item") == ["а) первый пункт", "б) второй пункт", "α) πρώτο", "β) δεύτερο"]


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
    for offset in range(0, len(doc.text), 7):
        assert raw[doc.to_source_offset(offset)] == doc.text[offset]


def test_crlf_and_bom_are_normalized(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffPremière ligne.\r\nDeuxième ligne.\r\n".encode("utf-8"))
    doc = load_document(path)
    assert doc.text == "Première ligne.\nDeuxième ligne.\n"
    assert doc.title == "Première ligne."


# ---------------------------------------------------------------- text encodings


@pytest.mark.parametrize(
    "encoding, text",
    [
        ("latin-1", "Crème brûlée à la française, servie à Noël.\n"),
        ("cp1252", "“Déjà vu” – l’été à Noël, une œuvre très appréciée.\n"),
        ("latin-1", "Die Größe der Äpfel übertrifft alle Erwartungen, sagte der Bäcker aus München. " * 8 + "\n"),
        ("utf-16", "Größe und Übermaß: Äpfel, Öl.\n"),  # with a BOM (little-endian here)
        ("utf-16-be-bom", "Größe und Übermaß: Äpfel, Öl.\n"),
        ("utf-32", "Größe und Übermaß.\n"),
        ("utf-8-sig", "Größe und Übermaß.\n"),
    ],
)
def test_text_encodings_are_decoded(tmp_path, encoding, text):
    path = tmp_path / "encoded.txt"
    raw = b"\xfe\xff" + text.encode("utf-16-be") if encoding == "utf-16-be-bom" else text.encode(encoding)
    path.write_bytes(raw)
    assert load_document(path).text == text


def test_undecidable_bytes_are_refused(tmp_path):
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(random.Random(3).randrange(128, 256) for _ in range(2000)))
    with pytest.raises(DocumentError, match="encoding could not be recognised"):
        load_document(path)


# ---------------------------------------------------------------- .md


def test_markdown_blocks_and_plain_text(tmp_path):
    raw = (
        "# Le titre principal\n"
        "\n"
        "Un paragraphe avec du **gras**, de l'*italique*, du _souligné_ et un\n"
        "[lien vers le site](https://example.com/page \"Titre\").\n"
        "\n"
        "## Sous-titre\n"
        "\n"
        "> Une citation importante avec `du code` et snake_case_name.\n"
        "\n"
        "- premier point\n"
        "- second point\n"
        "  1. sous-point\n"
        "\n"
        "| Option | Effet |\n"
        "|--------|-------|\n"
        "| `-b`   | démarre |\n"
        "| `-v`   | bavard |\n"
        "\n"
        "```sh\n"
        "dd if=image.iso of=/dev/sdb\n"
        "  sync\n"
        "```\n"
    )
    doc = load_document(write(tmp_path / "note.md", raw))
    check_invariants(doc)
    assert doc.title == "Le titre principal"
    assert doc.metadata["format"] == "md"
    assert [(doc.text[b.start : b.end], b.level) for b in doc.blocks if b.kind == "heading"] == [
        ("Le titre principal", 1), ("Sous-titre", 2)
    ]
    assert blocks(doc, "paragraph") == [
        "Un paragraphe avec du gras, de l'italique, du souligné et un lien vers le site.",
        "Une citation importante avec du code et snake_case_name.",
    ]
    assert blocks(doc, "item") == ["premier point", "second point", "sous-point"]
    assert blocks(doc, "table_head") == ["Option | Effet"]
    assert blocks(doc, "row") == ["-b | démarre", "-v | bavard"]
    assert blocks(doc, "code") == ["dd if=image.iso of=/dev/sdb", "  sync"]


def test_markdown_images_and_inline_html_are_removed(tmp_path):
    raw = "Texte ![une image](img/photo.png) puis <span class=\"x\">du html</span> fin.\n"
    doc = load_document(write(tmp_path / "img.markdown", raw))
    assert "img/photo.png" not in doc.text and "une image" not in doc.text
    assert "<" not in doc.text and "span" not in doc.text
    assert doc.text == "Texte  puis du html fin."


def test_markdown_source_map_skips_the_marks(tmp_path):
    raw = "# Titre\n\nDu **gras** puis un [lien](https://example.com) final\nsur deux lignes.\n\n- un *point*\n"
    doc = load_document(write(tmp_path / "map.md", raw))
    for word in ("Titre", "gras", "puis", "lien", "final", "sur deux", "point"):
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
<h2>Une section</h2>
<ul><li>premier <a href="/a">point</a></li><li><p>second point</p><ol><li>sous-point</li></ol></li></ul>
<dl><dt>-b, --boot</dt><dd>Démarre depuis ce disque.</dd></dl>
<table><caption>Tableau 1. Options</caption>
<thead><tr><th>Option</th><th>Effet</th></tr></thead>
<tbody><tr><td><code>-v</code></td><td>bavard</td></tr><tr><td>-q</td><td>silencieux<br>et discret</td></tr></tbody></table>
<pre>$ mount -a
  sync</pre>
<h3>Plus bas</h3>
<p hidden>Caché.</p><p style="display: none">Caché aussi.</p>
<iframe src="https://example.com/video">Vidéo</iframe>
<p>Une image <img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="> ici.</p>
<script>alert("non");</script>
<noscript>Activez JavaScript.</noscript>
</body></html>
"""


def test_html_blocks_kinds_and_text(tmp_path):
    doc = load_document(write(tmp_path / "page.html", HTML))
    check_invariants(doc)
    assert doc.title == "Page de test & essai"
    assert doc.metadata["format"] == "html"
    assert [(t, b.level) for t, b in zip(blocks(doc), doc.blocks) if b.kind == "heading"] == [
        ("Le grand titre", 1), ("Une section", 2), ("Plus bas", 3)
    ]
    assert blocks(doc, "paragraph") == [
        "Café & thé sont servis. Deux espaces.", "Un autre bloc", "avec une ligne.", "Une image ici.",
    ]
    assert blocks(doc, "definition") == ["Démarre depuis ce disque."]
    assert blocks(doc, "item") == ["premier point", "second point", "sous-point"]
    assert blocks(doc, "term") == ["-b, --boot"]
    assert blocks(doc, "caption") == ["Tableau 1. Options"]
    assert blocks(doc, "table_head") == ["Option | Effet"]
    assert blocks(doc, "row") == ["-v | bavard", "-q | silencieux et discret"]
    assert blocks(doc, "code") == ["$ mount -a", "  sync"]
    for hidden in ("color", "var x", "pas du texte", "alert", "<", "&amp;", "&eacute;", "Caché", "Vidéo",
                   "JavaScript", "base64", "iVBOR"):
        assert hidden not in doc.text


def test_html_without_title_uses_h1(tmp_path):
    doc = load_document(write(tmp_path / "page.htm", "<html><body><h1>Titre &eacute;lu</h1><p>Corps du texte.</p></body></html>"))
    assert doc.title == "Titre élu"
    assert doc.text == "Titre élu\n\nCorps du texte."
    assert doc.regions == []  # too little for trafilatura to judge: nothing labelled


COMMENTED_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Le télétravail progresse</title></head>
<body>
<header><nav><ul><li><a href="/">Accueil</a></li><li><a href="/economie">Économie</a></li>
<li><a href="/contact">Contact</a></li></ul></nav></header>
<main><article>
<h1>Le télétravail progresse dans les entreprises</h1>
<p>Selon une enquête publiée mardi, près d'un salarié sur trois travaille désormais depuis chez lui au moins un
jour par semaine, une proportion qui a doublé en cinq ans.</p>
<p>Les entreprises interrogées citent la réduction des coûts immobiliers et la satisfaction des équipes comme
principaux avantages, tandis que les syndicats réclament un meilleur encadrement du droit à la déconnexion.</p>
<h2>Des écarts selon les secteurs</h2>
<p>Dans la finance et l'informatique, la pratique concerne plus de la moitié des cadres, alors qu'elle reste
marginale dans l'industrie, la santé et le commerce de détail, où la présence sur site demeure indispensable.</p>
</article></main>
<section id="comments" class="comments">
<h3 class="comments-title">2 commentaires</h3>
<ol class="comment-list">
<li class="comment"><div class="comment-body"><p>Dans mon entreprise, le télétravail a surtout permis de réduire
les trajets, mais les réunions à distance fatiguent davantage que prévu.</p></div></li>
<li class="comment"><div class="comment-body"><p>Je regrette que l'article ne parle pas des indépendants, qui
pratiquent ce mode de travail depuis bien plus longtemps que les salariés.</p></div></li>
</ol>
</section>
<footer><p><a href="/mentions">Mentions légales</a> · <a href="/cgu">Conditions d'utilisation</a> ·
<a href="/plan">Plan du site</a></p></footer>
</body></html>
"""


def test_html_reader_comments_and_boilerplate_are_recognised_without_rules(tmp_path):
    doc = load_document(write(tmp_path / "article.html", COMMENTED_PAGE))
    check_invariants(doc)
    assert doc.label_at(doc.text.index("Selon une enquête")) == "article"
    assert doc.label_at(doc.text.index("Des écarts selon les secteurs")) == "article"
    assert doc.label_at(doc.text.index("Dans mon entreprise")) == "reader_comment"
    assert doc.label_at(doc.text.index("Je regrette")) == "reader_comment"
    assert doc.label_at(doc.text.index("2 commentaires")) == "reader_comment"
    assert doc.label_at(doc.text.index("Accueil")) == "boilerplate"
    assert doc.label_at(doc.text.index("Mentions légales")) == "boilerplate"
    assert doc.lang == "fr"


MANUAL_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>6.9. Automatic Upgrades</title></head>
<body>
<div class="navheader"><a href="index.html">Download the ebook</a> <a href="prev.html">Prev</a>
The Administrator's Handbook <a href="next.html">Next</a></div>
<div class="section"><div class="titlepage"><h2 class="title">6.9. Automatic Upgrades</h2></div>
<p>Since the company has many computers but only limited manpower, its administrators try to make upgrades as
automatic as possible, and the programs in charge of these processes must run with no human intervention.</p>
<p>The -y option (or --assume-yes) tells APT to consider the answer to all its questions to be yes, and the
configuration of debconf decides which questions are shown to the administrator at all.</p>
<div class="titlepage"><h3 class="title">6.9.5. The Miracle Combination</h3></div>
<p>By combining the previous elements, it is possible to design a small but rather reliable script which can
handle automatic upgrades on every server without asking anything of anybody.</p>
<div class="sidebar"><div class="titlepage"><p class="title"><strong>IN PRACTICE The company's case</strong></p></div>
<p>Only the most critical servers (the firewalls, for instance) are set up with apticron, so that upgrades
always happen under the supervision of an administrator.</p></div>
</div>
<div class="navfooter"><a href="prev.html">Prev 6.8. Keeping a System Up to Date</a> <a href="up.html">Up</a>
<a href="index.html">Home</a> <a href="next.html">Next 6.10. Searching for Packages</a></div>
</body></html>
"""


def test_html_content_closing_the_article_s_element_is_article_its_navigation_is_not(tmp_path):
    """trafilatura drops a sidebar; one standing after the last line it kept is still in the element holding
    the whole text (the section), so it is article text and retrieval finds it; the navigation is not."""
    doc = load_document(write(tmp_path / "manual.html", MANUAL_PAGE))
    check_invariants(doc)
    assert doc.label_at(doc.text.index("By combining")) == "article"
    assert doc.label_at(doc.text.index("Only the most critical servers")) == "article"
    assert doc.label_at(doc.text.index("Download the ebook")) == "boilerplate"
    assert doc.label_at(doc.text.index("Prev 6.8.")) == "boilerplate"


def test_html_page_mixing_english_and_german_sections_gets_two_languages(tmp_path):
    page = f"<html><body><h1>Packages</h1><p>{ENGLISH}</p><h1>Pakete</h1><p>{GERMAN}</p></body></html>"
    doc = load_document(write(tmp_path / "mixed.html", page))
    german = doc.text.index("Pakete")
    assert doc.langs == [LangSpan(0, german, "en"), LangSpan(german, len(doc.text), "de")]
    assert doc.lang_at(doc.text.index("Die Paketverwaltung")) == "de"


def test_markdown_mixing_english_and_german_sections_gets_two_languages(tmp_path):
    doc = load_document(write(tmp_path / "mixed.md", f"# Packages\n\n{ENGLISH}\n\n# Pakete\n\n{GERMAN}\n"))
    assert [span.lang for span in doc.langs] == ["en", "de"]
    assert doc.langs[1].start == doc.text.index("Pakete")


def test_an_untranslated_paragraph_of_a_translated_section_gets_its_own_language(tmp_path):
    """Debian's French FAQ keeps English paragraphs in French sections: each is read (stemmed, compared with a
    claim) as English, and the paragraphs around it stay German here."""
    untranslated = "Typically, the Debian installer will automatically install the task associated with a standard system."
    page = f"<html><body><h1>Pakete</h1><p>{GERMAN}</p><p>{untranslated}</p><p>{GERMAN}</p></body></html>"
    doc = load_document(write(tmp_path / "mixed.html", page))
    check_invariants(doc)
    english = doc.text.index(untranslated)
    assert doc.lang_at(english) == "en"
    assert doc.lang_at(english - 2) == doc.lang_at(english + len(untranslated) + 2) == doc.lang_at(0) == "de"
    assert [span.lang for span in doc.langs] == ["de", "en", "de"]


def test_short_section_takes_the_language_of_the_document(tmp_path):
    doc = load_document(write(tmp_path / "short.md", f"# Intro\n\n{GERMAN}\n\n# Note\n\nThis is short.\n\n# Mehr\n\n{GERMAN}\n"))
    assert [span.lang for span in doc.langs] == ["de"]


def test_sources_json_language_wins_for_the_whole_document(tmp_path):
    write(tmp_path / "sources.json", json.dumps([{"file": "mixed.md", "language": "fr"}]))
    doc = load_document(write(tmp_path / "mixed.md", f"# Packages\n\n{ENGLISH}\n\n# Pakete\n\n{GERMAN}\n"))
    assert doc.langs == [LangSpan(0, len(doc.text), "fr")]


# ---------------------------------------------------------------- .pdf


def test_pdf_text_title_and_pages(tmp_path, make_pdf):
    path = tmp_path / "rapport.pdf"
    path.write_bytes(make_pdf([["Le café de Zoé coûte 3 € (trois).", "Deuxième ligne."], ["Page deux : élève."]], title="Rapport été"))
    doc = load_document(path)
    check_invariants(doc)
    assert doc.title == "Rapport été"
    assert doc.text == "Le café de Zoé coûte 3 € (trois).\nDeuxième ligne.\n\nPage deux : élève."
    assert doc.metadata["format"] == "pdf"
    # For a PDF the source map gives the page number.
    assert doc.to_source_offset(doc.text.index("Deuxième")) == 1
    assert doc.to_source_offset(doc.text.index("Page deux")) == 2


def test_pdf_wrapped_lines_of_a_paragraph_are_joined(tmp_path, make_pdf):
    lines = [
        "Le conseil municipal a voté mardi soir le budget de l'année",
        "prochaine, qui prévoit la rénovation de deux écoles et la",
        "création d'une piste cyclable le long du canal.",
        "- une école maternelle",
        "- une école primaire",
        "Les travaux commenceront au printemps et dureront environ dix",
        "huit mois selon les services techniques de la ville.",
    ]
    path = tmp_path / "conseil.pdf"
    path.write_bytes(make_pdf([lines]))
    doc = load_document(path)
    check_invariants(doc)
    assert blocks(doc, "paragraph") == [" ".join(lines[:3]), " ".join(lines[5:])]
    assert blocks(doc, "item") == lines[3:5]


def test_pdf_without_title_metadata_uses_first_line(tmp_path, make_pdf):
    path = tmp_path / "sans-titre.pdf"
    path.write_bytes(make_pdf([["Une seule ligne de texte."]]))
    doc = load_document(path)
    assert doc.title == "Une seule ligne de texte."
    assert doc.text == "Une seule ligne de texte."


# ---------------------------------------------------------------- .docx


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Guide du serveur"
    document.add_paragraph("Installation du serveur", style="Title")
    document.add_paragraph("Préparation", style="Heading 1")
    paragraph = document.add_paragraph("Vérifiez l'alimentation électrique avant de commencer.")
    paragraph.add_run().add_break()
    paragraph.add_run("Puis branchez le câble réseau.")
    document.add_paragraph("Le matériel", style="Heading 2")
    document.add_paragraph("un tournevis", style="List Bullet")
    document.add_paragraph("deux vis", style="List Number")
    table = document.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("Pièce", "Quantité"), ("Vis", "4"), ("Rail", "2")]):
        for cell, value in zip(row.cells, cells):
            cell.text = value
    document.add_paragraph("Figure 1. Le rack", style="Caption")
    document.save(path)
    return path


def test_docx_headings_items_tables_and_lines(tmp_path):
    doc = load_document(make_docx(tmp_path / "guide.docx"))
    check_invariants(doc)
    assert doc.title == "Guide du serveur"
    assert doc.metadata["format"] == "docx"
    assert [(t, b.level) for t, b in zip(blocks(doc), doc.blocks) if b.kind == "heading"] == [
        ("Installation du serveur", 1), ("Préparation", 1), ("Le matériel", 2)
    ]
    assert blocks(doc, "paragraph") == ["Vérifiez l'alimentation électrique avant de commencer.", "Puis branchez le câble réseau."]
    assert blocks(doc, "item") == ["un tournevis", "deux vis"]
    assert blocks(doc, "table_head") == ["Pièce | Quantité"]
    assert blocks(doc, "row") == ["Vis | 4", "Rail | 2"]
    assert blocks(doc, "caption") == ["Figure 1. Le rack"]


def test_docx_custom_styles_are_read_by_outline_level_and_numbering(tmp_path):
    """Styles named in the user's language (here Dutch, "Kop 1"), not based on a built-in one, are headings by their
    outline level and list items by their numbering: no style name of any language is needed."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    heading = document.styles.add_style("Kop 1", WD_STYLE_TYPE.PARAGRAPH)
    heading.base_style = None
    level = OxmlElement("w:outlineLvl")
    level.set(qn("w:val"), "1")
    heading.element.get_or_add_pPr().append(level)
    bullets = document.styles.add_style("Opsomming", WD_STYLE_TYPE.PARAGRAPH)
    bullets.base_style = None
    numbering = bullets.element.get_or_add_pPr().get_or_add_numPr()
    numbering.get_or_add_numId().val = 1
    document.add_paragraph("Onderhoud", style="Kop 1")
    document.add_paragraph("Maak het filter elke maand schoon.")
    document.add_paragraph("een schroevendraaier", style="Opsomming")
    document.add_paragraph("twee schroeven", style="Opsomming")
    doc = load_document(document.save(tmp_path / "onderhoud.docx") or tmp_path / "onderhoud.docx")
    check_invariants(doc)
    assert [(t, b.level) for t, b in zip(blocks(doc), doc.blocks) if b.kind == "heading"] == [("Onderhoud", 2)]
    assert blocks(doc, "paragraph") == ["Maak het filter elke maand schoon."]
    assert blocks(doc, "item") == ["een schroevendraaier", "twee schroeven"]


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
    assert block_at(doc, "- World models et l’échec relatif").kind == "item"
    heading = doc.text.index("\nWorld models et l’échec relatif") + 1
    assert doc.label_at(heading) == "article"
    assert not any(r.label == "reader_comment" for r in doc.regions)


def test_without_sources_json_title_is_first_line(tmp_path):
    doc = load_document(write(tmp_path / "libre.txt", "Mon titre\nLe corps du texte.\n"))
    assert doc.title == "Mon titre"
    assert doc.regions == []
    # The absolute path lets `rag ingest --prune` find the file from any working folder.
    assert doc.metadata == {"format": "txt", "path": str((tmp_path / "libre.txt").resolve())}


PAGE = """<html><head><title>Le moulin ferme</title><meta property="og:site_name" content="  La Gazette du Val "></head>
<body><article><h1>Le moulin ferme</h1><p>Le vieux moulin de la ville fermera en mars, après quatre-vingt-dix ans.</p>
<p>Les propriétaires accusent le prix de l'énergie, qui a triplé en deux ans.</p></article></body></html>"""


def test_a_page_names_its_publisher_and_sources_json_overrides_it(tmp_path):
    """"According to La Gazette du Val" finds the page by the name it gives itself (og:site_name)."""
    doc = load_document(write(tmp_path / "moulin.html", PAGE))
    assert doc.metadata["publisher"] == doc.publisher_name == "La Gazette du Val"
    plain = load_document(write(tmp_path / "nu.html", PAGE.replace("og:site_name", "og:title")))
    assert "publisher" not in plain.metadata
    write(tmp_path / "sources.json", json.dumps([{"file": "moulin.html", "publisher": "Gazette (édition du soir)"}]))
    assert load_document(tmp_path / "moulin.html").publisher_name == "Gazette"


def test_a_book_names_its_publisher(tmp_path):
    chapter = [("c1.xhtml", "<h1>Kapitel</h1><p>Der Text des Kapitels steht hier.</p>")]
    assert load_document(make_epub(tmp_path / "buch.epub", chapter, publisher="Verlag am See")).publisher_name == "Verlag am See"
    assert load_document(make_epub(tmp_path / "ohne.epub", chapter)).publisher_name == ""


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
    assert again.blocks and again.langs == doc.langs
    offset = doc.text.index("Une analyse récente")
    assert again.to_source_offset(offset) == doc.to_source_offset(offset)
    assert again.label_at(len(doc.text) - 1) == "reader_comment"


def test_old_imports_still_work():
    from rag import documents, types

    assert documents.Document is types.Document and documents.DocumentError is types.DocumentError
    assert documents.Region is types.Region and documents.Segment is types.Segment


# ---------------------------------------------------------------- .epub


def test_epub_chapters_in_reading_order_without_the_table_of_contents(tmp_path):
    path = make_epub(tmp_path / "handbuch.epub", [
        ("kapitel1.xhtml", "<h1>Installation</h1><p>Schließen Sie das Netzteil an.</p><ul><li>ein Kabel</li><li>zwei Schrauben</li></ul>"),
        ("kapitel2.xhtml", "<h2>Technische Daten</h2><table><tr><th>Größe</th><th>Wert</th></tr><tr><td>Gewicht</td>"
         "<td>2 kg</td></tr></table><dl><dt>noauto</dt><dd>Nicht automatisch einhängen.</dd></dl><pre>mount -a</pre>"),
    ])
    doc = load_document(path)
    check_invariants(doc)
    assert doc.title == "Handbuch" and doc.metadata["format"] == "epub"
    assert [(t, b.level) for t, b in zip(blocks(doc), doc.blocks) if b.kind == "heading"] == [("Installation", 1), ("Technische Daten", 2)]
    assert blocks(doc, "paragraph") == ["Schließen Sie das Netzteil an."]
    assert blocks(doc, "item") == ["ein Kabel", "zwei Schrauben"]
    assert blocks(doc, "table_head") == ["Größe | Wert"] and blocks(doc, "row") == ["Gewicht | 2 kg"]
    assert blocks(doc, "term") == ["noauto"] and blocks(doc, "definition") == ["Nicht automatisch einhängen."]
    assert blocks(doc, "code") == ["mount -a"]
    assert "kapitel1.xhtml" not in doc.text  # the navigation document (its links name the chapters) is left out
    assert doc.regions == []  # a book's chapters are content: nothing is labelled boilerplate


def _encrypt(book: Path, uris: list[str]) -> Path:
    """Add META-INF/encryption.xml listing these files as encrypted (as DRM or font obfuscation does)."""
    import zipfile

    refs = "".join(
        f'<enc:EncryptedData><enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData>'
        for uri in uris
    )
    xml = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        f'xmlns:enc="http://www.w3.org/2001/04/xmlenc#">{refs}</encryption>'
    )
    with zipfile.ZipFile(book, "a") as archive:
        archive.writestr("META-INF/encryption.xml", xml)
    return book


def test_an_epub_under_drm_is_refused_and_one_with_obfuscated_fonts_is_read(tmp_path):
    chapters = [("kapitel1.xhtml", "<h1>Installation</h1><p>Schließen Sie das Netzteil an.</p>")]
    locked = _encrypt(make_epub(tmp_path / "locked.epub", chapters), ["EPUB/kapitel1.xhtml"])
    with pytest.raises(DocumentError) as caught:
        load_document(locked)
    assert str(caught.value) == f"{locked}: encrypted e-book (DRM): its chapters cannot be read"
    assert caught.value.text("de") == "locked.epub: verschlüsseltes E-Book (DRM): seine Kapitel können nicht gelesen werden"
    fonts = _encrypt(make_epub(tmp_path / "fonts.epub", chapters), ["EPUB/fonts/serif.otf"])
    assert blocks(load_document(fonts), "paragraph") == ["Schließen Sie das Netzteil an."]


def test_an_epub_of_real_chapters_reads_as_their_web_pages(tmp_path):
    """Two chapters of the Debian FAQ (DocBook HTML nobody here wrote) bound as an e-book give the lines their web
    pages give."""
    from rag.extractors.html import extract_html

    names = ["en-faq-pkg-basics.html", "en-faq-pkgtools.html"]
    if not all((CORPUS / name).is_file() for name in names):
        pytest.skip("Debian corpus not built (bash scripts/debian_corpus.sh)")
    from selectolax.lexbor import LexborHTMLParser

    pages = [(CORPUS / name).read_text(encoding="utf-8") for name in names]
    bodies = [LexborHTMLParser(page).body.html.removeprefix("<body>").removesuffix("</body>") for page in pages]
    doc = load_document(make_epub(tmp_path / "faq.epub", list(zip(["c7.xhtml", "c8.xhtml"], bodies)), title="The Debian FAQ"))
    check_invariants(doc)
    web = [extract_html(page) for page in pages]
    assert blocks(doc) == [e.text[b.start : b.end] for e in web for b in e.blocks]
    assert doc.title == "The Debian FAQ" and len(doc.blocks) > 300


# ---------------------------------------------------------------- .csv, .tsv

# Rows of distro-info-data's /usr/share/distro-info/debian.csv (ISC licence), as Debian ships it.
DEBIAN_CSV = """version,codename,series,created,release,eol,eol-lts,eol-elts
9,Stretch,stretch,2015-04-26,2017-06-17,2020-07-18,2022-06-30,2027-06-30
10,Buster,buster,2017-06-17,2019-07-06,2022-09-10,2024-06-30,2029-06-30
11,Bullseye,bullseye,2019-07-06,2021-08-14,2024-08-14,2026-08-31,2031-06-30
,Sid,sid,1993-08-16
"""


def test_csv_gives_one_line_per_record_with_its_column_names(tmp_path):
    path = tmp_path / "debian.csv"
    path.write_text(DEBIAN_CSV, encoding="utf-8")
    doc = load_document(path)
    check_invariants(doc)
    assert doc.metadata["format"] == "csv" and doc.title == "debian"
    assert blocks(doc) == blocks(doc, "row") == [
        "version: 9 | codename: Stretch | series: stretch | created: 2015-04-26 | release: 2017-06-17 | eol: 2020-07-18 | eol-lts: 2022-06-30 | eol-elts: 2027-06-30",
        "version: 10 | codename: Buster | series: buster | created: 2017-06-17 | release: 2019-07-06 | eol: 2022-09-10 | eol-lts: 2024-06-30 | eol-elts: 2029-06-30",
        "version: 11 | codename: Bullseye | series: bullseye | created: 2019-07-06 | release: 2021-08-14 | eol: 2024-08-14 | eol-lts: 2026-08-31 | eol-elts: 2031-06-30",
        "codename: Sid | series: sid | created: 1993-08-16",  # empty values left out, the others keep their names
    ]
    assert {u.kind for chunk in chunk_document(doc) for u in chunk.units} == {"row"}


def test_a_spreadsheets_semicolons_quotes_and_encoding_are_read(tmp_path):
    """A spreadsheet saved as CSV in a German or French locale: semicolons, decimal commas, a quoted cell holding the
    delimiter and a line break, a byte order mark; and a tab-separated file, and a file that is only a head."""
    path = tmp_path / "tarife.csv"
    text = 'Tarif;Preis (€);Bemerkung\r\nBasis;9,99;"ohne Vertrag; monatlich kündbar"\r\nPlus;14,99;"inklusive\r\nTelefonflatrate";extra\r\n'
    path.write_bytes(text.encode("utf-8-sig"))  # Excel's "CSV UTF-8" starts with a byte order mark
    doc = load_document(path)
    check_invariants(doc)
    assert blocks(doc) == [
        "Tarif: Basis | Preis (€): 9,99 | Bemerkung: ohne Vertrag; monatlich kündbar",
        "Tarif: Plus | Preis (€): 14,99 | Bemerkung: inklusive Telefonflatrate | extra",  # a value beyond the head
    ]
    tsv = tmp_path / "ports.tsv"
    tsv.write_text("port\tservice\n22\tssh, sftp\n80\thttp\n", encoding="utf-8")
    assert blocks(load_document(tsv)) == ["port: 22 | service: ssh, sftp", "port: 80 | service: http"]
    head = tmp_path / "head.csv"
    head.write_text("name,size\n", encoding="utf-8")
    assert blocks(load_document(head)) == ["name | size"]


def _workbook(path: Path, sheets: dict[str, list[list]], title: str = "") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.properties.title = title or None
    book.save(path)
    return path


def test_an_xlsx_sheet_reads_as_its_csv_records(tmp_path):
    """Debian's release table as a one-sheet workbook, its dates as date cells and its whole versions as numbers (a
    float 7.0 in the file, shown 7): the same records as the CSV file."""
    import csv
    import datetime as dt

    def typed(cell: str):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", cell):
            return dt.datetime.fromisoformat(cell)
        return float(cell) if cell.isdigit() else cell or None  # "2.0" stays text: as a number it shows as 2

    source = ROOT / "tests" / "data" / "tables" / "debian.csv"
    rows = [[typed(c) for c in row] for row in csv.reader(source.read_text(encoding="utf-8").splitlines())]
    doc = load_document(_workbook(tmp_path / "debian.xlsx", {"Sheet": rows}, title="Debian releases"))
    check_invariants(doc)
    assert doc.title == "Debian releases" and doc.metadata["format"] == "xlsx"
    assert blocks(doc) == blocks(load_document(source))  # one sheet: no heading
    assert any(b.startswith("version: 7 | codename: Wheezy | series: wheezy | created: 2011-02-06 | release: 2013-05-04") for b in blocks(doc))


def test_each_sheet_of_a_workbook_is_a_section_under_its_name(tmp_path):
    path = _workbook(tmp_path / "inventar.xlsx", {
        "Lager": [["Artikel", "Menge", "Preis"], ["Schraube", 400, 0.05], [None, None, None], ["Dübel", 120, 0.1]],
        "Leer": [["Spalte A", "Spalte B"]],
    })
    doc = load_document(path)
    check_invariants(doc)
    assert [(t, b.kind) for t, b in zip(blocks(doc), doc.blocks)] == [
        ("Lager", "heading"),
        ("Artikel: Schraube | Menge: 400 | Preis: 0.05", "row"),
        ("Artikel: Dübel | Menge: 120 | Preis: 0.1", "row"),
        ("Leer", "heading"),
        ("Spalte A | Spalte B", "row"),  # a head alone is still the sheet's text
    ]
    assert doc.title == "inventar"


# ---------------------------------------------------------------- bad files


def _bad_files(tmp_path: Path, make_pdf) -> dict[str, Path]:
    files = {
        "empty": tmp_path / "empty.txt",
        "blank": tmp_path / "blank.md",
        "binary": tmp_path / "binary.txt",
        "pdf_named_txt": tmp_path / "renamed.txt",
        "corrupt_pdf": tmp_path / "corrupt.pdf",
        "fake_pdf": tmp_path / "fake.pdf",
        "scanned_pdf": tmp_path / "scan.pdf",
        "encrypted_pdf": tmp_path / "secret.pdf",
        "corrupt_docx": tmp_path / "notes.docx",
        "text_docx": tmp_path / "plain.docx",
        "missing": tmp_path / "missing.txt",
        "folder": tmp_path / "folder.txt",
        "unsupported": tmp_path / "data.xyz",
        "empty_html": tmp_path / "empty.html",
        "csv_huge_field": tmp_path / "dump.csv",
        "corrupt_epub": tmp_path / "book.epub",
        "corrupt_xlsx": tmp_path / "sheet.xlsx",
    }
    files["empty"].write_bytes(b"")
    files["blank"].write_bytes(b"  \n\t\n")
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(2000))
    files["pdf_named_txt"].write_bytes(make_pdf([["Du texte."]]))
    files["corrupt_pdf"].write_bytes(b"%PDF-1.4\n" + random.Random(2).randbytes(1500))
    files["fake_pdf"].write_bytes(b"Ceci n'est pas un PDF.\n")
    files["scanned_pdf"].write_bytes(make_pdf([[]]))  # a page with an empty content stream: no text layer
    # Standard security handler whose /U matches no password (not even the empty one).
    encrypt = (
        b" /Encrypt << /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"
        b" /ID [<" + b"33" * 16 + b"> <" + b"33" * 16 + b">]"
    )
    files["encrypted_pdf"].write_bytes(make_pdf([["Secret."]]).replace(b"/Root 1 0 R", b"/Root 1 0 R" + encrypt))
    files["corrupt_docx"].write_bytes(b"PK\x03\x04 zip" + random.Random(3).randbytes(500))
    files["text_docx"].write_bytes(b"Just text named .docx\n")
    files["folder"].mkdir()
    files["unsupported"].write_bytes(b"x,y\n1,2\n")
    files["empty_html"].write_bytes(b"<html><body><script>var a;</script></body></html>")
    files["corrupt_xlsx"].write_bytes(b"PK\x03\x04 zip" + random.Random(5).randbytes(500))
    files["corrupt_epub"].write_bytes(b"PK\x03\x04 zip" + random.Random(4).randbytes(500))
    files["csv_huge_field"].write_bytes(b'id,blob\n1,"' + b"x" * 200_000 + b'"\n')  # beyond the csv module's field limit
    return files


EXPECTED_REASON = {
    "empty": "empty file",
    "blank": "empty file",
    "binary": "binary content",
    "pdf_named_txt": "binary content",
    "corrupt_pdf": "corrupt or unreadable PDF",
    "fake_pdf": "not a PDF file",
    "scanned_pdf": "no text could be extracted (a scanned PDF without a text layer?)",
    "encrypted_pdf": "encrypted PDF",
    "corrupt_docx": "corrupt or unreadable .docx",
    "text_docx": "corrupt or unreadable .docx",
    "missing": "no such file",
    "folder": "not a regular file",
    "unsupported": "unsupported file type '.xyz'",
    "empty_html": "no text could be extracted",
    "csv_huge_field": "could not be read as .csv (Error: field larger than field limit",
    "corrupt_epub": "could not be read as .epub (EpubException",
    "corrupt_xlsx": "could not be read as .xlsx (",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_REASON))
def test_bad_file_raises_one_line_error_naming_the_file(tmp_path, make_pdf, kind):
    path = _bad_files(tmp_path, make_pdf)[kind]
    with pytest.raises(DocumentError) as caught:
        load_document(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert EXPECTED_REASON[kind] in message
    assert "\n" not in message
    assert caught.value.path == str(path)


def test_too_large_file_is_refused_before_reading(tmp_path, monkeypatch):
    import rag.documents

    monkeypatch.setattr(rag.documents, "MAX_FILE_BYTES", 1_000_000)
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * 1_500_000)
    with pytest.raises(DocumentError, match=r"too large \(1 MB, limit 1 MB\)"):
        load_document(path)


def test_a_library_crash_becomes_a_document_error(tmp_path, monkeypatch):
    import rag.extractors.markdown

    def explode(source):
        raise RuntimeError("unexpected token\nsecond line")

    monkeypatch.setattr(rag.extractors.markdown, "extract_markdown", explode)
    with pytest.raises(DocumentError, match=r"could not be read as \.md \(RuntimeError: unexpected token\)$"):
        load_document(write(tmp_path / "a.md", "# A\n"))


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
    write(tmp_path / "ignored.xyz", "x")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "c.html", "<p>C</p>")
    make_docx(tmp_path / "sub" / "d.docx")
    files, errors = find_files([tmp_path, tmp_path / "nope.txt"])
    assert [p.name for p in files] == ["a.txt", "b.md", "c.html", "d.docx"]
    assert [str(e) for e in errors] == [f"{tmp_path / 'nope.txt'}: no such file or folder"]


def test_blocks_never_hold_a_newline_even_when_the_source_has_odd_whitespace(tmp_path):
    raw = "<p>un\r\ndeux\u2028trois\tquatre\u00a0cinq</p><pre>a\tb\r\nc</pre><ul><li>\n\n</li><li>x</li></ul>"
    doc = load_document(write(tmp_path / "odd.html", raw))
    check_invariants(doc)
    assert not re.search(r"[\r\u2028]", doc.text)
