"""Add, update and remove documents: only changed files are read, chunked and embedded again."""
from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from rag.chunking import chunk_document, chunk_embedding_text, chunk_units_texts
from rag.documents import display_path, file_digest, find_files, load_document, slugify
from rag.embeddings import Embedder
from rag.index import (
    REBUILD_HINT,
    current_build_info,
    DenseParams,
    Index,
    IndexCorrupt,
    IndexMissing,
    IndexProblem,
    Retention,
)
from rag.settings import Settings
from rag.store import Commit, Store, open_store, stored_vectors
from rag.types import Chunk, Document, DocumentError

Progress = Callable[[int, int, str], None]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failures: list[DocumentError] = field(default_factory=list)  # the files refused, each with its typed reason
    reembedded: list[str] = field(default_factory=list)  # already indexed, embedded again by a rebuild
    repaired: str = ""  # the index was loaded from an older intact version; this save makes it current again
    chunks_embedded: int = 0
    total_chunks: int = 0
    rebuilt: str = ""
    seconds: float = 0.0
    embed_seconds: float = 0.0
    units_embedded: int = 0  # distinct unit texts embedded beside the chunks (stored for question time)

    @property
    def errors(self) -> list[str]:
        """One line per refused file, in the fallback language (the terminal, logs, reports)."""
        return [str(failure) for failure in self.failures]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt or self.repaired)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.removed)} removed",
            f"{len(self.errors)} failed",
        ]
        if self.rebuilt:
            parts.insert(0, f"{len(self.reembedded)} re-embedded")
        head = f"rebuilt ({self.rebuilt}); " if self.rebuilt else ("index pointer repaired; " if self.repaired else "")
        units = f" (and {self.units_embedded} sentences)" if self.units_embedded else ""
        return f"{head}{', '.join(parts)}; {self.chunks_embedded} chunks embedded{units}, {self.total_chunks} in index ({self.seconds:.1f} s)"


def dense_params(settings: Settings) -> DenseParams:
    return DenseParams(settings.ann_threshold, settings.hnsw_m, settings.hnsw_ef_construction, settings.hnsw_ef_search)


def retention(settings: Settings) -> Retention:
    return Retention(settings.index_keep_versions, settings.index_grace_seconds)


def chunk_with(settings: Settings, doc: Document) -> list[Chunk]:
    return chunk_document(doc, settings.chunk_min_words, settings.chunk_max_words, settings.chunk_overlap_sentences)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Plan:
    """Documents of the next index version, with the vectors already known for unchanged ones."""

    documents: dict[str, Document] = field(default_factory=dict)
    chunks: dict[str, list[Chunk]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray | None] = field(default_factory=dict)  # None: kept in the store as they are
    dates: dict[str, dict] = field(default_factory=dict)
    unit_vectors: dict[str, np.ndarray | None] = field(default_factory=dict)  # None: kept in the store as they are, or none

    def commit(self, info, changed=(), removed=(), full: bool = False) -> Commit:
        return Commit(
            self.documents, self.chunks, self.vectors, self.dates, info, set(changed), set(removed), full, self.unit_vectors
        )


def _existing_plan(index: Index | None) -> _Plan:
    plan = _Plan()
    if index is None:
        return plan
    # Rows grouped in one pass: asking each document for its rows is documents x chunks work.
    rows_by_doc: dict[str, list[int]] = {}
    for row, chunk in enumerate(index.chunks):
        rows_by_doc.setdefault(chunk.doc_id, []).append(row)
    for doc_id, doc in index.documents.items():
        rows = rows_by_doc.get(doc_id, [])
        plan.documents[doc_id] = doc
        plan.chunks[doc_id] = [index.chunks[r] for r in rows]
        plan.vectors[doc_id] = stored_vectors(index, rows, index.build_info.dim)
        plan.unit_vectors[doc_id] = _stored_unit_vectors(index, rows)
        meta = index.manifest["documents"].get(doc_id, {})
        plan.dates[doc_id] = {k: meta[k] for k in ("added_at", "updated_at") if k in meta}
    return plan


def _stored_unit_vectors(index: Index, rows: list[int]) -> np.ndarray | None:
    """The stored unit vectors of these chunk rows, one after the other; None when the index keeps none in memory."""
    if index.unit_vectors is None:
        return None
    parts = [index.stored_unit_vectors(index.chunks[r].chunk_id) for r in rows]
    return np.concatenate(parts) if parts else np.zeros((0, index.build_info.dim), np.float32)


