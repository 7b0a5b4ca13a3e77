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
EXTRACTION_VERSION = 4  # bump when reading a file changes (its text, blocks, languages or own metadata): files are read again
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
UNITS_FILE = "unit_vectors.npy"
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
    extraction_version: int = EXTRACTION_VERSION

    def to_dict(self) -> dict:
        return {
            "model": {"name": self.model_name, "fingerprint": self.model_fingerprint, "dim": self.dim},
            "chunking": self.chunking,
            "bm25_analyzer": self.analyzer_version,
            "extraction": self.extraction_version,
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
            int(manifest.get("extraction", 0)),
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
        analyzer_version=ANALYZER_VERSION,
        extraction_version=EXTRACTION_VERSION,
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
    # Vectors of every chunk's units, chunk after chunk (None: not stored, they are encoded at question time)
    unit_vectors: np.ndarray | None = None
    unit_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    # Why CURRENT could not be used, when an older intact version was loaded instead ("" normally)
    fallback_from: str = ""
    # False when a version newer than this one exists but is damaged: a writer building on it could lose documents.
    lossless: bool = True

    @property
    def note(self) -> str:
        """One line for the user when this is a fallback version, else ""."""
        if not self.fallback_from:
            return ""
        return (
            f"{self.fallback_from}; using the newest intact version {self.version_dir.name} "
            f"({len(self.documents)} documents); `rag ingest --rebuild` repairs the index"
        )

    def __post_init__(self) -> None:
        self.chunk_rows = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        self.unit_offsets = np.concatenate([[0], np.cumsum([len(c.units) for c in self.chunks], dtype=np.int64)])

    def stored_unit_vectors(self, chunk_id: str) -> np.ndarray | None:
        """The vectors of the chunk's units, in its order, when the index stores them."""
        row = self.chunk_rows.get(chunk_id)
        if self.unit_vectors is None or row is None:
            return None
        return self.unit_vectors[self.unit_offsets[row] : self.unit_offsets[row + 1]]

    def units_of(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these chunks' units, by chunk id; chunks stored without them are left out."""
        found = {cid: self.stored_unit_vectors(cid) for cid in dict.fromkeys(chunk_ids)}
        return {cid: vectors for cid, vectors in found.items() if vectors is not None}

    def documents_with_unit_vectors(self) -> set[str]:
        """Documents whose units' vectors are stored (an index written before they were has none)."""
        return set(self.documents) if self.unit_vectors is not None else set()

    @property
    def build_info(self) -> BuildInfo:
        return BuildInfo.from_manifest(self.manifest)

    def close(self) -> None:
        """Release what searching this index holds open: nothing here, a connection for a PostgreSQL index."""

    def rows_of(self, doc_id: str) -> list[int]:
        return [i for i, c in enumerate(self.chunks) if c.doc_id == doc_id]

    def next_chunk(self, chunk: Chunk) -> Chunk | None:
        """The chunk after this one in its document (chunks are kept in document order), None after the last."""
        row = self.chunk_rows.get(chunk.chunk_id)
        after = self.chunks[row + 1] if row is not None and row + 1 < len(self.chunks) else None
        return after if after is not None and after.doc_id == chunk.doc_id and after.ord == chunk.ord + 1 else None

    # What rag.retrieval.Retriever asks of any store's index (rag/store/postgres.py answers the same in SQL).

    @property
    def version(self) -> str:
        """Names this state of the store: another process's commit makes a different one."""
        return self.version_dir.name

    def analyze(self, text: str, codes: list[str]) -> list[str]:
        """The keyword terms of a text analysed in each of these languages, without repeats."""
        terms: list[str] = []
        for code in codes:
            terms.extend(t for t in analyzer(code)(text) if t and t not in terms)
        return terms

    def document_frequencies(self) -> dict[str, int]:
        """How many chunks hold each keyword term."""
        scores = getattr(self.bm25, "scores", None)
        if not isinstance(scores, dict) or not len(self.chunks):
            return {}
        indptr = np.asarray(scores["indptr"])
        return {
            term: int(indptr[tid + 1] - indptr[tid])
            for term, tid in self.bm25.vocab_dict.items()
            if term and tid + 1 < len(indptr)
        }

    def dense_search(self, vector: np.ndarray, n: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        """(row, cosine) of the n nearest allowed chunks, nearest first."""
        # Ask for more than n so that excluded labels do not leave the list short.
        want = min(len(self.chunks), n + int((~allowed).sum()))
        scores, rows = self.dense.search(vector.reshape(1, -1), max(want, 1))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0 and allowed[r]][:n]

    def keyword_search(self, terms: list[str], n: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        """(row, BM25 score) of the n best allowed chunks for these analysed terms, best first."""
        n = min(n, len(self.chunks))
        if not terms or n <= 0:
            return []
        rows, scores = self.bm25.retrieve(
            [terms], k=n, show_progress=False, weight_mask=allowed.astype(np.float32), n_threads=1
        )
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if s > 0]


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


# ---------------------------------------------------------------- versions and the CURRENT pointer

_STAMP = "%Y%m%dT%H%M%S%f"
_VERSION_NAME = re.compile(r"v-\d{8}T\d{12}")
LOAD_ATTEMPTS = 5  # a reader that loses a race with a writer reads CURRENT again, this many times at most


@dataclass(frozen=True)
class Retention:
    """Superseded versions stay on disk for readers that are still loading them.

    The newest `keep` versions always stay; an older one goes once it has been superseded for `grace_seconds`.
    """

    keep: int = 2
    grace_seconds: float = 300.0


def version_names(index_dir: Path) -> list[str]:
    """Names of the version folders, oldest first (the time stamp in the name sorts them)."""
    try:
        return sorted(p.name for p in index_dir.iterdir() if _VERSION_NAME.fullmatch(p.name) and p.is_dir())
    except OSError:
        return []


def read_pointer(index_dir: Path) -> tuple[str | None, str]:
    """(version name, "") when CURRENT names an existing version folder, else (None, why not)."""
    path = index_dir / CURRENT
    try:
        with path.open("rb") as fh:
            raw = fh.read(256).strip()
    except FileNotFoundError:
        return None, "is missing"
    except OSError as exc:
        return None, f"is unreadable ({exc.strerror or exc})"
    if not raw:
        return None, "is empty"
    # Anything but an ASCII version name (binary data, another encoding, a path) names no version.
    name = raw.decode("ascii", errors="replace")
    if not _VERSION_NAME.fullmatch(name):
        return None, "does not name an index version"
    if not (index_dir / name).is_dir():
        return None, f"names {name}, which does not exist"
    return name, ""


def _stamp_seconds(name: str) -> float:
    return dt.datetime.strptime(name[2:], _STAMP).replace(tzinfo=dt.timezone.utc).timestamp()


def _new_version_name(index_dir: Path) -> str:
    """v-<UTC time stamp>, later than every existing version even if the clock went back."""
    now = dt.datetime.now(dt.timezone.utc)
    existing = version_names(index_dir)
    if existing:
        newest = dt.datetime.strptime(existing[-1][2:], _STAMP).replace(tzinfo=dt.timezone.utc)
        now = max(now, newest + dt.timedelta(microseconds=1))
    return "v-" + now.strftime(_STAMP)


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
    retention: Retention = Retention(),
    unit_vectors: np.ndarray | None = None,
) -> Index:
    """Write a complete new version beside the old one, then switch CURRENT to it in one rename.

    The caller holds write_lock: folders a crashed writer left behind can be removed without asking.
    """
    import faiss

    if len(chunks) != len(vectors):
        raise ValueError("chunks and vectors differ in length")
    index_dir.mkdir(parents=True, exist_ok=True)
    _remove_unfinished(index_dir)
    name = _new_version_name(index_dir)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=index_dir))
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(chunks), info.dim)
    dense = build_dense(vectors, params)
    bm25 = build_bm25(chunks)
    np.save(work / "vectors.npy", vectors)
    if unit_vectors is not None:
        unit_vectors = np.ascontiguousarray(unit_vectors, dtype=np.float32).reshape(-1, info.dim)
        if len(unit_vectors) != sum(len(c.units) for c in chunks):
            raise ValueError("units and unit vectors differ in length")
        np.save(work / UNITS_FILE, unit_vectors)
    if dense_kind(dense) == "hnsw":
        faiss.write_index(dense, str(work / "dense.faiss"))
    bm25.save(str(work / "bm25"), show_progress=False)
    _write_json(work / "documents.json", [d.to_dict() for d in documents])
    _write_json(work / "chunks.json", [c.to_dict() for c in chunks])
    dates = doc_dates or {}
    per_doc: dict[str, int] = {}
    for c in chunks:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    manifest = {
        "format": FORMAT_VERSION,
        "created": name[2:],
        **info.to_dict(),
        "dense": {"kind": dense_kind(dense), **params.__dict__},
        "n_chunks": len(chunks),
        "languages": sorted({c.lang for c in chunks if c.lang}),
        "documents": {
            d.doc_id: {
                "source": d.source,
                "title": d.title,
                "sha256": d.sha256,
                "n_chunks": per_doc.get(d.doc_id, 0),
                "lang": d.lang,
                **dates.get(d.doc_id, {}),
            }
            for d in documents
        },
        "files": {p.relative_to(work).as_posix(): sha256_file(p) for p in sorted(work.rglob("*")) if p.is_file()},
    }
    _write_json(work / MANIFEST, manifest)
    _fsync_dir(work)
    final = index_dir / name
    os.rename(work, final)
    _switch_pointer(index_dir, name)
    _remove_superseded(index_dir, name, retention)
    return Index(manifest, {d.doc_id: d for d in documents}, chunks, vectors, dense, bm25, final, unit_vectors=unit_vectors)


