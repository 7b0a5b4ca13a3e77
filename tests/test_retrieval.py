"""Integration: docs/ ingested with the real e5 model, searched by FAISS + BM25 fused with RRF."""
from __future__ import annotations

import pytest

from rag.language import detect_language

from conftest import DEVELOPPEZ, FUTURISM
from rag.index import load_index
from rag.retrieval import Retriever, rrf_fuse

SCALE_AI = {
    "fr": "Combien Meta a-t-il investi dans Scale AI ?",
    "en": "How much money did Meta put into Scale AI?",
}


def test_docs_index_holds_both_articles(docs_index):
    settings, index = docs_index
    assert set(index.documents) == {DEVELOPPEZ, FUTURISM}
    assert len(index.chunks) == len(index.vectors) == index.dense.ntotal == index.manifest["n_chunks"]
    assert index.vectors.shape[1] == 384
    for chunk in index.chunks:
        assert index.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
        assert "<" not in chunk.text and "iframe" not in chunk.text
    assert index.documents[DEVELOPPEZ].metadata["publisher"] == "developpez.com"
    assert load_index(settings.index_dir).version_dir == index.version_dir


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_scale_ai_question_finds_the_14_billion_passage(retriever, lang):
    hits = retriever.search(SCALE_AI[lang], k=4)
    assert len(hits) == 4
    evidence = [h for h in hits if "14 milliards" in h.chunk.text]
    assert evidence, [h.chunk.text[:80] for h in hits]
    assert evidence[0].chunk.doc_id == FUTURISM
    assert "Scale AI" in evidence[0].chunk.text
    # The passage is found by both retrievers, not by luck of one.
    assert evidence[0].dense_score is not None and evidence[0].bm25_score is not None


def test_hits_are_sorted_and_carry_exact_offsets(retriever):
    hits = retriever.search(SCALE_AI["fr"], k=6)
    assert len(hits) == 6
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.chunk.chunk_id for h in hits}) == 6
    for hit in hits:
        data = hit.to_dict(retriever.index)
        doc = retriever.index.documents[hit.chunk.doc_id]
        assert doc.text[data["start"] : data["end"]] == data["text"]
        assert data["title"] == doc.title


def test_boilerplate_is_never_retrieved(retriever):
    boilerplate = [c for c in retriever.index.chunks if c.label == "boilerplate"]
    assert len(boilerplate) == 2  # the kept table of contents and "Article complet : developpez.com"
    for query in ("In This Article", "Article complet : developpez.com", "World models et l’échec relatif des LLM"):
        hits = retriever.search(query, k=10)
        assert hits and all(h.chunk.label != "boilerplate" for h in hits)


def test_reader_comment_is_retrievable_and_labelled(retriever):
    hits = retriever.search("côté de la plaque investisseurs naïveté", k=4)
    assert hits[0].chunk.label == "reader_comment"
    assert hits[0].chunk.doc_id == DEVELOPPEZ
    assert hits[0].to_dict(retriever.index)["label"] == "reader_comment"


def test_k_and_empty_queries(retriever):
    assert retriever.search("   ") == []
    assert len(retriever.search(SCALE_AI["en"], k=2)) == 2
    assert len(retriever.search(SCALE_AI["en"])) == retriever.settings.top_k


def test_exclude_labels_setting_hides_reader_comments(docs_index, embedder):
    settings, index = docs_index
    strict = Retriever(index, embedder, settings.resolved(exclude_labels=["boilerplate", "reader_comment"]))
    hits = strict.search("côté de la plaque investisseurs naïveté", k=10)
    assert hits and all(h.chunk.label == "article" for h in hits)


def test_rrf_fuse():
    fused = rrf_fuse([[3, 1, 2], [1, 4]], k=60)
    assert fused == pytest.approx({3: 1 / 61, 1: 1 / 62 + 1 / 61, 2: 1 / 63, 4: 1 / 62})
    assert max(fused, key=fused.get) == 1
    assert rrf_fuse([], k=60) == {}


def test_a_term_weighs_more_the_fewer_chunks_hold_it(retriever):
    held = {t: retriever.frequencies[t] for t in ("lecun", "turing")}
    assert held["lecun"] > held["turing"] > 0
    assert retriever.term_weight("lecun") < retriever.term_weight("turing") < retriever.term_weight("chiffrement")


