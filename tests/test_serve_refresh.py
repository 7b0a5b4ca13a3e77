"""A running `rag serve` sees what other processes commit to its index, without reloading any model.

The app's state is built as load_parts builds it, around the session's embedder; no generation model is loaded
(questions are not answered here, only the pipeline they would use is inspected).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import pytest

import rag.embeddings
import rag.retrieval
import ui.state
from conftest import DEVELOPPEZ, FUTURISM, ROOT, sentences
from rag.index import CURRENT, load_index
from rag.ingest import ingest
from rag.retrieval import Retriever
from ui.app import api_documents
from ui.state import AppState

BEFORE = {DEVELOPPEZ, FUTURISM}


class NoGenerator:
    name = "none"

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def served(tmp_path, docs_index, embedder, monkeypatch):
    """An AppState serving a private copy of the docs/ index, as `rag serve` has it once loaded."""
    settings, _ = docs_index
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir, ignore=shutil.ignore_patterns(".lock"))
    served_settings = settings.resolved(index_dir=index_dir)
    state = AppState(served_settings)
    state.retriever = Retriever(load_index(index_dir), embedder, served_settings)
    state.generators["none"] = NoGenerator()
    state.watch_index()
    state.ready.set()

    def no_reload(*args, **kwargs):
        raise AssertionError("a model was loaded again")

    monkeypatch.setattr(rag.embeddings, "load_embedder", no_reload)
    monkeypatch.setattr(rag.retrieval, "load_embedder", no_reload)
    return state


def _count_loads(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = ui.state.load_index

    def counting(index_dir, *args, **kwargs):
        calls.append(str(index_dir))
        return real(index_dir, *args, **kwargs)

    monkeypatch.setattr(ui.state, "load_index", counting)
    return calls


def _add_document(state: AppState, tmp_path, embedder, stem: str = "verger") -> None:
    """Another writer (not the app) commits a new version with one more document."""
    path = tmp_path / f"{stem}.txt"
    path.write_text(f"Le dossier {stem}\n{sentences(stem, 10)}\n", encoding="utf-8")
    report, _ = ingest([path], state.settings.resolved(), embedder)
    assert report.added == [stem]


def test_a_document_ingested_elsewhere_is_served_before_the_next_answer(served, tmp_path, embedder, monkeypatch):
    loads = _count_loads(monkeypatch)
    old_version = served.retriever.index.version_dir.name
    assert {d["doc_id"] for d in api_documents(served)} == BEFORE
    assert loads == []  # nothing changed: a stat of CURRENT, no load

    _add_document(served, tmp_path, embedder)
    pipeline = served.pipeline(None, 4, True)
    assert set(pipeline.retriever.index.documents) == BEFORE | {"verger"}
    assert pipeline.retriever.index.version_dir.name != old_version
    assert pipeline.retriever.embedder is embedder  # the loaded embedder is reused
    # What the first answer's check reads was computed at the swap, not left to that answer.
    assert "names_across_languages" in vars(pipeline.retriever)
    assert any(h.chunk.doc_id == "verger" for h in pipeline.retriever.search("Que décrit le dossier verger ?"))
    assert {d["doc_id"] for d in api_documents(served)} == BEFORE | {"verger"}
    assert "3 documents" in served.status("en")
    assert len(loads) == 1
    served.pipeline(None, 4, True)
    api_documents(served)
    assert len(loads) == 1  # and not again while CURRENT stays the same


def test_a_document_removed_by_another_process_is_no_longer_served(served):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "--index", str(served.settings.index_dir), "remove", FUTURISM],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert set(served.pipeline(None, 4, True).retriever.index.documents) == {DEVELOPPEZ}
    assert {d["doc_id"] for d in api_documents(served)} == {DEVELOPPEZ}


def test_many_concurrent_requests_load_a_new_version_once(served, tmp_path, embedder, monkeypatch):
    loads = _count_loads(monkeypatch)
    _add_document(served, tmp_path, embedder)
    seen: list[set[str]] = []
    start = threading.Barrier(8)

    def request() -> None:
        start.wait()
        seen.append(set(served.pipeline(None, 4, True).retriever.index.documents))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert seen == [BEFORE | {"verger"}] * 8


def test_a_damaged_commit_leaves_the_loaded_index_in_service(served, tmp_path, embedder, capsys):
    version = served.retriever.index.version_dir.name
    (served.settings.index_dir / CURRENT).write_bytes(b"\x00\xff garbage")
    # CURRENT changed, but it names nothing new: the loaded index stays, no error reaches the user.
    assert served.pipeline(None, 4, True).retriever.index.version_dir.name == version
    _add_document(served, tmp_path, embedder, "cidre")  # a later good commit is picked up
    assert "cidre" in served.pipeline(None, 4, True).retriever.index.documents


def test_an_uploaded_document_s_index_is_ready_before_it_is_served(served, tmp_path):
    """The upload swaps in a retriever that has already found its names across languages: the next answer's check
    does not pay for them."""
    from ui.app import upload

    served.settings = served.settings.resolved(uploads_dir=tmp_path / "uploads")  # not the working folder's
    path = tmp_path / "poire.txt"
    path.write_text(f"Le dossier poire\n{sentences('poire', 10)}\n", encoding="utf-8")
    before = served.retriever
    added, *_ = upload(served, [str(path)], progress=lambda *a, **k: None)
    assert "poire" in added
    assert served.retriever is not before and "poire" in served.retriever.index.documents
    assert "names_across_languages" in vars(served.retriever)
