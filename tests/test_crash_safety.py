"""kill -9 of `rag ingest`, `rag remove` and of `rag serve` during a web-page upload at random moments (fixed seed): the index always loads, holds exactly
the old or the new set of documents, and a re-run completes the change.

Half of the ingest kills fall anywhere in a run (mostly while the model loads or embeds); the other half land
in the short write phase, right after the command says it is writing the index, where a kill is most likely to
leave something half-written. Each kill is followed by a check and a re-run (in-process, with the session's
embedder, so that the model is loaded once for the module).
"""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import CHROMIUM, DOCS, ROOT, _free_port, start_serve
from rag.bench_service import wait_healthy
from rag.chunking import sentence_spans
from rag.documents import find_files
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


# ---------------------------------------------------------------- kill -9 of `rag serve` during a web-page upload

UPLOAD_KILLS = 6
SERVE_MODEL = "smollm2-135m"  # uploads do not use the model; the smallest one keeps each restart short


class IndexWatch:
    """Polls an index folder: when a version starts being written (.tmp-) and when CURRENT moves."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.pointer = (index_dir / "CURRENT").read_bytes()
        self.writing, self.switched = threading.Event(), threading.Event()
        self.writing_at = self.switched_at = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop.is_set() and not self.switched.is_set():
            with contextlib.suppress(OSError):
                if not self.writing.is_set() and any(p.name.startswith(".tmp-") for p in self.index_dir.iterdir()):
                    self.writing_at = time.monotonic()
                    self.writing.set()
                if (self.index_dir / "CURRENT").read_bytes() != self.pointer:
                    self.switched_at = time.monotonic()
                    self.switched.set()
            time.sleep(0.002)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


class Served:
    """`rag serve` on a fresh copy of the pristine index and an empty uploads folder, with a Chromium page on it."""

    def __init__(self, pristine: Path, root: Path, settings_factory, browser) -> None:
        self.index_dir = _fresh_copy(pristine, root / "index")
        self.uploads = root / "uploads"
        shutil.rmtree(self.uploads, ignore_errors=True)
        self.settings = settings_factory(self.index_dir).resolved(uploads_dir=self.uploads)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = (root / "serve.log").open("w")
        self.proc = start_serve(self.settings, port, SERVE_MODEL, env={"RAG_UPLOADS_DIR": str(self.uploads)}, log=self.log)
        wait_healthy(self.url, self.proc)
        self.page = browser.new_page()
        self.page.goto(self.url)
        self.page.get_by_role("tab", name="Documents").click()

    def click_upload(self, files: list[Path]) -> float:
        """Choose the files (the browser sends them at once), then press the index button; the moment of the press."""
        self.page.locator("#upload input[type=file]").set_input_files([str(f) for f in files])
        self.page.locator("#upload").get_by_text(files[-1].stem).wait_for()
        self.page.click("#index-files")
        return time.monotonic()

    def wait_indexed(self, doc_ids: list[str]) -> None:
        script = f"{doc_ids!r}.every((d) => (document.querySelector('#upload-log textarea')?.value || '').includes('✅ ' + d))"
        self.page.wait_for_function(script, timeout=300_000)

    def kill(self) -> bool:
        alive = self.proc.poll() is None
        self.proc.kill()
        self.proc.wait()
        return alive

    def close(self) -> None:
        self.kill()
        self.page.close()
        self.log.close()


def _upload_again(settings, files: list[Path], embedder) -> str:
    """The re-run: the same files through the app's upload handler, with the session's embedder."""
    from rag.retrieval import Retriever
    from ui.app import upload
    from ui.state import AppState

    state = AppState(settings)
    state.retriever = Retriever(load_index(settings.index_dir), embedder, settings)
    state.ready.set()
    message, *_ = upload(state, [str(f) for f in files], progress=lambda *a, **k: None)
    return message


def _uploads_left(uploads: Path, files: list[Path]) -> str:
    """'' when the uploads folder holds whole copies of the files and nothing an ingest would read besides."""
    visible, _ = find_files([uploads]) if uploads.is_dir() else ([], [])
    if sorted(p.name for p in visible) != sorted(f.name for f in files):
        return f"uploads folder holds {sorted(p.name for p in visible)}"
    broken = [f.name for f in files if (uploads / f.name).read_bytes() != f.read_bytes()]
    return f"truncated copies: {broken}" if broken else ""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_kill_9_of_the_server_during_a_web_page_upload(corpus, tmp_path, browser, embedder, settings_factory, capsys):
    folder, pristine, old, new = corpus
    files = [folder / f"{d}.txt" for d in sorted(new - old)]
    rng = random.Random(SEED + 2)

    # One whole upload gives the moments to draw from: its length after the press, and its write phase.
    served = Served(pristine, tmp_path, settings_factory, browser)
    try:
        watch = IndexWatch(served.index_dir)
        pressed = served.click_upload(files)
        served.wait_indexed(sorted(new - old))
        shown = time.monotonic()
        watch.close()
        assert watch.writing.is_set() and watch.switched.is_set(), "the upload wrote no new version"
        # The write phase runs to the page's report, so that some kills land after the switch, before the reply.
        duration, write_phase = shown - pressed, shown - watch.writing_at
        assert _state(served.index_dir, old, new) == "new" and _uploads_left(served.uploads, files) == ""
    finally:
        served.close()

    failures, outcomes, missed, kills = [], {"old": 0, "new": 0}, 0, 0
    started = time.monotonic()
    while kills < UPLOAD_KILLS and missed < UPLOAD_KILLS:
        served = Served(pristine, tmp_path, settings_factory, browser)
        where = "write phase" if kills % 2 else "anywhere"
        try:
            watch = IndexWatch(served.index_dir)
            served.click_upload(files)
            if where == "write phase":
                watch.writing.wait(timeout=300)
                time.sleep(rng.uniform(0, write_phase))
            else:
                time.sleep(rng.uniform(0, duration))
            alive = served.kill()
            watch.close()
        finally:
            served.close()
        if not alive or (where == "write phase" and not watch.writing.is_set()):
            missed += 1
            continue
        kills += 1
        state = _state(served.index_dir, old, new)
        if state not in outcomes:
            failures.append(f"kill {kills} ({where}): {state}")
            continue
        outcomes[state] += 1
        message = _upload_again(served.settings, files, embedder)
        after, left = _state(served.index_dir, old, new), _uploads_left(served.uploads, files)
        if after != "new" or left or "❌" in message:
            failures.append(f"kill {kills} ({where}): the upload again left {after} {left} {message!r}")
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nweb upload: {kills} kills of rag serve (upload {duration:.1f} s from the press to the report, "
            f"write phase {write_phase * 1000:.0f} ms, {missed} moments drawn again) in {elapsed:.0f} s: {outcomes['old']} left "
            f"the old set, {outcomes['new']} the new one, {len(failures)} failures"
        )
    assert kills == UPLOAD_KILLS
    assert failures == []