def _open_existing(
    store: Store, rebuild: bool, report: IngestReport, log: Callable[[str], None]
) -> tuple[Index | None, _Plan]:
    """The index to build on and the plan it gives; a rebuild of a damaged index salvages its stored documents."""
    try:
        index = store.load()
    except IndexMissing:
        return None, _Plan()
    except IndexProblem as exc:
        if not rebuild:
            raise
        log(f"the index is damaged: {_reason(exc)}")
        return None, _salvaged_plan(store, report, log)
    if not index.lossless:
        if not rebuild:
            _refuse_lossy(index)
        log(f"the index is damaged: {index.fallback_from}")
        return None, _salvaged_plan(store, report, log)
    if index.note:
        log(f"warning: {index.note}")
        report.repaired = index.note
    return index, _existing_plan(index)


def _refuse_lossy(index: Index) -> None:
    """A newer version holds documents this fallback lacks: building on it would drop them without a word."""
    raise IndexCorrupt(f"{index.fallback_from}: {REBUILD_HINT}")


def _reason(exc: Exception) -> str:
    return str(exc).removesuffix(f": {REBUILD_HINT}")


def _salvaged_plan(store: Store, report: IngestReport, log: Callable[[str], None]) -> _Plan:
    """Documents of a damaged index, from their stored text, else from their file; what is lost is an error."""
    salvage = store.salvage()
    plan = _Plan()
    for doc in salvage.documents:
        plan.documents[doc.doc_id] = doc
        plan.dates[doc.doc_id] = salvage.dates.get(doc.doc_id, {})
    from_files = 0
    for doc_id, source in salvage.missing.items():
        try:
            plan.documents[doc_id] = load_document(Path(source), doc_id=doc_id)
            from_files += 1
        except DocumentError as exc:
            report.failures.append(DocumentError(doc_id, "lost", detail=exc))
    recovered = f"{len(salvage.documents)} documents recovered from {salvage.version}" if salvage.version else "no stored documents readable"
    if from_files:
        recovered += f", {from_files} read again from their files"
    report.rebuilt = f"previous index unreadable; {recovered}"
    return plan


def _doc_id_for(path: Path, plan: _Plan, found: list[str]) -> str:
    """Stable id: the existing id of this file (`found`: its documents in the index), else the file name made unique."""
    if found:
        return found[0]
    base = slugify(path.stem)
    doc_id, n = base, 2
    while doc_id in plan.documents:
        doc_id, n = f"{base}-{n}", n + 1
    return doc_id


@contextlib.contextmanager
def _using(store: Store | None, settings: Settings) -> Iterator[Store]:
    """The caller's store as it is, or one opened for this call and closed after it (its connection released)."""
    if store is not None:
        yield store
        return
    with contextlib.closing(open_store(settings)) as opened:
        yield opened


def ingest(
    paths: list[Path],
    settings: Settings,
    embedder: Embedder,
    prune: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] = lambda msg: None,
    store: Store | None = None,
) -> tuple[IngestReport, Index | None]:
    """Bring the index in line with the given files; the previous version stays until the new one is complete.

    `store` is the caller's open store (a server's); without one, the settings' store is opened for this call.
    """
    with _using(store, settings) as opened:
        return _ingest(opened, paths, settings, embedder, prune, rebuild, progress, log)


def _ingest(
    store: Store,
    paths: list[Path],
    settings: Settings,
    embedder: Embedder,
    prune: bool,
    rebuild: bool,
    progress: Progress | None,
    log: Callable[[str], None],
) -> tuple[IngestReport, Index | None]:
    started = time.perf_counter()
    report = IngestReport()
    with store.write_lock():
        existing, plan = _open_existing(store, rebuild, report, log)
        info = current_build_info(settings, embedder)
        # A rebuild embeds every document the index holds, whatever paths were given.
        stale = rebuild or (existing is not None and existing.build_info != info)
        # Files are read again when asked to, or when reading files has changed since (the old text stays otherwise).
        reread = rebuild or (existing is not None and existing.build_info.extraction_version != info.extraction_version)
        if stale:
            report.rebuilt = report.rebuilt or ("requested" if rebuild else "model, chunking or file reading changed")
            log(f"rebuilding all {len(plan.documents)} documents: {report.rebuilt}")
        files, errors = find_files(paths)
        report.failures.extend(errors)
        to_embed: dict[str, Document] = {}
        seen_sources: set[str] = set()
        for path in files:
            _plan_file(path, plan, to_embed, report, seen_sources, reread)
        if prune:
            _prune_missing(plan, report)
        if stale:
            for doc_id, doc in plan.documents.items():
                to_embed.setdefault(doc_id, doc)
            fresh = set(report.added) | set(report.updated)
            report.reembedded = [d for d in sorted(to_embed) if d not in fresh]
        # Documents indexed before units were stored get their unit vectors now (once): a store change, not a document change.
        keep_units = settings.index_unit_vectors
        stored_units = existing.documents_with_unit_vectors() if existing is not None else set()
        units_missing = [d for d in plan.documents if d not in to_embed and d not in stored_units] if keep_units else []
        # A FAISS index holding unit vectors the settings no longer want is written again without them.
        units_unwanted = not keep_units and existing is not None and existing.unit_vectors is not None
        if not report.changed and not units_missing and not units_unwanted and existing is not None:
            report.total_chunks = len(existing.chunks)
            report.seconds = time.perf_counter() - started
            return report, existing
        if not keep_units:
            plan.unit_vectors.clear()
        _embed_documents(to_embed, plan, settings, embedder, report, progress, units_missing if keep_units else None)
        # A rebuild, or a first ingest after a damaged index, writes every document again.
        full = stale or existing is None
        index = store.save(plan.commit(info, to_embed, report.removed, full))
    report.total_chunks = len(index.chunks)
    report.seconds = time.perf_counter() - started
    return report, index


