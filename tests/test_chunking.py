"""Sentence splitting and chunking: exact offsets, sizes, one-sentence overlap, labels never mixed."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEVELOPPEZ, DOCS, FUTURISM, sentences
from rag.chunking import chunk_document, sentence_spans, word_count
from rag.documents import Document, load_document


def shipped(stem: str) -> Document:
    return load_document(DOCS / f"{stem}.txt")


def markdown_doc(tmp_path: Path) -> Document:
    paragraphs = [
        "# Rapport **annuel** sur la [bibliothèque](https://example.com)",
        sentences("alpha", 9),
        "## Deuxième partie",
        "> " + sentences("beta", 7),
        "Une phrase avec du *style* et un [lien](https://example.org \"t\"). " + sentences("gamma", 6),
    ]
    path = tmp_path / "rapport.md"
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return load_document(path)


def html_doc(tmp_path: Path) -> Document:
    body = "".join(f"<p>{sentences(tag, 5)} Caf&eacute; &amp; cr&egrave;me.</p>\n" for tag in ("un", "deux", "trois", "quatre"))
    path = tmp_path / "page.html"
    path.write_text(f"<html><head><title>T</title><script>var a = 1;</script></head><body>{body}</body></html>", encoding="utf-8")
    return load_document(path)


@pytest.fixture(params=["developpez", "futurism", "markdown", "html"])
def doc(request, tmp_path) -> Document:
    return {
        "developpez": lambda: shipped(DEVELOPPEZ),
        "futurism": lambda: shipped(FUTURISM),
        "markdown": lambda: markdown_doc(tmp_path),
        "html": lambda: html_doc(tmp_path),
    }[request.param]()


# ---------------------------------------------------------------- sentences


def test_sentence_spans_respect_abbreviations_quotes_and_lines():
    text = "Bonjour M. Dupont. Il va bien ! « Oui », dit-il. Puis J. R. R. Tolkien parle.\nUne ligne sans point\nFin."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Bonjour M. Dupont.",
        "Il va bien !",
        "« Oui », dit-il.",
        "Puis J. R. R. Tolkien parle.",
        "Une ligne sans point",
        "Fin.",
    ]


def test_sentence_spans_skip_lines_without_words():
    text = "Première phrase.\n-\n[…]\n\nDeuxième phrase."
    assert [text[s:e] for s, e in sentence_spans(text)] == ["Première phrase.", "Deuxième phrase."]


# ---------------------------------------------------------------- offsets


def test_every_chunk_text_is_the_document_text_at_its_offsets(doc):
    chunks = chunk_document(doc)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert 0 <= chunk.start < chunk.end <= len(doc.text)
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
        assert chunk.doc_id == doc.doc_id


def test_chunk_ids_and_order(doc):
    chunks = chunk_document(doc)
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    assert [c.chunk_id for c in chunks] == [f"{doc.doc_id}#{i}" for i in range(len(chunks))]
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_chunks_cover_every_unit_and_headings_go_beside(doc):
    """Every sentence, row or line is in a chunk; a heading is never inside one, it is the chunk's context."""
    from rag.chunking import document_units
    from rag.types import CONTEXT_KINDS

    chunks = chunk_document(doc)
    for unit in document_units(doc):
        assert any(unit in c.units for c in chunks), doc.text[unit.start : unit.end]
    headings = [b for b in doc.blocks if b.kind in CONTEXT_KINDS]
    for chunk in chunks:
        assert all(u.kind not in CONTEXT_KINDS for u in chunk.units)
        for h in headings:
            assert not any(u.start <= h.start < u.end for u in chunk.units), doc.text[h.start : h.end]


def test_no_markup_in_any_chunk(doc):
    for chunk in chunk_document(doc):
        for mark in ("<", "**", "](", "&eacute;", "&amp;", "iframe", "var a"):
            assert mark not in chunk.text


# ---------------------------------------------------------------- sizes and overlap


def _groups(chunks):
    """Runs of consecutive chunks with the same label (a label group)."""
    groups = []
    for chunk in chunks:
        if groups and groups[-1][-1].label == chunk.label:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return groups


