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
    for name in ("vectors.npy", "documents.json", "chunks.json"):
        assert name in manifest["files"]
    assert any(name.startswith("bm25/") for name in manifest["files"])


def test_load_gives_back_what_was_saved(built):
    _, settings, index = built
    loaded = load_index(settings.index_dir)
    assert loaded.version_dir == index.version_dir
    assert snapshot(loaded) == snapshot(index)
    assert np.array_equal(np.asarray(loaded.vectors), np.asarray(index.vectors))
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

    # The next successful save cleans the debris and keeps one version.
    report, index = ingest([*paths.values(), new], settings, embedder)
    assert report.added == ["gamma"] and report.updated == ["alpha"]
    assert temps(settings.index_dir) == []
    assert versions(settings.index_dir) == [index.version_dir.name]
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


def _dangling_pointer(version: Path) -> None:
    (version.parent / CURRENT).write_text("v-does-not-exist")


CORRUPTIONS = {
    "truncated vectors.npy": _truncate_vectors,
    "garbled chunks.json": _garble_chunks,
    "deleted bm25": _delete_bm25,
    "garbled manifest": _garble_manifest,
    "dangling CURRENT": _dangling_pointer,
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
    # ...a rebuild recovers.
    report, rebuilt = ingest(list(paths.values()), settings, embedder, rebuild=True)
    assert report.rebuilt == "previous index unreadable"
    assert sorted(report.added) == ["alpha", "beta"]
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


def test_other_format_version_is_a_mismatch(built):
    _, settings, index = built
    path = index.version_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format"] = 999
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="rag ingest --rebuild"):
        load_index(settings.index_dir)