def _switch_pointer(index_dir: Path, name: str) -> None:
    pointer = index_dir / f".{CURRENT}.tmp"
    with pointer.open("w") as fh:
        fh.write(name)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, index_dir / CURRENT)
    _fsync_dir(index_dir)


def _remove_unfinished(index_dir: Path) -> None:
    """Delete what a crashed writer left: work folders, and versions renamed but never made current."""
    current, _ = read_pointer(index_dir)
    for child in index_dir.iterdir():
        if child.is_dir() and child.name.startswith(".tmp-"):
            shutil.rmtree(child, ignore_errors=True)
    # No reader opens a version newer than CURRENT while CURRENT names an existing one: they are debris.
    for name in version_names(index_dir) if current else []:
        if name > current:
            shutil.rmtree(index_dir / name, ignore_errors=True)


def _remove_superseded(index_dir: Path, current: str, retention: Retention) -> None:
    """Delete old versions no reader can still be loading: beyond the newest `keep`, superseded long enough."""
    import time

    names = [n for n in version_names(index_dir) if n <= current]
    now = time.time()
    for i, name in enumerate(names[: -max(1, retention.keep)]):
        superseded_at = _stamp_seconds(names[i + 1])  # the moment the next version replaced it
        if now - superseded_at >= retention.grace_seconds:
            shutil.rmtree(index_dir / name, ignore_errors=True)


