"""Where the index lives: one small interface, two implementations.

- `faiss` (default): the index folder of rag/index.py (FAISS + BM25 files, versions, a CURRENT pointer).
- `postgresql://…`: documents, chunks, offsets, embeddings and the manifest in PostgreSQL with pgvector (HNSW)
  and full-text search (unaccent + each language's stemmer), shared by several `rag serve` processes.

A store hands out `Index` objects (rag.index.Index or its PostgreSQL subclass): the documents, the chunks in row
order, the manifest, and the four searches the retriever needs (`analyze`, `document_frequencies`, `dense_search`,
`keyword_search`). Writers take `write_lock()`, read the current state with `load()`, and `save()` one `Commit`:
all of it becomes visible at once, or none of it. Whoever opens a store closes it (`contextlib.closing`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.index import BuildInfo, Index, Salvage
from rag.types import Chunk, Document


@dataclass
class Commit:
    """The next state of the store: every document, with chunks and vectors of those embedded now.

    `vectors[doc_id]` is None for a document whose vectors stay as stored (the PostgreSQL store keeps them in
    place; the FAISS store always has them from the loaded index). `changed` documents were (re)chunked and
    embedded, `removed` ones are gone, and `full` means every document was embedded again (a rebuild).
    """

    documents: dict[str, Document]
    chunks: dict[str, list[Chunk]]
    vectors: dict[str, np.ndarray | None]
    dates: dict[str, dict]
    info: BuildInfo
    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    full: bool = False
    # The vectors of every chunk's units, chunk after chunk. None or absent: PostgreSQL keeps what it stored, the
    # FAISS store (which rewrites every document) keeps none unless every document has them.
    unit_vectors: dict[str, np.ndarray | None] = field(default_factory=dict)

    @property
    def order(self) -> list[str]:
        return sorted(self.documents)


class Store(Protocol):
    kind: str  # "faiss" or "postgresql"

    def describe(self) -> str:
        """Where the index is, for messages (a folder, or the database without its password)."""

    def load(self) -> Index:
        """The current state; IndexMissing when nothing was ever stored, IndexProblem when it cannot be used."""

    def write_lock(self) -> contextlib.AbstractContextManager:
        """One writer at a time, across processes (and machines, for PostgreSQL)."""

    def save(self, commit: Commit) -> Index:
        """Make `commit` the current state, atomically; the caller holds write_lock()."""

    def signature(self) -> object:
        """Cheap token that changes whenever a writer commits (compared by `rag serve` before each answer)."""

    def current_version(self) -> str | None:
        """The version a fresh load() would give (Index.version), None when it cannot tell."""

    def salvage(self) -> Salvage:
        """Stored documents of a damaged index, for `rag ingest --rebuild`."""

    def close(self) -> None:
        """Release the store's connection (FAISS holds none); an index it loaded reconnects if searched again."""


def is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def open_store(settings) -> Store:
    """The store the settings name: RAG_STORE / --store is `faiss` (the index folder) or a postgresql:// URL."""
    if is_postgres_url(settings.store):
        from rag.store.postgres import PostgresStore

        return PostgresStore(settings)
    from rag.store.faiss import FaissStore

    return FaissStore(settings)


def stored_vectors(index: Index | None, rows: list[int], dim: int) -> np.ndarray | None:
    """The vectors of these rows when the index holds them in memory (FAISS), else None (kept in the store)."""
    if index is None or getattr(index, "vectors", None) is None:
        return None
    return np.asarray(index.vectors[rows]) if rows else np.zeros((0, dim), np.float32)


__all__ = ["Commit", "Store", "open_store", "is_postgres_url", "stored_vectors"]