def test_focused_query_drops_ubiquitous_words_only_when_enough_is_left(retriever):
    assert set(retriever.analyze("LeCun Meta", "fr")) <= retriever.common_terms
    assert retriever.focused_query("What does LeCun's new company want to understand?") == "What does new company want to understand?"
    # Without "LeCun" and "LLM" the question would be about "qualifie" alone: it is searched whole.
    assert retriever.focused_query("Comment LeCun qualifie-t-il les LLM ?") is None
    assert retriever.focused_query("Quand ChatGPT est-il sorti ?") is None  # nothing ubiquitous to drop
    # A compound is ubiquitous only when each of its parts is: "Info-System" stays though "system" is everywhere.
    focused = retriever.focused_query("What did Yann LeCun say about Meta-Superintelligence?")
    assert focused == "What did Yann say about Meta-Superintelligence?"


@pytest.mark.parametrize("question", ["Comment LeCun qualifie-t-il les LLM ?", "How does LeCun describe LLMs?"])
def test_question_made_mostly_of_ubiquitous_words_finds_the_article_not_the_comment(retriever, question):
    """Searched as "comment qualifie" alone, the reader's comment ("Une impasse ?") came first."""
    hits = retriever.search(question, k=4, lang=detect_language(question))
    assert any("impasse" in h.chunk.text for h in hits if h.chunk.label == "article"), [h.chunk.text[:60] for h in hits]
    assert hits[0].chunk.label == "article"


def test_the_units_of_the_retrieved_chunks_are_read_from_the_index_not_encoded(tokenizer_pipeline, monkeypatch):
    """The evidence costs no encoding of passages at question time: the index stored every unit's vector."""
    embedder = tokenizer_pipeline.retriever.embedder

    def refuse(texts):
        raise AssertionError(f"encoded at question time: {texts[:2]}")

    monkeypatch.setattr(embedder, "embed_units", refuse)
    prepared = tokenizer_pipeline.prepare("Pourquoi Yann LeCun quitte-t-il Meta ?")
    assert prepared.sources


def test_units_and_queries_are_encoded_once_and_the_memory_is_bounded(embedder, monkeypatch):
    import dataclasses

    import numpy as np

    mine = dataclasses.replace(embedder, memory_size=3)  # a memory of its own
    encoded: list[str] = []
    real = type(mine)._encode

    def counting(self, texts, prompt, progress):
        encoded.extend(texts)
        return real(self, texts, prompt, progress)

    monkeypatch.setattr(type(mine), "_encode", counting)
    units = ["Le paquet est installé.", "Meta a investi 14 milliards.", "Le paquet est installé."]
    first = mine.embed_units(units)
    assert encoded == units[:2]  # a repeated text is encoded once
    assert np.allclose(first, mine.embed_passages(units), atol=1e-5)  # the same vectors as at ingest
    encoded.clear()
    again = mine.embed_units(units[:2])
    assert encoded == [] and np.array_equal(again, first[:2])
    mine.embed_query("Qui ?")
    mine.embed_query("Quoi ?")
    assert len(mine._memory) == 3  # the oldest unit was dropped
    encoded.clear()
    mine.forget()
    mine.embed_query("Qui ?")
    assert encoded == ["Qui ?"]


def test_a_question_naming_a_publisher_reads_its_documents_first(retriever):
    """"According to <publisher>" asks what that source says: its chunks lead, in their own order."""
    question = "What did Meta put into Scale AI?"
    plain = retriever.search(question, k=4)
    for name, doc_id in (("developpez.com", DEVELOPPEZ), ("FUTURISM", FUTURISM)):
        hits = retriever.search(f"According to {name}, what did Meta put into Scale AI?", k=4)
        assert [h.chunk.doc_id for h in hits] == [doc_id] * 4, name
        assert retriever.named_documents(f"selon {name} ?") == {doc_id}
    assert {h.chunk.doc_id for h in plain} == {DEVELOPPEZ, FUTURISM}  # unnamed, both articles compete
    assert retriever.named_documents("What do futurisms predict?") == set()  # a whole word, not a part of one


def test_a_publisher_the_corpus_speaks_of_everywhere_is_its_subject_not_a_source(retriever, monkeypatch):
    """A manual published by "Debian" about Debian: "How does Debian...?" names the subject, not the publisher."""
    monkeypatch.setattr(retriever, "common_terms", retriever.common_terms | set(retriever.analyze("Futurism")))
    assert retriever.named_documents("According to Futurism, what did Meta put into Scale AI?") == set()
    assert retriever.named_documents("According to developpez.com, what did Meta put into Scale AI?") == {DEVELOPPEZ}
