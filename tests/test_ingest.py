"""Incremental ingest, pruning, removal, settings changes and bad files in a batch."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from rag.index import load_index
from rag.ingest import ingest, remove_documents


def rows(index, doc_id: str) -> list[tuple[str, str]]:
    return [(c.chunk_id, c.text) for c in index.chunks if c.doc_id == doc_id]


def vectors_of(index, doc_id: str) -> np.ndarray:
    return np.asarray(index.vectors[index.rows_of(doc_id)])


# ---------------------------------------------------------------- incremental


def test_second_ingest_changes_nothing(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    first, index1 = ingest(list(paths.values()), settings, embedder)
    assert sorted(first.added) == ["alpha", "beta"]
    assert first.chunks_embedded == first.total_chunks == len(index1.chunks) >= 4

    second, index2 = ingest(list(paths.values()), settings, embedder)
    assert sorted(second.unchanged) == ["alpha", "beta"]
    assert second.added == second.updated == second.removed == second.errors == []
    assert second.chunks_embedded == 0
    assert not second.changed and second.rebuilt == ""
    assert second.total_chunks == len(index1.chunks)
    assert index2.version_dir == index1.version_dir
    assert load_index(settings.index_dir).version_dir == index1.version_dir


def test_modified_file_is_the_only_one_embedded_again(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    _, before = ingest(list(paths.values()), settings, embedder)
    assert any("alpha" in text for _, text in rows(before, "alpha"))

    paths["alpha"].write_text(
        "Titre du dossier alpha\n" + " ".join(f"La version nouvelle traite du point {i} en détail." for i in range(12)) + "\n",
        encoding="utf-8",
    )
    report, after = ingest(list(paths.values()), settings, embedder)
    assert report.updated == ["alpha"] and report.unchanged == ["beta"] and report.added == []
    new_alpha = [c for c in after.chunks if c.doc_id == "alpha"]
    assert report.chunks_embedded == len(new_alpha)
    assert report.total_chunks == len(after.chunks)
    assert after.version_dir != before.version_dir
    # The old chunks of alpha are gone: no stale text survives, only the new version.
    assert not any("mesure numéro" in c.text for c in new_alpha)
    assert all("version nouvelle" in c.text for c in new_alpha)
    assert after.documents["alpha"].text.startswith("Titre du dossier alpha\nLa version nouvelle")
    # beta was neither re-read nor re-embedded: same chunks, bit-identical vectors.
    assert rows(after, "beta") == rows(before, "beta")
    assert np.array_equal(vectors_of(after, "beta"), vectors_of(before, "beta"))
    # Every vector is still the embedding of its own chunk.
    loaded = load_index(settings.index_dir)
    fresh = embedder.embed_passages([c.text for c in loaded.chunks])
    assert np.allclose(np.asarray(loaded.vectors), fresh, atol=1e-4)


def test_metadata_change_updates_the_document(small_docs, settings, embedder):
    paths = small_docs(alpha=8)
    ingest(list(paths.values()), settings, embedder)
    (paths["alpha"].parent / "sources.json").write_text(
        json.dumps([{"file": "alpha.txt", "title": "Le titre officiel", "publisher": "Moi"}]), encoding="utf-8"
    )
    report, index = ingest(list(paths.values()), settings, embedder)
    assert report.updated == ["alpha"]
    assert index.documents["alpha"].title == "Le titre officiel"
    assert index.manifest["documents"]["alpha"]["title"] == "Le titre officiel"


def test_new_file_is_added_without_touching_the_others(small_docs, settings, embedder):
    paths = small_docs(alpha=8)
    _, before = ingest([paths["alpha"].parent], settings, embedder)
    small_docs(beta=8)
    report, after = ingest([paths["alpha"].parent], settings, embedder)
    assert report.added == ["beta"] and report.unchanged == ["alpha"]
    assert report.chunks_embedded == len(rows(after, "beta"))
    assert rows(after, "alpha") == rows(before, "alpha")


def test_the_same_files_from_another_working_folder_are_the_same_documents(tmp_path, small_docs, settings, embedder, monkeypatch):
    """`rag ingest docs` in the project, then `rag ingest ../docs` from a subfolder: nothing is added twice."""
    paths = small_docs(alpha=8, beta=8)
    folder = paths["alpha"].parent
    monkeypatch.chdir(folder.parent)
    first, index1 = ingest([Path(folder.name)], settings, embedder)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    second, index2 = ingest([folder], settings, embedder, prune=True)
    assert sorted(second.unchanged) == ["alpha", "beta"] and second.added == second.removed == []
    assert len(index2.chunks) == len(index1.chunks)


def test_a_moved_project_keeps_its_documents(tmp_path, small_docs, settings, embedder, monkeypatch):
    """The project folder renamed: its files are the same documents, and pruning does not drop them."""
    paths = small_docs(alpha=8, beta=8)
    folder = paths["alpha"].parent
    old = tmp_path / "project"
    old.mkdir()
    folder.rename(old / folder.name)
    monkeypatch.chdir(old)
    ingest([Path(folder.name)], settings, embedder)
    new = tmp_path / "moved"
    old.rename(new)
    monkeypatch.chdir(new)
    report, index = ingest([Path(folder.name)], settings, embedder, prune=True)
    assert sorted(report.unchanged) == ["alpha", "beta"] and report.added == report.removed == []
    assert set(index.documents) == {"alpha", "beta"}


def test_deleted_file_stays_without_prune_and_goes_with_prune(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    folder = paths["alpha"].parent
    ingest([folder], settings, embedder)
    paths["beta"].unlink()

    kept, index = ingest([folder], settings, embedder)
    assert kept.removed == [] and "beta" in index.documents

    pruned, index = ingest([folder], settings, embedder, prune=True)
    assert pruned.removed == ["beta"] and pruned.unchanged == ["alpha"]
    assert pruned.chunks_embedded == 0
    assert set(index.documents) == {"alpha"}
    assert {c.doc_id for c in load_index(settings.index_dir).chunks} == {"alpha"}
    assert "beta" not in index.manifest["documents"]


def test_same_file_name_in_two_folders_gets_two_ids(tmp_path, settings, embedder):
    for sub in ("un", "deux"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "note.txt").write_text(f"Note {sub}\nLe contenu propre au dossier {sub}.\n", encoding="utf-8")
    report, index = ingest([tmp_path / "un", tmp_path / "deux"], settings, embedder)
    assert sorted(report.added) == ["note", "note-2"]
    report, index = ingest([tmp_path / "un", tmp_path / "deux"], settings, embedder)
    assert sorted(report.unchanged) == ["note", "note-2"]


def units_of(index, doc_id: str) -> np.ndarray:
    return np.concatenate([index.stored_unit_vectors(c.chunk_id) for c in index.chunks if c.doc_id == doc_id])


def test_the_units_are_embedded_at_ingest_and_carried_over(small_docs, settings, embedder):
    """Each unit's vector is stored as question time would encode it; an unchanged document keeps its own."""
    from rag.chunking import chunk_units_texts

    paths = small_docs(alpha=8, beta=8)
    first, before = ingest(list(paths.values()), settings, embedder)
    assert before.unit_vectors is not None and len(before.unit_vectors) == sum(len(c.units) for c in before.chunks)
    assert 0 < first.units_embedded <= len(before.unit_vectors)  # overlapping chunks share units: encoded once
    alpha = [c for c in before.chunks if c.doc_id == "alpha"]
    expected = embedder.embed_units(chunk_units_texts(before.documents["alpha"], alpha))
    assert np.abs(units_of(before, "alpha") - expected).max() < 1e-4

    paths["alpha"].write_text("Titre alpha\n" + " ".join(f"Le point {i} change." for i in range(12)) + "\n", encoding="utf-8")
    report, after = ingest(list(paths.values()), settings, embedder)
    assert report.updated == ["alpha"]
    assert np.array_equal(units_of(after, "beta"), units_of(before, "beta"))
    assert np.array_equal(units_of(load_index(settings.index_dir), "alpha"), units_of(after, "alpha"))


