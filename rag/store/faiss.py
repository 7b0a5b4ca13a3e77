"""The embedded default: the index folder of rag/index.py, unchanged (versions, CURRENT pointer, crash safety)."""
from __future__ import annotations

import os

import numpy as np

from rag.index import CURRENT, Index, Salvage, load_index, read_pointer, salvage_documents, save_index, write_lock
from rag.store import Commit


class FaissStore:
    kind = "faiss"

    def __init__(self, settings) -> None:
        from rag.ingest import dense_params, retention

        self.settings = settings
        self.index_dir = settings.index_dir
        self.params = dense_params(settings)
        self.retention = retention(settings)

    def describe(self) -> str:
        return str(self.index_dir)

    def close(self) -> None:
        """Nothing to release: every load reads the folder anew."""

    def load(self) -> Index:
        return load_index(self.index_dir)

    def write_lock(self):
        return write_lock(self.index_dir)

    def save(self, commit: Commit) -> Index:
        order = commit.order
        missing = [d for d in order if commit.vectors.get(d) is None]
        if missing:
            raise ValueError(f"the FAISS store needs the vectors of every document (missing: {', '.join(missing[:3])})")
        chunks = [c for d in order for c in commit.chunks[d]]
        vectors = np.concatenate([commit.vectors[d] for d in order]) if order else np.zeros((0, commit.info.dim), np.float32)
        units = [commit.unit_vectors.get(d) for d in order]
        # All or none: a document carried over from an index that stored no units leaves them to question time.
        unit_vectors = np.concatenate(units) if order and all(u is not None for u in units) else None
        return save_index(
            self.index_dir,
            [commit.documents[d] for d in order],
            chunks,
            vectors,
            commit.info,
            self.params,
            commit.dates,
            self.retention,
            unit_vectors,
        )

    def signature(self) -> object:
        """What changes whenever a writer switches CURRENT (it is replaced by a rename: a new inode)."""
        try:
            st = os.stat(self.index_dir / CURRENT)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def current_version(self) -> str | None:
        return read_pointer(self.index_dir)[0]

    def salvage(self) -> Salvage:
        return salvage_documents(self.index_dir)
