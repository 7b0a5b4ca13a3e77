"""Persistent hybrid index: FAISS vectors + BM25, documents, chunks and a manifest, written atomically."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.files import sha256_file
from rag.text import analyzer
from rag.types import Chunk, Document

FORMAT_VERSION = 2  # 2: documents carry blocks and languages, chunks their units
ANALYZER_VERSION = 3  # bump when chunk_terms changes, so old indexes are rebuilt rather than mixed
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
REBUILD_HINT = "rebuild it with `rag ingest --rebuild`"


class IndexProblem(Exception):
    """The index cannot be used as it is; the message says why and how to fix it."""


class IndexMissing(IndexProblem):
    pass


class IndexCorrupt(IndexProblem):
    pass


class IndexMismatch(IndexProblem):
    pass


@dataclass(frozen=True)
class BuildInfo:
    """What an index was built with; a difference from the current settings forces a rebuild."""

    model_name: str
    model_fingerprint: str
    dim: int
    chunking: dict
    analyzer_version: int = ANALYZER_VERSION

    def to_dict(self) -> dict:
        return {
            "model": {"name": self.model_name, "fingerprint": self.model_fingerprint, "dim": self.dim},
            "chunking": self.chunking,
            "bm25_analyzer": self.analyzer_version,
        }

    @classmethod
    def from_manifest(cls, manifest: dict) -> "BuildInfo":
        model = manifest["model"]
        return cls(
            model["name"],
            model["fingerprint"],
            int(model["dim"]),
            manifest["chunking"],
            int(manifest.get("bm25_analyzer", 0)),
        )


def current_build_info(settings, embedder) -> BuildInfo:
    """What an index built now with these settings and this embedder would record."""
    return BuildInfo(
        model_name=embedder.name,
        model_fingerprint=embedder.fingerprint,
        dim=embedder.dim,
        chunking={
            "min_words": settings.chunk_min_words,
            "max_words": settings.chunk_max_words,
            "overlap_sentences": settings.chunk_overlap_sentences,
        },
    )


@dataclass(frozen=True)
class DenseParams:
    ann_threshold: int = 20_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128


@dataclass
class Index:
    """A loaded index; rows of `vectors` and positions in `chunks` are the same chunk."""

    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: np.ndarray
    dense: object
    bm25: object
    version_dir: Path
    chunk_rows: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.chunk_rows = {c.chunk_id: i for i, c in enumerate(self.chunks)}

    @property
    def build_info(self) -> BuildInfo:
        return BuildInfo.from_manifest(self.manifest)

    def rows_of(self, doc_id: str) -> list[int]:
        return [i for i, c in enumerate(self.chunks) if c.doc_id == doc_id]


# ---------------------------------------------------------------- BM25 text processing


def chunk_terms(chunk: Chunk) -> list[str]:
    """The chunk's words for BM25: each unit analysed in its own language, and the headings above it."""
    terms = [t for unit in chunk.units for t in analyzer(unit.lang)(chunk.text[unit.start - chunk.start : unit.end - chunk.start])]
    if chunk.heading:
        terms += analyzer(chunk.lang)(chunk.heading)
    return [t for t in terms if t] or [""]


def build_bm25(chunks: list[Chunk]):
    import bm25s

    retriever = bm25s.BM25()
    # bm25s cannot index an empty corpus (the last document was removed): one empty placeholder row instead.
    retriever.index([chunk_terms(c) for c in chunks] or [[""]], show_progress=False)
    return retriever


# ---------------------------------------------------------------- dense index


def build_dense(vectors: np.ndarray, params: DenseParams):
    """Exact inner-product search for small corpora, HNSW above the threshold."""
    import faiss

    dim = vectors.shape[1]
    if len(vectors) <= params.ann_threshold:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.hnsw_ef_construction
        index.hnsw.efSearch = params.hnsw_ef_search
    if len(vectors):
        index.add(vectors)
    return index


def dense_kind(index) -> str:
    return "hnsw" if type(index).__name__.startswith("IndexHNSW") else "flat"