def test_an_index_without_unit_vectors_answers_and_the_next_ingest_adds_them(small_docs, settings, embedder):
    """An index written before units were stored still loads (its units are encoded at question time), and a
    plain ingest with no changed file stores them."""
    from rag import context as ctx
    from rag.retrieval import Retriever

    paths = small_docs(alpha=8, beta=8)
    _, built = ingest(list(paths.values()), settings, embedder)
    (built.version_dir / "unit_vectors.npy").unlink()
    manifest_path = built.version_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]["unit_vectors.npy"]
    manifest_path.write_text(json.dumps(manifest))
    old = load_index(settings.index_dir)
    assert old.unit_vectors is None and old.stored_unit_vectors(old.chunks[0].chunk_id) is None
    cands = ctx.candidates(Retriever(old, embedder, settings).search("alpha point", k=2))
    encoded = ctx.unit_vectors(cands, old, embedder)
    assert encoded.shape == (len(cands), embedder.dim)

    report, upgraded = ingest(list(paths.values()), settings, embedder)
    assert report.chunks_embedded == 0 and report.units_embedded > 0
    assert upgraded.version_dir != old.version_dir and upgraded.unit_vectors is not None
    stored = ctx.unit_vectors(cands, load_index(settings.index_dir), embedder)
    assert np.abs(stored - encoded).max() < 1e-4
    again, _ = ingest(list(paths.values()), settings, embedder)
    assert not again.changed and again.units_embedded == 0