def _plan_file(path: Path, plan: _Plan, to_embed: dict, report: IngestReport, seen: set[str], reread: bool = False) -> None:
    """Schedule a new or changed file; an unchanged one is not even parsed, unless `reread` (a rebuild)."""
    source = display_path(path)
    if source in seen:
        return
    seen.add(source)
    found = _ids_of_file(path, plan)
    doc_id = _doc_id_for(path, plan, found)
    # One file, one document: an index written before identity was by absolute path may hold it twice.
    for twin in found[1:]:
        report.removed.append(twin)
        _drop(plan, twin)
    known = plan.documents.get(doc_id)
    try:
        same = known is not None and file_digest(path) == known.sha256
        if same and not reread:
            report.unchanged.append(doc_id)
            return
        doc = load_document(path, doc_id=doc_id)
    except DocumentError as exc:
        report.failures.append(exc)
        return
    except Exception as exc:  # noqa: BLE001 - a parser bug on one user file must not abort the whole ingest
        detail = " ".join(str(exc).split())[:200]
        report.failures.append(DocumentError(path, "read_failed", detail=f"{type(exc).__name__}: {detail}"))
        return
    if same:  # read again by a rebuild: the same file, re-embedded, not updated
        plan.documents[doc_id] = doc
        to_embed[doc_id] = doc
        return
    (report.updated if known is not None else report.added).append(doc_id)
    plan.documents[doc_id] = doc
    now = _now()
    plan.dates[doc_id] = {"added_at": plan.dates.get(doc_id, {}).get("added_at", now), "updated_at": now}
    to_embed[doc_id] = doc


def _file_of(doc: Document) -> Path:
    """The document's file by absolute path (its `source` is relative to the folder it was ingested from)."""
    return Path(doc.metadata["path"]) if doc.metadata.get("path") else Path(doc.source).resolve()


def _ids_of_file(path: Path, plan: _Plan) -> list[str]:
    """The documents read from this file, whichever folder each ingest ran from."""
    resolved, shown = path.resolve(), display_path(path)
    found = []
    for doc_id, doc in plan.documents.items():
        known = _file_of(doc)
        # A project moved since: the file's old absolute path is gone, its path inside the project still names it.
        if known == resolved or (doc.source == shown and not known.exists()):
            found.append(doc_id)
    return found


def _prune_missing(plan: _Plan, report: IngestReport) -> None:
    """Drop documents whose file is gone: neither at its absolute path nor, for a moved project, at its path inside
    the project."""
    for doc_id, doc in list(plan.documents.items()):
        if not (_file_of(doc).exists() or Path(doc.source).exists()):
            report.removed.append(doc_id)
            _drop(plan, doc_id)


def _drop(plan: _Plan, doc_id: str) -> None:
    for part in (plan.documents, plan.chunks, plan.vectors, plan.dates, plan.unit_vectors):
        part.pop(doc_id, None)