# ---------------------------------------------------------------- loading


def index_exists(index_dir: Path) -> bool:
    return (index_dir / CURRENT).is_file() or bool(version_names(index_dir))


def load_index(index_dir: Path, verify: bool = True) -> Index:
    """Load the version CURRENT names, checked against its manifest; raise IndexProblem with a fix.

    A reader racing a writer reads CURRENT again when its version changed under it. When CURRENT is bad or
    its version damaged, the newest intact version is loaded instead and `index.note` says so.
    """
    name: str | None = None
    problem: IndexProblem | None = None
    for _ in range(LOAD_ATTEMPTS):
        name, why = read_pointer(index_dir)
        if name is None:
            problem = _pointer_problem(index_dir, why)
            if read_pointer(index_dir) != (name, why):
                continue  # CURRENT moved between reading it and finding its folder: a writer committed
            break
        try:
            return _load_version(index_dir, index_dir / name, verify)
        except IndexProblem as exc:
            problem = exc
        if read_pointer(index_dir)[0] == name:
            break  # CURRENT did not move: the version itself is damaged
    return _fall_back(index_dir, name, problem, verify)


def _pointer_problem(index_dir: Path, why: str) -> IndexProblem:
    if not version_names(index_dir):
        # Nothing indexed is left to lose: a plain ingest starts afresh.
        detail = "" if why == "is missing" else f" ({CURRENT} {why} and no version is left)"
        return IndexMissing(f"no index in {index_dir}{detail}: build it with `rag ingest`")
    return IndexCorrupt(f"index pointer {index_dir / CURRENT} {why}: {REBUILD_HINT}")