# ---------------------------------------------------------------- saving


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json(path: Path, data) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def write_lock(index_dir: Path):
    """One writer at a time (CLI ingest and the UI's upload can run together)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def save_index(
    index_dir: Path,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    info: BuildInfo,
    params: DenseParams,
    doc_dates: dict[str, dict] | None = None,
) -> Index:
    """Write a complete new version beside the old one, then switch CURRENT to it in one rename."""
    import faiss

    if len(chunks) != len(vectors):
        raise ValueError("chunks and vectors differ in length")
    index_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(index_dir, keep=None)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=index_dir))
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(chunks), info.dim)
    dense = build_dense(vectors, params)
    bm25 = build_bm25(chunks)
    np.save(work / "vectors.npy", vectors)
    if dense_kind(dense) == "hnsw":
        faiss.write_index(dense, str(work / "dense.faiss"))
    bm25.save(str(work / "bm25"), show_progress=False)
    _write_json(work / "documents.json", [d.to_dict() for d in documents])
    _write_json(work / "chunks.json", [c.to_dict() for c in chunks])
    dates = doc_dates or {}
    manifest = {
        "format": FORMAT_VERSION,
        "created": stamp,
        **info.to_dict(),
        "dense": {"kind": dense_kind(dense), **params.__dict__},
        "n_chunks": len(chunks),
        "languages": sorted({c.lang for c in chunks if c.lang}),
        "documents": {
            d.doc_id: {
                "source": d.source,
                "title": d.title,
                "sha256": d.sha256,
                "n_chunks": sum(1 for c in chunks if c.doc_id == d.doc_id),
                "lang": d.lang,
                **dates.get(d.doc_id, {}),
            }
            for d in documents
        },
        "files": {p.relative_to(work).as_posix(): sha256_file(p) for p in sorted(work.rglob("*")) if p.is_file()},
    }
    _write_json(work / MANIFEST, manifest)
    _fsync_dir(work)
    final = index_dir / f"v-{stamp}"
    os.rename(work, final)
    pointer = index_dir / f".{CURRENT}.tmp"
    pointer.write_text(final.name)
    with pointer.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(pointer, index_dir / CURRENT)
    _fsync_dir(index_dir)
    _remove_stale(index_dir, keep=final.name)
    return Index(manifest, {d.doc_id: d for d in documents}, chunks, vectors, dense, bm25, final)


def _remove_stale(index_dir: Path, keep: str | None) -> None:
    """Delete unfinished work folders and versions no longer pointed to."""
    current = _read_pointer(index_dir)
    for child in index_dir.iterdir():
        if not child.is_dir():
            continue
        stale_tmp = child.name.startswith(".tmp-")
        old_version = keep is not None and child.name.startswith("v-") and child.name not in (keep, current)
        if stale_tmp or old_version:
            shutil.rmtree(child, ignore_errors=True)


def _read_pointer(index_dir: Path) -> str | None:
    try:
        return (index_dir / CURRENT).read_text().strip() or None
    except OSError:
        return None


# ---------------------------------------------------------------- loading


def index_exists(index_dir: Path) -> bool:
    return (index_dir / CURRENT).is_file()


def load_index(index_dir: Path, verify: bool = True) -> Index:
    """Load the current version, checking it against its manifest; raise IndexProblem with a fix."""
    import bm25s
    import faiss

    name = _read_pointer(index_dir)
    if name is None:
        raise IndexMissing(f"no index in {index_dir}: build it with `rag ingest`")
    version = index_dir / name
    try:
        manifest = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatch(f"index in {index_dir} has format {manifest.get('format')}, expected {FORMAT_VERSION}: {REBUILD_HINT}")
        if verify:
            _verify_files(version, manifest)
        documents = [Document.from_dict(d) for d in json.loads((version / "documents.json").read_text(encoding="utf-8"))]
        chunks = [Chunk.from_dict(c) for c in json.loads((version / "chunks.json").read_text(encoding="utf-8"))]
        vectors = np.load(version / "vectors.npy", mmap_mode="r")
        if manifest["dense"]["kind"] == "hnsw":
            dense = faiss.read_index(str(version / "dense.faiss"), faiss.IO_FLAG_MMAP)
            dense.hnsw.efSearch = manifest["dense"]["hnsw_ef_search"]
        else:
            dense = build_dense(np.ascontiguousarray(vectors), DenseParams(ann_threshold=len(vectors) + 1))
        bm25 = bm25s.BM25.load(str(version / "bm25"), show_progress=False)
    except IndexProblem:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexCorrupt(f"index in {index_dir} is unreadable ({type(exc).__name__}: {exc}): {REBUILD_HINT}") from None
    if len(chunks) != len(vectors) or len(chunks) != manifest.get("n_chunks"):
        raise IndexCorrupt(f"index in {index_dir} is inconsistent (chunks and vectors differ): {REBUILD_HINT}")
    return Index(manifest, {d.doc_id: d for d in documents}, chunks, vectors, dense, bm25, version)


def _verify_files(version: Path, manifest: dict) -> None:
    for rel, expected in manifest.get("files", {}).items():
        path = version / rel
        if not path.is_file() or sha256_file(path) != expected:
            raise IndexCorrupt(f"index file {path} is missing or damaged: {REBUILD_HINT}")
