"""Index persistence: atomic versions, crash safety, corruption and mismatch detection."""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import bm25s
import numpy as np
import pytest

import rag.index
from rag.index import (
    CURRENT,
    MANIFEST,
    IndexCorrupt,
    IndexMismatch,
    IndexMissing,
    index_exists,
    load_index,
)
from rag.ingest import ingest


class SimulatedCrash(RuntimeError):
    pass


@pytest.fixture
def built(small_docs, settings, embedder):
    """An index of two small documents; returns (paths, settings, index)."""
    paths = small_docs(alpha=8, beta=8)
    report, index = ingest(list(paths.values()), settings, embedder)
    assert sorted(report.added) == ["alpha", "beta"]
    return paths, settings, index


def snapshot(index) -> list[tuple[str, str, int, int]]:
    return [(c.chunk_id, c.text, c.start, c.end) for c in index.chunks]


def versions(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("v-"))


def temps(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-"))


# ---------------------------------------------------------------- layout


def test_layout_one_version_with_manifest_and_checksums(built):
    _, settings, index = built
    index_dir = settings.index_dir
    assert (index_dir / CURRENT).read_text() == index.version_dir.name
    assert versions(index_dir) == [index.version_dir.name]
    manifest = json.loads((index.version_dir / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["n_chunks"] == len(index.chunks) >= 4
    assert set(manifest["documents"]) == {"alpha", "beta"}
    assert manifest["chunking"] == {"min_words": 60, "max_words": 100, "overlap_sentences": 1}
    assert manifest["model"]["name"] == "multilingual-e5-small" and manifest["model"]["dim"] == 384
    assert manifest["dense"]["kind"] == "flat"
    for name in ("vectors.npy", "unit_vectors.npy", "documents.json", "chunks.json"):
        assert name in manifest["files"]
    assert any(name.startswith("bm25/") for name in manifest["files"])


def test_load_gives_back_what_was_saved(built):
    _, settings, index = built
    loaded = load_index(settings.index_dir)
    assert loaded.version_dir == index.version_dir
    assert snapshot(loaded) == snapshot(index)
    assert np.array_equal(np.asarray(loaded.vectors), np.asarray(index.vectors))
    assert np.array_equal(np.asarray(loaded.unit_vectors), np.asarray(index.unit_vectors))
    assert loaded.documents == index.documents
    assert loaded.dense.ntotal == len(index.chunks)
    # Offsets survive the round trip: each chunk is its document's text at its offsets.
    for chunk in loaded.chunks:
        assert loaded.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text


def test_missing_index(tmp_path):
    assert not index_exists(tmp_path / "nothing")
    with pytest.raises(IndexMissing, match="rag ingest"):
        load_index(tmp_path / "nothing")


# ---------------------------------------------------------------- crash in the middle of a write


def _crash_in_bm25_save(monkeypatch):
    real = bm25s.BM25.save

    def save(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)  # files are on disk, then the process "dies"
        raise SimulatedCrash("killed while saving bm25")

    monkeypatch.setattr(bm25s.BM25, "save", save)


def _crash_in_np_save(monkeypatch):
    def save(file, arr, *args, **kwargs):
        with open(file, "wb") as fh:  # half a file, then the crash
            fh.write(b"\x93NUMPY" + b"\0" * 10)
        raise SimulatedCrash("killed while saving vectors")

    monkeypatch.setattr(np, "save", save)


def _crash_writing_chunks(monkeypatch):
    real = rag.index._write_json

    def write_json(path, data):
        if Path(path).name == "chunks.json":
            Path(path).write_text('[{"chunk_id": "tru', encoding="utf-8")
            raise SimulatedCrash("killed while writing chunks.json")
        real(path, data)

    monkeypatch.setattr(rag.index, "_write_json", write_json)


def _crash_before_pointer_switch(monkeypatch):
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == CURRENT:
            raise SimulatedCrash("killed before CURRENT was switched")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(rag.index.os, "replace", replace)


def _crash_renaming_version(monkeypatch):
    real = os.rename

    def rename(src, dst, *args, **kwargs):
        if Path(src).name.startswith(".tmp-"):
            raise SimulatedCrash("killed while renaming the new version")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(rag.index.os, "rename", rename)


CRASHES = {
    "np.save": _crash_in_np_save,
    "bm25.save": _crash_in_bm25_save,
    "chunks.json": _crash_writing_chunks,
    "os.rename": _crash_renaming_version,
    "CURRENT": _crash_before_pointer_switch,
}


@pytest.mark.parametrize("where", list(CRASHES))
def test_crash_during_save_leaves_the_previous_index_usable(built, small_docs, embedder, monkeypatch, where):
    paths, settings, before = built
    old_version, old_chunks = before.version_dir, snapshot(before)
    new = small_docs(gamma=8)["gamma"]
    paths["alpha"].write_text("Titre modifié\n" + "Une phrase toute neuve sur le sujet modifié. " * 8, encoding="utf-8")

    CRASHES[where](monkeypatch)
    with pytest.raises(SimulatedCrash):
        ingest([*paths.values(), new], settings, embedder)
    monkeypatch.undo()

    # Debris of the interrupted write is on disk...
    debris = temps(settings.index_dir) + [v for v in versions(settings.index_dir) if v != old_version.name]
    assert debris, "the crash happened before anything was written: the test proves nothing"
    # ...but the previous index loads, checksums and all, with exactly the old chunks.
    assert (settings.index_dir / CURRENT).read_text() == old_version.name
    after = load_index(settings.index_dir)
    assert after.version_dir == old_version
    assert snapshot(after) == old_chunks
    assert set(after.documents) == {"alpha", "beta"}

    # The next successful save cleans the debris and keeps the previous version beside the new one.
    report, index = ingest([*paths.values(), new], settings, embedder)
    assert report.added == ["gamma"] and report.updated == ["alpha"]
    assert temps(settings.index_dir) == []
    assert versions(settings.index_dir) == [old_version.name, index.version_dir.name]
    assert load_index(settings.index_dir).version_dir == index.version_dir


def test_lock_is_released_after_a_crash(built, small_docs, embedder, monkeypatch):
    paths, settings, _ = built
    _crash_writing_chunks(monkeypatch)
    with pytest.raises(SimulatedCrash):
        ingest([small_docs(gamma=8)["gamma"]], settings, embedder)
    monkeypatch.undo()
    # A leaked lock would make the next writer wait forever: take it without waiting.
    with (settings.index_dir / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------- corruption and mismatch


def _truncate_vectors(version: Path) -> None:
    path = version / "vectors.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble_chunks(version: Path) -> None:
    path = version / "chunks.json"
    path.write_text(path.read_text(encoding="utf-8")[:-40] + "#garbage", encoding="utf-8")


def _delete_bm25(version: Path) -> None:
    for file in (version / "bm25").iterdir():
        file.unlink()


def _garble_manifest(version: Path) -> None:
    (version / MANIFEST).write_text("{", encoding="utf-8")


CORRUPTIONS = {
    "truncated vectors.npy": _truncate_vectors,
    "garbled chunks.json": _garble_chunks,
    "deleted bm25": _delete_bm25,
    "garbled manifest": _garble_manifest,
}


@pytest.mark.parametrize("damage", list(CORRUPTIONS))
def test_corrupt_index_is_detected_with_the_rebuild_command(built, embedder, damage):
    paths, settings, index = built
    CORRUPTIONS[damage](index.version_dir)
    with pytest.raises(IndexCorrupt) as caught:
        load_index(settings.index_dir)
    assert "rag ingest --rebuild" in str(caught.value)
    assert str(settings.index_dir) in str(caught.value)
    # A plain ingest refuses to build on top of it...
    with pytest.raises(IndexCorrupt):
        ingest(list(paths.values()), settings, embedder)
    # ...a rebuild recovers, from the documents the index stored (their files are not even needed).
    for path in paths.values():
        path.unlink()
    report, rebuilt = ingest([], settings, embedder, rebuild=True)
    assert report.rebuilt.startswith("previous index unreadable; 2 documents recovered from v-")
    assert sorted(report.reembedded) == ["alpha", "beta"] and report.errors == [] and report.removed == []
    loaded = load_index(settings.index_dir)
    assert snapshot(loaded) == snapshot(index)
    assert np.allclose(np.asarray(loaded.vectors), np.asarray(index.vectors), atol=1e-5)


def test_garbled_chunks_detected_even_without_checksums(built):
    _, settings, index = built
    _garble_chunks(index.version_dir)
    with pytest.raises(IndexCorrupt, match="rag ingest --rebuild"):
        load_index(settings.index_dir, verify=False)


def test_vectors_and_chunks_of_different_length_are_detected(built):
    _, settings, index = built
    np.save(index.version_dir / "vectors.npy", np.asarray(index.vectors)[:-1])
    with pytest.raises(IndexCorrupt, match="chunks and vectors differ.*rag ingest --rebuild"):
        load_index(settings.index_dir, verify=False)


def test_units_and_their_vectors_of_different_length_are_detected(built):
    _, settings, index = built
    np.save(index.version_dir / "unit_vectors.npy", np.asarray(index.unit_vectors)[:-1])
    with pytest.raises(IndexCorrupt, match="units and their vectors differ.*rag ingest --rebuild"):
        load_index(settings.index_dir, verify=False)


def test_other_format_version_is_a_mismatch(built):
    _, settings, index = built
    path = index.version_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format"] = 999
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="rag ingest --rebuild"):
        load_index(settings.index_dir)


# ---------------------------------------------------------------- a damaged CURRENT pointer


def _only_version(index_dir: Path) -> str:
    (name,) = versions(index_dir)
    return name


POINTERS = {
    "binary": b"\x00\xff\xfe\x81\x9c binary",
    "empty": b"",
    "whitespace": b"  \n\t",
    "text that names no version": b"hello, world\n",
    "dangling": b"v-20200101T000000000000",
    "path outside the index": b"../../etc",
    "utf-16": "v-20200101T000000000000".encode("utf-16"),
}


@pytest.mark.parametrize("content", list(POINTERS))
def test_bad_pointer_falls_back_to_the_newest_intact_version(built, content):
    _, settings, index = built
    (settings.index_dir / CURRENT).write_bytes(POINTERS[content])
    loaded = load_index(settings.index_dir)
    assert loaded.version_dir == index.version_dir
    assert snapshot(loaded) == snapshot(index) and set(loaded.documents) == {"alpha", "beta"}
    assert loaded.note and "\n" not in loaded.note and CURRENT in loaded.note and index.version_dir.name in loaded.note
    assert loaded.lossless


def test_missing_pointer_with_a_version_left_falls_back(built):
    _, settings, index = built
    (settings.index_dir / CURRENT).unlink()
    loaded = load_index(settings.index_dir)
    assert loaded.version_dir == index.version_dir and "missing" in loaded.note


def test_pointer_to_a_damaged_version_falls_back_to_the_previous_one(built, small_docs, embedder):
    paths, settings, first = built
    _, second = ingest([small_docs(gamma=8)["gamma"]], settings, embedder)
    _truncate_vectors(second.version_dir)
    loaded = load_index(settings.index_dir)
    assert loaded.version_dir == first.version_dir and set(loaded.documents) == {"alpha", "beta"}
    assert second.version_dir.name in loaded.note and "rag ingest --rebuild" in loaded.note
    assert not loaded.lossless  # a newer version holds documents this one lacks: writers must not build on it
    with pytest.raises(IndexCorrupt, match="rag ingest --rebuild"):
        ingest([paths["alpha"]], settings, embedder)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe garbage"])
def test_bad_pointer_with_no_version_left_advises_an_ingest_that_works(tmp_path, small_docs, settings, embedder, content):
    settings.index_dir.mkdir(parents=True)
    (settings.index_dir / CURRENT).write_bytes(content)
    with pytest.raises(IndexMissing, match="build it with `rag ingest`"):
        load_index(settings.index_dir)
    report, index = ingest(list(small_docs(alpha=8).values()), settings, embedder)
    assert report.added == ["alpha"]
    assert load_index(settings.index_dir).version_dir == index.version_dir


# ---------------------------------------------------------------- superseded versions stay for readers


def test_previous_versions_stay_until_the_grace_period_is_over(built, small_docs, settings_factory, embedder):
    paths, settings, first = built
    _, second = ingest([small_docs(gamma=8)["gamma"]], settings, embedder)
    assert versions(settings.index_dir) == [first.version_dir.name, second.version_dir.name]
    _, third = ingest([small_docs(delta=8)["delta"]], settings, embedder)
    # The default grace period keeps the first one too: a reader may still be loading it.
    assert versions(settings.index_dir) == [first.version_dir.name, second.version_dir.name, third.version_dir.name]
    impatient = settings_factory(settings.index_dir, index_grace_seconds=0)
    _, fourth = ingest([small_docs(epsilon=8)["epsilon"]], impatient, embedder)
    # Past the grace period, only the last two versions are kept.
    assert versions(settings.index_dir) == [third.version_dir.name, fourth.version_dir.name]
    assert load_index(settings.index_dir).version_dir == fourth.version_dir


_WRITER = r"""
import sys, time
from pathlib import Path
import numpy as np
from rag.types import Chunk, Document, Unit
from rag.index import BuildInfo, DenseParams, Retention, save_index

index_dir, commits, keep, grace = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
info = BuildInfo("fake", "fake", 8, {"min_words": 60, "max_words": 100, "overlap_sentences": 1})
rng = np.random.default_rng(0)
for n in range(commits):
    docs, chunks = [], []
    for d in range(n % 3 + 1):
        text = f"Le document {d} de la version {n} parle de pommes. " * 20
        docs.append(Document(f"doc{d}", f"doc{d}.txt", f"Doc {d}", text, "x"))
        chunks.append(Chunk(f"doc{d}#0", f"doc{d}", 0, 0, len(text), text, "article", (Unit(0, len(text), "paragraph", "fr"),)))
    vectors = rng.standard_normal((len(chunks), 8)).astype(np.float32)
    save_index(index_dir, docs, chunks, vectors, info, DenseParams(), retention=Retention(keep, grace))
    print(n, flush=True)
    # A breath between commits: on a loaded machine back-to-back commits could all fall within one load, and
    # the reader would then see only the first and last versions (seen once in a fresh-clone run: 2 of 41).
    time.sleep(0.02)
"""


@pytest.mark.parametrize("keep, grace", [(2, 300.0), (1, 0.0)], ids=["default retention", "previous version deleted at once"])
def test_a_reader_racing_a_committing_writer_process_never_fails(tmp_path, keep, grace):
    """A writer process commits over and over while this one loads: every load succeeds.

    The default retention keeps the versions a reader may be loading. With none (the previous version deleted
    right after the switch, as before), versions vanish under the reader: it notices that CURRENT moved and
    reads it again.
    """
    import subprocess
    import sys

    index_dir = tmp_path / "index"
    commits = 40
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    args = [str(keep), str(grace)]
    subprocess.run([sys.executable, "-c", _WRITER, str(index_dir), "1", *args], check=True, env=env, capture_output=True)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(index_dir), str(commits), *args], env=env, stdout=subprocess.PIPE, text=True)
    loads, failures, seen = 0, [], set()
    try:
        while writer.poll() is None:
            try:
                index = load_index(index_dir)
                seen.add(index.version_dir.name)
                assert not index.note, index.note
                assert len(index.chunks) == len(index.documents) == index.vectors.shape[0]
            except (IndexCorrupt, IndexMissing) as exc:
                failures.append(str(exc))
            loads += 1
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    print(f"keep {keep}, grace {grace} s: {loads} loads during {commits} commits, {len(seen)} versions seen, {len(failures)} failures")
    assert loads > commits and len(seen) > 2
    assert failures == []
