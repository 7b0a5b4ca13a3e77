"""Hybrid retrieval: dense (FAISS) and lexical (BM25) rankings fused by reciprocal rank fusion."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rag import languages
from rag.embeddings import Embedder, load_embedder
from rag.index import Index, IndexMismatch, current_build_info
from rag.settings import Settings
from rag.text import interrogative_terms, written_words
from rag.types import Chunk


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused RRF score
    dense_score: float | None  # cosine similarity when the dense side found it
    bm25_score: float | None

    def to_dict(self, index: Index) -> dict:
        doc = index.documents[self.chunk.doc_id]
        return {
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.chunk.doc_id,
            "title": doc.title,
            "source": doc.source,
            "label": self.chunk.label,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 4),
            "bm25_score": None if self.bm25_score is None else round(self.bm25_score, 4),
            "text": self.chunk.text,
        }


def rrf_fuse(rankings: list[list[int]], k: int, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion: each list adds weight/(k + rank) to the rows it ranks."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return fused


class Retriever:
    """Searches one loaded index with one loaded embedder; both are passed in, never reloaded."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        excluded = set(settings.exclude_labels)
        self.allowed = np.array([c.label not in excluded for c in index.chunks], dtype=bool)
        self.languages = list(index.manifest.get("languages") or sorted({c.lang for c in index.chunks if c.lang}))
        self.frequencies = index.document_frequencies()
        limit = settings.common_term_ratio * len(index.chunks)
        self.common_terms = {term for term, df in self.frequencies.items() if df > limit}
        # Words that ask rather than say what about ("what", "comment"): never what a question is about.
        self.question_terms = frozenset().union(*(interrogative_terms(lang) for lang in languages.available()))
        self.publishers = _publishers(index)

    def warm_up(self) -> None:
        """Compute now what the first answer's check would otherwise pay for (the names across languages)."""
        self.names_across_languages

    def close(self) -> None:
        """Release the index's connection, if it has one (searching again reopens it)."""
        self.index.close()

    def analyze(self, text: str, lang: str | None = None) -> list[str]:
        """The query's keyword terms: analysed in its own language and in each language of the corpus, without repeats.

        A chunk's words were analysed in the chunk's language: the same word must be analysed the same way here.
        """
        codes = list(dict.fromkeys([lang, *self.languages] if lang else self.languages or [languages.FALLBACK]))
        return self.index.analyze(text, codes)

    def term_weight(self, term: str) -> float:
        """How much a keyword term tells what a text is about: its BM25 idf in this corpus, highest for a term no
        chunk holds."""
        n, df = len(self.index.chunks), self.frequencies.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def focused_query(self, query: str, lang: str | None = None) -> str | None:
        """The query without the corpus's ubiquitous words, which otherwise dominate a small embedding model.

        None when nothing is removed, or when fewer than two content words would be left: "Comment LeCun
        qualifie-t-il les LLM ?" is not about "qualifie" alone.
        """
        words = query.split()
        kept = [w for w in words if not self._ubiquitous(w, lang)]
        if len(kept) == len(words) or len(self._content_terms(" ".join(kept), lang)) < 2:
            return None
        return " ".join(kept)

    def _ubiquitous(self, word: str, lang: str | None) -> bool:
        """Every term of the word is common in the corpus ("Info-System" is not, though "system" is)."""
        terms = set(self.analyze(word, lang))
        return bool(terms) and terms <= self.common_terms

    def _content_terms(self, text: str, lang: str | None = None) -> list[str]:
        """Analyzed terms that say what is asked about, in the question's own language: not the interrogatives."""
        terms = self.index.analyze(text, [lang]) if lang else self.analyze(text)
        return [t for t in terms if t and t not in self.question_terms]

    def dense_ranking(self, query: str, n: int) -> tuple[list[int], dict[int, float]]:
        ranked = self.index.dense_search(self.embedder.embed_query(query), n, self.allowed)
        return [r for r, _ in ranked], dict(ranked)

    def bm25_ranking(self, query: str, n: int, lang: str | None = None) -> tuple[list[int], dict[int, float]]:
        # Ubiquitous words rank every chunk alike: leave them out, unless too little would be left to rank with
        # (then the whole query ranks; made only of ubiquitous words, it is noise that would drown the dense side).
        everything = self.analyze(query, lang)
        tokens = [t for t in everything if t not in self.common_terms]
        if len([t for t in tokens if t not in self.question_terms]) == 1:
            tokens = everything
        if not tokens:
            return [], {}
        ranked = self.index.keyword_search(tokens, n, self.allowed)
        return [r for r, _ in ranked], dict(ranked)

    def ranked(self, query: str, lang: str | None = None) -> list[Hit]:
        """All candidate chunks for one query, dense and BM25 rankings fused, best first; the chunks of a publisher
        the query names (`named_documents`) before the others."""
        n = self.settings.candidates
        # Measured on the public set: the focused query lifts English recall@4 from 0.83 to 1.0, French unchanged.
        dense_rows, dense = self.dense_ranking(self.focused_query(query, lang) or query, n)
        bm25_rows, bm25 = self.bm25_ranking(query, n, lang)
        fused = rrf_fuse([dense_rows, bm25_rows], self.settings.rrf_k)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        hits = [Hit(self.index.chunks[row], score, dense.get(row), bm25.get(row)) for row, score in best]
        named = self.named_documents(query)
        # "According to <publisher>" asks what that source says: its chunks first, each side's order kept.
        return sorted(hits, key=lambda h: h.chunk.doc_id not in named) if named else hits

    def named_documents(self, query: str) -> set[str]:
        """The documents whose publisher the query names, as whole words in any case ("selon developpez.com"); not
        a name the corpus itself uses everywhere ("Debian" of a Debian manual is what it speaks of)."""
        return {
            doc_id
            for name, pattern, ids in self.publishers
            if pattern.search(query) and not self._ubiquitous(name, None)
            for doc_id in ids
        }

    @cached_property
    def names_across_languages(self) -> dict[str, frozenset[str]]:
        """The words that chunks of several languages share (a program, a file, a product: "crontab" of a German and
        a French manual), with the documents holding each; not a common word of any language, nor one that more
        than half the documents hold (what the corpus is about: "Debian" of Debian's manuals). Empty for a corpus
        in one language."""
        if len(set(self.languages)) < 2:
            return {}
        found: dict[str, tuple[set[str], set[str]]] = {}
        for chunk in self.index.chunks:
            for word in written_words(chunk.text):
                langs, docs = found.setdefault(word, (set(), set()))
                langs.add(chunk.lang)
                docs.add(chunk.doc_id)
        common = _common_words()
        most = len(self.index.documents) / 2
        return {
            word: frozenset(docs)
            for word, (langs, docs) in found.items()
            if len(langs) > 1 and len(docs) <= most and len(word) > 2 and not word.isdigit() and word not in common
        }

    def search(self, query: str, k: int | None = None, lang: str | None = None, context: str = "") -> list[Hit]:
        """Top-k chunks for the query, best first.

        `context` is the conversation the query follows (the last question and answer). The query read with it
        gives the top k ("And which file does it read?" finds what "it" is); the query alone adds its own best
        `followup_extra` chunks, for a question that changes the subject.
        """
        k = k or self.settings.top_k
        if not self.index.chunks or not query.strip():
            return []
        if not context.strip():
            return self.ranked(query, lang)[:k]
        hits = self.ranked(f"{context} {query}", lang)[:k]
        seen = {h.chunk.chunk_id for h in hits}
        alone = [h for h in self.ranked(query, lang) if h.chunk.chunk_id not in seen]
        return hits + alone[: self.settings.followup_extra]


