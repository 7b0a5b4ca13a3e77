"""kill -9 of `rag ingest` and `rag remove` at random moments (fixed seed): the index always loads, holds exactly
the old or the new set of documents, and a re-run completes the change.

Half of the ingest kills fall anywhere in a run (mostly while the model loads or embeds); the other half land
in the short write phase, right after the command says it is writing the index, where a kill is most likely to
leave something half-written. Each kill is followed by a check and a re-run (in-process, with the session's
embedder, so that the model is loaded once for the module).
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import DOCS, ROOT
from rag.chunking import sentence_spans
from rag.cli import main
from rag.index import load_index, version_names
from rag.ingest import ingest

pytestmark = pytest.mark.usefixtures("cli_models")

SEED = 20261202
N_OLD, N_NEW = 17, 3  # 20 files of 1.5-5 KB; a killed run has the 3 new ones to embed
INGEST_KILLS = 20
REMOVE_KILLS = 6


def _corpus_sentences() -> list[str]:
    sentences = []
    for path in sorted(DOCS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        sentences += [text[s:e] for s, e in sentence_spans(text) if len(text[s:e].split()) >= 6]
    return sentences


def _write_files(folder: Path, names: list[str], rng: random.Random, pool: list[str]) -> None:
    """Files of 14-26 sentences drawn from the shipped articles: real French text, different in each file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        body = " ".join(rng.sample(pool, rng.randint(14, 26)))
        (folder / f"{name}.txt").write_text(f"Note {name}\n{body}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, settings_factory, embedder):
    """(folder of the 20 files, pristine index of the 17 old ones, old ids, new ids)."""
    root = tmp_path_factory.mktemp("crash")
    rng = random.Random(SEED)
    pool = _corpus_sentences()
    old = [f"ancien-{i:02d}" for i in range(N_OLD)]
    new = [f"nouveau-{i:02d}" for i in range(N_NEW)]
    folder = root / "files"
    _write_files(folder, old, rng, pool)
    pristine = root / "pristine"
    report, _ = ingest([folder], settings_factory(pristine), embedder)
    assert sorted(report.added) == old
    _write_files(folder, new, rng, pool)
    assert all(1500 <= p.stat().st_size <= 5000 for p in folder.iterdir())
    return folder, pristine, set(old), set(old) | set(new)


def _fresh_copy(pristine: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(pristine, target, ignore=shutil.ignore_patterns(".lock"))
    return target


class Run:
    """`rag ARGS` in a child process, with the moment its stderr says it is writing the index."""

    def __init__(self, *argv: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_TORCH_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", *map(str, argv)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.writing = threading.Event()
        self.writing_at = 0.0
        self.stderr: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "writing the index" in line:
                self.writing_at = time.monotonic()
                self.writing.set()

    def kill(self) -> bool:
        """SIGKILL (no handler, no cleanup, like a power cut for this process); False if it had already exited."""
        alive = self.proc.poll() is None
        self.proc.kill()
        self.proc.wait()
        return alive

    def finish(self, timeout: float = 600) -> tuple[int, float]:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code, time.monotonic() - self.started


def _state(index_dir: Path, old: set[str], new: set[str]) -> str:
    """'old' or 'new', or a description of what is wrong."""
    try:
        index = load_index(index_dir)
    except Exception as exc:  # noqa: BLE001 - any failure to load is what this test looks for
        return f"does not load: {type(exc).__name__}: {exc}"
    if index.note:
        return f"loads only by falling back: {index.note}"
    documents = set(index.documents)
    if len(index.chunks) != index.vectors.shape[0]:
        return "chunks and vectors differ"
    return "old" if documents == old else "new" if documents == new else f"holds another set: {sorted(documents)}"


def test_kill_9_during_ingest(corpus, tmp_path, capsys):
    folder, pristine, old, new = corpus
    rng = random.Random(SEED)
    index_dir = _fresh_copy(pristine, tmp_path / "index")
    # One uninterrupted run gives the duration to draw kill moments from, and the write phase's length.
    run = Run("--index", index_dir, "ingest", folder)
    code, duration = run.finish()
    assert code == 0, "".join(run.stderr)
    assert run.writing.is_set() and _state(index_dir, old, new) == "new"
    write_phase = run.started + duration - run.writing_at  # from 'writing the index' to the exit

    failures, outcomes, missed = [], {"old": 0, "new": 0}, 0
    started = time.monotonic()
    kills = 0
    while kills < INGEST_KILLS and missed < INGEST_KILLS:
        index_dir = _fresh_copy(pristine, tmp_path / "index")
        run = Run("--index", index_dir, "ingest", folder)
        where = "write phase" if kills % 2 else "anywhere"
        if where == "write phase":
            deadline = time.monotonic() + 600
            while not run.writing.wait(timeout=0.5) and run.proc.poll() is None and time.monotonic() < deadline:
                pass  # a child that dies before writing must not leave this loop waiting for the deadline
            if run.proc.poll() not in (None, 0):
                failures.append(f"kill {kills + 1}: the run failed on its own: {''.join(run.stderr)[-300:]}")
                kills += 1
                continue
            time.sleep(rng.uniform(0, write_phase))
        else:
            time.sleep(rng.uniform(0.2, 0.95 * duration))
        if not run.kill():
            missed += 1  # it had finished already: draw another moment
            continue
        kills += 1
        state = _state(index_dir, old, new)
        if state not in outcomes:
            failures.append(f"kill {kills} ({where}): {state}")
            continue
        outcomes[state] += 1
        # The re-run completes the change and leaves no debris.
        assert main(["--index", str(index_dir), "ingest", "-q", str(folder)]) == 0
        capsys.readouterr()
        after = _state(index_dir, old, new)
        leftovers = [p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
        if after != "new" or leftovers:
            failures.append(f"kill {kills} ({where}): the re-run left {after}, debris {leftovers}")
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\ningest: {kills} kills (full run {duration:.1f} s, write phase {write_phase * 1000:.0f} ms, "
            f"{missed} moments after the end drawn again) in {elapsed:.0f} s: {outcomes['old']} left the old set, "
            f"{outcomes['new']} the new one, {len(failures)} failures"
        )
    assert kills == INGEST_KILLS
    assert failures == []


def test_kill_9_during_remove(corpus, tmp_path, capsys):
    folder, pristine, old, _ = corpus
    rng = random.Random(SEED + 1)
    gone = sorted(old)[:3]
    remaining = old - set(gone)
    run = Run("--index", _fresh_copy(pristine, tmp_path / "index"), "remove", *gone)
    code, duration = run.finish()
    assert code == 0, "".join(run.stderr)

    failures, outcomes, missed, kills = [], {"old": 0, "new": 0}, 0, 0
    while kills < REMOVE_KILLS and missed < 3 * REMOVE_KILLS:
        index_dir = _fresh_copy(pristine, tmp_path / "index")
        run = Run("--index", index_dir, "remove", *gone)
        # The imports take most of a removal: the moments are drawn from its second half.
        time.sleep(rng.uniform(0.5 * duration, duration))
        if not run.kill():
            missed += 1
            continue
        kills += 1
        state = _state(index_dir, old, remaining)
        if state not in outcomes:
            failures.append(f"kill {kills}: {state}")
            continue
        outcomes[state] += 1
        if state == "old":
            assert main(["--index", str(index_dir), "remove", *gone]) == 0
            capsys.readouterr()
        if _state(index_dir, old, remaining) != "new":
            failures.append(f"kill {kills}: the re-run did not complete the removal")
    with capsys.disabled():
        print(
            f"\nremove: {kills} kills (full run {duration:.1f} s, {missed} moments after the end drawn again): "
            f"{outcomes['old']} left the old set, {outcomes['new']} the new one, {len(failures)} failures"
        )
    assert kills == REMOVE_KILLS
    assert failures == []
    assert len(version_names(index_dir)) <= 3