def test_the_unit_vectors_follow_the_setting(small_docs, settings_factory, index_dir, embedder):
    paths = list(small_docs(alpha=8, beta=8).values())
    report, without = ingest(paths, settings_factory(index_dir, index_unit_vectors=False), embedder)
    assert report.units_embedded == 0 and without.unit_vectors is None
    assert not (without.version_dir / "unit_vectors.npy").exists()
    report, with_units = ingest(paths, settings_factory(index_dir), embedder)
    assert report.chunks_embedded == 0 and report.units_embedded > 0 and with_units.unit_vectors is not None
    report, dropped = ingest(paths, settings_factory(index_dir, index_unit_vectors=False), embedder)
    assert report.units_embedded == 0 and dropped.unit_vectors is None and load_index(index_dir).unit_vectors is None


# ---------------------------------------------------------------- remove


def test_remove_by_id_and_by_path(tmp_path, small_docs, settings, embedder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small_docs(alpha=8, beta=8, gamma=8)
    ingest([Path("small")], settings, embedder)

    removed, unknown, index = remove_documents(["beta"], settings)
    assert (removed, unknown) == (["beta"], [])
    assert set(index.documents) == {"alpha", "gamma"}

    # By the path it was ingested with, and by an equivalent spelling of it.
    removed, unknown, index = remove_documents(["./small/gamma.txt"], settings)
    assert (removed, unknown) == (["gamma"], [])
    removed, unknown, index = remove_documents([str(tmp_path / "small" / "alpha.txt")], settings)
    assert (removed, unknown) == (["alpha"], [])
    loaded = load_index(settings.index_dir)
    assert loaded.documents == {} and loaded.chunks == [] and loaded.vectors.shape == (0, 384)


def test_remove_unknown_changes_nothing(small_docs, settings, embedder):
    paths = small_docs(alpha=8)
    _, before = ingest(list(paths.values()), settings, embedder)
    removed, unknown, index = remove_documents(["nope", "small/nope.txt"], settings)
    assert removed == [] and unknown == ["nope", "small/nope.txt"]
    assert index.version_dir == before.version_dir == load_index(settings.index_dir).version_dir


def test_removed_document_is_added_again_as_new(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    ingest(list(paths.values()), settings, embedder)
    remove_documents(["alpha"], settings)
    report, index = ingest(list(paths.values()), settings, embedder)
    assert report.added == ["alpha"] and report.unchanged == ["beta"]
    assert set(index.documents) == {"alpha", "beta"}


# ---------------------------------------------------------------- settings change


@pytest.mark.parametrize(
    "change, recorded",
    [
        ({"chunk_max_words": 40, "chunk_min_words": 20}, {"min_words": 20, "max_words": 40, "overlap_sentences": 1}),
        ({"chunk_overlap_sentences": 0}, {"min_words": 60, "max_words": 100, "overlap_sentences": 0}),
    ],
)
def test_chunk_settings_change_triggers_a_rebuild(small_docs, settings_factory, index_dir, embedder, change, recorded):
    paths = small_docs(alpha=12, beta=12)
    _, before = ingest(list(paths.values()), settings_factory(index_dir), embedder)

    changed = settings_factory(index_dir, **change)
    report, after = ingest(list(paths.values()), changed, embedder)
    assert report.rebuilt == "model, chunking or file reading changed"
    assert report.chunks_embedded == report.total_chunks == len(after.chunks)
    manifest = load_index(index_dir).manifest
    assert manifest["chunking"] == recorded
    assert after.build_info.chunking == recorded
    expected = {d: doc for d, doc in after.documents.items()}
    from rag.chunking import chunk_document

    for doc_id, doc in expected.items():
        fresh = chunk_document(doc, recorded["min_words"], recorded["max_words"], recorded["overlap_sentences"])
        assert rows(after, doc_id) == [(c.chunk_id, c.text) for c in fresh]
    assert [c.text for c in after.chunks] != [c.text for c in before.chunks]

    # Ingesting again with the same new settings is a no-op.
    again, same = ingest(list(paths.values()), changed, embedder)
    assert again.rebuilt == "" and again.chunks_embedded == 0 and same.version_dir == after.version_dir


def test_an_index_built_by_an_older_analyzer_is_rebuilt(small_docs, settings_factory, index_dir, embedder, monkeypatch):
    import rag.index

    paths = small_docs(alpha=8)
    ingest(list(paths.values()), settings_factory(index_dir), embedder)
    monkeypatch.setattr(rag.index, "ANALYZER_VERSION", rag.index.ANALYZER_VERSION + 1)
    report, index = ingest(list(paths.values()), settings_factory(index_dir), embedder)
    assert report.rebuilt and index.manifest["bm25_analyzer"] == rag.index.ANALYZER_VERSION


def test_files_are_read_again_when_reading_files_changed(small_docs, settings_factory, index_dir, embedder, monkeypatch):
    """A new way of reading files (languages by paragraph) reaches an index of unchanged files: each is read again
    and re-embedded, not counted as updated; a plain ingest after that reads nothing."""
    import rag.documents
    import rag.index

    paths = small_docs(alpha=8, beta=8)
    ingest(list(paths.values()), settings_factory(index_dir), embedder)
    read = []
    original = rag.documents.load_document
    monkeypatch.setattr("rag.ingest.load_document", lambda path, doc_id=None: read.append(doc_id) or original(path, doc_id=doc_id))
    monkeypatch.setattr(rag.index, "EXTRACTION_VERSION", rag.index.EXTRACTION_VERSION + 1)
    report, index = ingest(list(paths.values()), settings_factory(index_dir), embedder)
    assert sorted(read) == ["alpha", "beta"] and report.reembedded == ["alpha", "beta"] and not report.updated
    assert index.manifest["extraction"] == rag.index.EXTRACTION_VERSION
    read.clear()
    again, _ = ingest(list(paths.values()), settings_factory(index_dir), embedder)
    assert not read and again.unchanged == ["alpha", "beta"] and not again.rebuilt


def test_explicit_rebuild_reembeds_everything(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    _, before = ingest(list(paths.values()), settings, embedder)
    report, after = ingest(list(paths.values()), settings, embedder, rebuild=True)
    assert report.rebuilt == "requested"
    assert report.chunks_embedded == len(before.chunks)
    assert after.version_dir != before.version_dir
    assert report.reembedded == ["alpha", "beta"] and report.summary().startswith("rebuilt (requested); 2 re-embedded, 0 added")


def _point_nowhere(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_text("v-20200101T000000000000")


def _binary_pointer(index_dir: Path) -> None:
    (index_dir / "CURRENT").write_bytes(b"\x00\xff\xfe\x81")


@pytest.mark.parametrize("damage", [_point_nowhere, _binary_pointer], ids=["dangling pointer", "binary pointer"])
def test_rebuild_with_a_bad_pointer_keeps_every_document(small_docs, settings, embedder, damage):
    """`rag ingest --rebuild PATH` after damage re-embeds all that was indexed, not only PATH; nothing is deleted."""
    paths = small_docs(alpha=8, beta=8, gamma=8)
    _, before = ingest(list(paths.values()), settings, embedder)
    damage(settings.index_dir)
    logged: list[str] = []
    report, after = ingest([paths["alpha"]], settings, embedder, rebuild=True, log=logged.append)
    assert set(after.documents) == {"alpha", "beta", "gamma"}
    assert report.removed == [] and report.errors == [] and report.unchanged == []  # alpha's file is read again
    assert report.reembedded == ["alpha", "beta", "gamma"] and report.chunks_embedded == len(before.chunks)
    assert any("using the newest intact version" in line for line in logged)
    loaded = load_index(settings.index_dir)
    assert not loaded.note and loaded.version_dir == after.version_dir
    assert [c.text for c in loaded.chunks] == [c.text for c in before.chunks]
    # The intact previous version is still there for readers that had it.
    assert before.version_dir.is_dir()


def test_plain_ingest_repairs_a_bad_pointer(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    ingest(list(paths.values()), settings, embedder)
    _binary_pointer(settings.index_dir)
    report, after = ingest([paths["alpha"]], settings, embedder)
    assert report.repaired and report.chunks_embedded == 0 and report.unchanged == ["alpha"]
    assert report.summary().startswith("index pointer repaired; 0 added")
    loaded = load_index(settings.index_dir)
    assert not loaded.note and set(loaded.documents) == {"alpha", "beta"}


def test_rebuild_of_a_wrecked_index_reads_files_again_and_names_what_is_lost(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    _, before = ingest(list(paths.values()), settings, embedder)
    for name in ("documents.json", "vectors.npy"):
        (before.version_dir / name).write_bytes(b"\x00garbage")
    paths["beta"].unlink()
    report, after = ingest([], settings, embedder, rebuild=True)
    assert set(after.documents) == {"alpha"}
    assert report.rebuilt == "previous index unreadable; no stored documents readable, 1 read again from their files"
    assert len(report.errors) == 1 and report.errors[0].startswith("beta: lost with the damaged index")
    assert "\n" not in report.errors[0]


# ---------------------------------------------------------------- bad files in a batch


def _bad_batch(folder: Path, make_pdf) -> dict[str, Path]:
    folder.mkdir()
    bad = {
        "empty": folder / "empty.txt",
        "binary": folder / "binary.txt",
        "noise": folder / "noise.txt",
        "corrupt_pdf": folder / "corrupt.pdf",
        "unreadable": folder / "unreadable.txt",
        "missing": folder / "missing.md",
    }
    bad["empty"].write_bytes(b"")
    bad["binary"].write_bytes(b"\x7fELF\x02\x01\x01\x00" + random.Random(3).randbytes(3000))
    # Bytes in no recognisable encoding (Latin-1 and other legacy encodings are decoded, not refused).
    bad["noise"].write_bytes(bytes(random.Random(5).randrange(128, 256) for _ in range(2000)))
    bad["corrupt_pdf"].write_bytes(b"%PDF-1.7\n" + random.Random(4).randbytes(3000))
    bad["unreadable"].write_text("Texte protégé.\n", encoding="utf-8")
    (folder / "good.txt").write_text("Un bon document\n" + "Le bon document parle de pommes et de poires. " * 6 + "\n", encoding="utf-8")
    (folder / "report.pdf").write_bytes(make_pdf([["Le rapport PDF parle de cerises."]], title="Rapport"))
    return bad


def _make_unreadable(path: Path, monkeypatch) -> None:
    if os.geteuid() != 0:
        path.chmod(0)
        return
    real = Path.read_bytes

    def refuse(self):
        if self.resolve() == path.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)


def test_bad_files_each_give_one_error_and_the_rest_is_ingested(tmp_path, small_docs, settings, embedder, make_pdf, monkeypatch):
    before_paths = small_docs(alpha=8, beta=8)
    _, before = ingest(list(before_paths.values()), settings, embedder)

    folder = tmp_path / "batch"
    bad = _bad_batch(folder, make_pdf)
    _make_unreadable(bad["unreadable"], monkeypatch)
    report, index = ingest([folder, bad["missing"], *before_paths.values()], settings, embedder)

    assert sorted(report.added) == ["good", "report"]
    assert sorted(report.unchanged) == ["alpha", "beta"]
    assert len(report.errors) == len(bad)
    reasons = {
        "empty": "empty file",
        "binary": "binary content",
        "noise": "encoding could not be recognised",
        "corrupt_pdf": "corrupt or unreadable PDF",
        "unreadable": "permission denied",
        "missing": "no such file",
    }
    for kind, path in bad.items():
        lines = [e for e in report.errors if e.startswith(f"{path}: ")]
        assert len(lines) == 1, (kind, report.errors)
        assert reasons[kind] in lines[0]
        assert "\n" not in lines[0]
    # What was indexed before is still there, untouched; the good files are searchable text.
    assert set(index.documents) == {"alpha", "beta", "good", "report"}
    assert rows(index, "alpha") == rows(before, "alpha")
    assert np.array_equal(vectors_of(index, "beta"), vectors_of(before, "beta"))
    assert index.documents["report"].text == "Le rapport PDF parle de cerises."
    assert set(load_index(settings.index_dir).documents) == {"alpha", "beta", "good", "report"}


def test_indexed_file_that_turns_bad_keeps_its_previous_version(small_docs, settings, embedder):
    paths = small_docs(alpha=8, beta=8)
    _, before = ingest(list(paths.values()), settings, embedder)
    paths["alpha"].write_bytes(bytes(random.Random(6).randrange(128, 256) for _ in range(2000)))
    report, index = ingest(list(paths.values()), settings, embedder)
    assert report.errors == [
        f"{paths['alpha']}: not UTF-8, and its encoding could not be recognised with confidence; save it as UTF-8"
    ]
    assert report.updated == [] and report.unchanged == ["beta"]
    assert rows(index, "alpha") == rows(before, "alpha")
    assert index.version_dir == before.version_dir


def test_a_batch_of_only_bad_files_loses_nothing(tmp_path, small_docs, settings, embedder):
    paths = small_docs(alpha=8)
    _, before = ingest(list(paths.values()), settings, embedder)
    (tmp_path / "empty.txt").write_bytes(b"")
    report, index = ingest([tmp_path / "empty.txt", tmp_path / "nowhere"], settings, embedder)
    assert len(report.errors) == 2
    assert report.errors[0] == f"{tmp_path / 'nowhere'}: no such file or folder"
    assert report.errors[1] == f"{tmp_path / 'empty.txt'}: empty file"
    assert index.version_dir == before.version_dir
    assert set(load_index(settings.index_dir).documents) == {"alpha"}