def test_word_counts_within_60_to_100_except_group_tails(doc):
    chunks = chunk_document(doc)
    counts = [word_count(c.text) for c in chunks]
    assert max(counts) <= 120  # the window may exceed max_words by 20% to end on a whole sentence
    for group in _groups(chunks):
        for chunk in group[:-1]:  # only the last chunk of a group may be short
            assert word_count(chunk.text) >= 60, chunk.text
    in_range = sum(60 <= n <= 100 for n in counts)
    assert in_range >= 0.75 * len(counts), counts


def test_shipped_articles_are_chunked_in_range():
    for stem in (DEVELOPPEZ, FUTURISM):
        article = [c for c in chunk_document(shipped(stem)) if c.label == "article"]
        assert len(article) >= 15
        assert all(60 <= word_count(c.text) <= 100 for c in article), [word_count(c.text) for c in article]


def _sentences_in(doc: Document, chunk) -> list[tuple[int, int]]:
    return [(s, e) for s, e in sentence_spans(doc.text, chunk.start, chunk.end)]


def test_consecutive_chunks_of_one_section_overlap_by_exactly_one_unit(doc):
    chunks = chunk_document(doc)
    pairs = 0
    for group in _groups(chunks):
        for prev, nxt in zip(group, group[1:]):
            shared = [u for u in nxt.units if u in prev.units]
            if len(prev.units) == 1 or prev.heading != nxt.heading:
                # a lone unit cannot be repeated, and a new section starts afresh
                assert shared == [] and nxt.start >= prev.end
                continue
            assert shared == [prev.units[-1]], (prev.chunk_id, nxt.chunk_id)
            assert nxt.start == prev.units[-1].start
            pairs += 1
    assert pairs >= 1


def test_overlap_setting_zero_and_two(tmp_path):
    doc = load_document(_write(tmp_path, "plain.txt", sentences("delta", 30)))
    none = chunk_document(doc, overlap=0)
    assert len(none) >= 4
    for prev, nxt in zip(none, none[1:]):
        assert nxt.start > prev.end
        assert doc.text[prev.end : nxt.start].strip() == ""
    two = chunk_document(doc, overlap=2)
    for prev, nxt in zip(two, two[1:]):
        prev_sentences = _sentences_in(doc, prev)
        assert nxt.start == prev_sentences[-2][0]


def test_smaller_chunk_settings_give_smaller_chunks(tmp_path):
    doc = load_document(_write(tmp_path, "plain.txt", sentences("epsilon", 30)))
    default = chunk_document(doc)
    small = chunk_document(doc, min_words=20, max_words=30)
    assert len(small) > len(default)
    assert all(word_count(c.text) <= 36 for c in small)
    assert all(word_count(c.text) >= 20 for c in small[:-1])


def test_a_very_long_sentence_is_cut(tmp_path):
    doc = load_document(_write(tmp_path, "long.txt", " ".join(f"mot{i}" for i in range(400)) + "."))
    chunks = chunk_document(doc)
    assert len(chunks) >= 4
    assert all(word_count(c.text) <= 120 for c in chunks)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- labels


def _alnum_labels(doc: Document, chunk) -> set[str]:
    return {doc.label_at(i) for i in range(chunk.start, chunk.end) if doc.text[i].isalnum()}


def test_no_chunk_mixes_labels(doc):
    for chunk in chunk_document(doc):
        assert _alnum_labels(doc, chunk) == {chunk.label}, chunk.chunk_id


def test_labels_of_the_shipped_articles():
    dev = chunk_document(shipped(DEVELOPPEZ))
    comments = [c for c in dev if c.label == "reader_comment"]
    assert len(comments) == 1
    assert comments[0].text.startswith("Une impasse ? C’est peut-être")
    assert comments[0].text.endswith("carrément à côté de la plaque.")
    assert [c.text for c in dev if c.label == "boilerplate"] == ["Article complet : developpez.com"]
    assert not any("Une impasse ? C’est" in c.text for c in dev if c.label != "reader_comment")

    fut = chunk_document(shipped(FUTURISM))
    toc = [c for c in fut if c.label == "boilerplate"]
    assert len(toc) == 1 and toc[0].text.startswith("In This Article:")
    assert not any("In This Article" in c.text for c in fut if c.label != "boilerplate")