def _embed_documents(
    to_embed: dict[str, Document],
    plan: _Plan,
    settings: Settings,
    embedder: Embedder,
    report: IngestReport,
    progress: Progress | None,
    units_of: list[str] | None = None,
) -> None:
    """Chunk the new or changed documents and embed their chunks and units, reporting progress.

    `units_of` lists kept documents whose unit vectors are to be added; None: no unit vectors (the setting is off).
    """
    threads = _AdaptiveThreads() if settings.torch_threads == 0 else None  # chunking is its first measurement
    pending = {doc_id: chunk_with(settings, doc) for doc_id, doc in to_embed.items()}
    chunk_texts = {doc_id: [chunk_embedding_text(c) for c in chunks] for doc_id, chunks in pending.items()}
    unit_texts: dict[str, list[str]] = {}
    if units_of is not None:
        for doc_id in units_of:
            unit_texts[doc_id] = chunk_units_texts(plan.documents[doc_id], plan.chunks[doc_id])
        for doc_id, chunks in pending.items():
            unit_texts[doc_id] = chunk_units_texts(to_embed[doc_id], chunks)
    # Overlapping chunks share units: each distinct text is encoded once, and named by its document for progress.
    texts: dict[str, str] = {}
    for doc_id, some in [*chunk_texts.items(), *unit_texts.items()]:
        for text in some:
            texts.setdefault(text, doc_id)
    started = time.perf_counter()
    encoded = _encode_all(texts, settings, embedder, progress, threads)
    report.embed_seconds = time.perf_counter() - started
    for doc_id, chunks in pending.items():
        plan.chunks[doc_id] = chunks
        plan.vectors[doc_id] = _stacked(chunk_texts[doc_id], encoded, embedder.dim)
    for doc_id, some in unit_texts.items():
        plan.unit_vectors[doc_id] = _stacked(some, encoded, embedder.dim)
    report.chunks_embedded = sum(len(c) for c in pending.values())
    report.units_embedded = len(texts) - len({t for some in chunk_texts.values() for t in some})


def _stacked(texts: list[str], encoded: dict[str, np.ndarray], dim: int) -> np.ndarray:
    return np.stack([encoded[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)


def _encode_all(
    texts: dict[str, str], settings: Settings, embedder: Embedder, progress: Progress | None, threads: "_AdaptiveThreads | None"
) -> dict[str, np.ndarray]:
    """The vector of each text (mapped to the document progress names), in slices, longest first.

    All pending texts are embedded together: per-document calls would pad short batches and leave the encoder
    under-used (measured: 0.55x raw encode speed instead of ~1x). Sorted globally, a slice of a few batches pads
    no more than a large one, and progress comes every few seconds.
    """
    order = sorted(texts, key=len, reverse=True)
    out: dict[str, np.ndarray] = {}
    slice_size = max(1, settings.embed_batch_size * 4)
    if progress and order:
        progress(0, len(order), "")
    try:
        for begin in range(0, len(order), slice_size):
            if threads:
                threads.adjust()
            some = order[begin : begin + slice_size]
            out.update(zip(some, embedder.embed_passages(some)))
            if progress:
                progress(begin + len(some), len(order), texts[some[-1]])
    finally:
        if threads:
            threads.restore()
    return out


class _AdaptiveThreads:
    """torch threads follow the cores other processes leave free, never above what the embedder was loaded with.

    On 2 cores with another process busy on one, two threads embedded 6 chunks/s and one thread 15 (rag/cpu.py).
    """

    def __init__(self) -> None:
        import torch

        from rag.cpu import FreeCores

        self.torch = torch
        self.cap = self.current = torch.get_num_threads()
        self.cores = FreeCores()

    def adjust(self) -> None:
        wanted = min(self.cap, self.cores.free())
        if wanted != self.current:
            self.torch.set_num_threads(wanted)
            self.current = wanted

    def restore(self) -> None:
        if self.current != self.cap:
            self.torch.set_num_threads(self.cap)


def remove_documents(
    keys: list[str], settings: Settings, log: Callable[[str], None] = lambda msg: None, store: Store | None = None
) -> tuple[list[str], list[str], Index | None]:
    """Remove documents by id or source path; returns (removed ids, unknown keys, new index)."""
    with _using(store, settings) as opened:
        return _remove(opened, keys, log)


def _remove(store: Store, keys: list[str], log: Callable[[str], None]) -> tuple[list[str], list[str], Index | None]:
    with store.write_lock():
        index = store.load()
        if not index.lossless:
            _refuse_lossy(index)
        if index.note:
            log(f"warning: {index.note}")
        plan = _existing_plan(index)
        removed, unknown = [], []
        for key in keys:
            match = [d for d, doc in plan.documents.items() if key == d or doc.source in (key, display_path(Path(key)))]
            if not match:
                unknown.append(key)
            for doc_id in match:
                removed.append(doc_id)
                _drop(plan, doc_id)
        if not removed:
            return removed, unknown, index
        new_index = store.save(plan.commit(index.build_info, removed=removed))
        return removed, unknown, new_index