def _fall_back(index_dir: Path, skip: str | None, problem: IndexProblem, verify: bool) -> Index:
    """The newest version that loads intact, noting why; re-raise the problem when there is none."""
    if isinstance(problem, IndexMissing):
        raise problem
    names = [n for n in reversed(version_names(index_dir)) if n != skip]
    newest = max([*names, skip or ""])
    for name in names:
        try:
            index = _load_version(index_dir, index_dir / name, verify)
        except IndexProblem:
            continue
        index.fallback_from = str(problem).removesuffix(f": {REBUILD_HINT}")
        index.lossless = name == newest
        return index
    raise problem


def _load_version(index_dir: Path, version: Path, verify: bool) -> Index:
    """One version folder, checked against its manifest."""
    import bm25s
    import faiss

    try:
        manifest = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("the manifest is not an object")
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
        # An index written before units were stored has none: its units are encoded at question time.
        units = np.load(version / UNITS_FILE, mmap_mode="r") if (version / UNITS_FILE).is_file() else None
    except IndexProblem:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RuntimeError) as exc:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; the message is kept to one line.
        detail = " ".join(str(exc).split())[:300]
        raise IndexCorrupt(f"index version {version} is unreadable ({type(exc).__name__}: {detail}): {REBUILD_HINT}") from None
    if len(chunks) != len(vectors) or len(chunks) != manifest.get("n_chunks"):
        raise IndexCorrupt(f"index version {version} is inconsistent (chunks and vectors differ): {REBUILD_HINT}")
    if units is not None and units.shape != (sum(len(c.units) for c in chunks), vectors.shape[1]):
        raise IndexCorrupt(f"index version {version} is inconsistent (units and their vectors differ): {REBUILD_HINT}")
    return Index(manifest, {d.doc_id: d for d in documents}, chunks, vectors, dense, bm25, version, unit_vectors=units)


def _verify_files(version: Path, manifest: dict) -> None:
    for rel, expected in manifest.get("files", {}).items():
        path = version / rel
        if not path.is_file() or sha256_file(path) != expected:
            raise IndexCorrupt(f"index file {path} is missing or damaged: {REBUILD_HINT}")


# ---------------------------------------------------------------- salvage for a rebuild


@dataclass
class Salvage:
    """What a rebuild can take from a damaged index: stored documents, their dates, and what is lost."""

    documents: list[Document] = field(default_factory=list)
    dates: dict[str, dict] = field(default_factory=dict)
    version: str = ""
    # Documents the version CURRENT named listed but whose stored text could not be read: doc_id -> source
    missing: dict[str, str] = field(default_factory=dict)


def salvage_documents(index_dir: Path) -> Salvage:
    """Stored documents of the version CURRENT names, else of the newest version whose documents.json is readable."""
    pointed, _ = read_pointer(index_dir)
    order = ([pointed] if pointed else []) + [n for n in reversed(version_names(index_dir)) if n != pointed]
    listed = _listed_documents(index_dir / pointed) if pointed else {}
    for name in order:
        found = _stored_documents(index_dir / name)
        if found is not None:
            documents, dates = found
            held = {d.doc_id for d in documents}
            missing = {d: source for d, source in listed.items() if d not in held}
            return Salvage(documents, dates, name, missing)
    return Salvage(missing=listed)


def _read_manifest(version: Path) -> dict:
    try:
        manifest = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _listed_documents(version: Path) -> dict[str, str]:
    """doc_id -> source of the documents a version's manifest lists (empty when it is unreadable)."""
    entries = _read_manifest(version).get("documents")
    if not isinstance(entries, dict):
        return {}
    return {d: str(meta.get("source", "")) for d, meta in entries.items() if isinstance(meta, dict)}


def _stored_documents(version: Path) -> tuple[list[Document], dict[str, dict]] | None:
    """A version's documents.json when it is intact (its checksum when the manifest has one), else None."""
    manifest = _read_manifest(version)
    path = version / "documents.json"
    expected = (manifest.get("files") or {}).get("documents.json") if isinstance(manifest.get("files"), dict) else None
    try:
        if expected and sha256_file(path) != expected:
            return None
        documents = [Document.from_dict(d) for d in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    entries = manifest.get("documents") if isinstance(manifest.get("documents"), dict) else {}
    dates = {
        d: {k: meta[k] for k in ("added_at", "updated_at") if k in meta}
        for d, meta in entries.items()
        if isinstance(meta, dict)
    }
    return documents, dates