def _common_words() -> frozenset[str]:
    """Every language's words that say nothing of a subject (stop words, question words, yes and no, negations)."""
    words: set[str] = set()
    for code in languages.available():
        language = languages.get(code)
        words |= language.stop_words | language.filler | language.question_words | language.answers | language.negations
    return frozenset(w.casefold() for w in words)


def _publishers(index: Index) -> list[tuple[str, re.Pattern, set[str]]]:
    """Each publisher's short name, with its whole-word pattern in any case and the documents it published."""
    by_name: dict[str, set[str]] = {}
    for doc in index.documents.values():
        if doc.publisher_name:
            by_name.setdefault(doc.publisher_name.casefold(), set()).add(doc.doc_id)
    return [(name, re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE), ids) for name, ids in by_name.items()]


def load_retriever(settings: Settings, store=None, embedder: Embedder | None = None) -> Retriever:
    """Load the index from its store, then the embedding model it was built with (refusing a different one); an
    embedder already loaded (the serving process loads it in a child process) is checked instead of loading one."""
    from rag.store import open_store

    store = store or open_store(settings)
    index = store.load()
    embedder = embedder if embedder is not None else load_embedder(settings)
    built, current = index.build_info, current_build_info(settings, embedder)
    if (built.model_fingerprint, built.dim) != (current.model_fingerprint, current.dim):
        raise IndexMismatch(
            f"index in {store.describe()} was built with embedding model '{built.model_name}' "
            f"but '{current.model_name}' is configured: rebuild it with `rag ingest --rebuild`"
        )
    return Retriever(index, embedder, settings)
