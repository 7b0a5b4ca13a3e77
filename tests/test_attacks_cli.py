"""Bad input through the real `rag` command, as a user would try it.

Every attack must end with a clear one-line `error:` (or `warning:`) on standard error, no traceback, the
right exit code, and the index as it was: it still loads, with all its documents. Most run in-process through
rag.cli.main with the session's embedder; a subprocess is used where a crash of the process itself matters.
"""
from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import llama_cpp
import rag.generation
from canned import CannedGenerator
from conftest import DEVELOPPEZ, FUTURISM, ROOT
from rag.cli import main
from rag.index import CURRENT, load_index, version_names

pytestmark = pytest.mark.usefixtures("cli_models")

BEFORE = {DEVELOPPEZ, FUTURISM}
GOOD_TEXT = "Un bon document\n" + "Le verger de Normandie produit des pommes et des poires chaque automne. " * 8 + "\n"


# ---------------------------------------------------------------- helpers


@pytest.fixture
def index_dir(tmp_path, docs_index) -> Path:
    """A private copy of the session's index of docs/ (two articles) that an attack may damage."""
    settings, _ = docs_index
    target = tmp_path / "index"
    shutil.copytree(settings.index_dir, target, ignore=shutil.ignore_patterns(".lock"))
    return target


@pytest.fixture
def no_model_load(monkeypatch):
    """A tripwire: the test fails if llama.cpp is asked to load any model."""

    def tripwire(*args, **kwargs):
        raise AssertionError(f"the generation model was loaded: {kwargs.get('model_path')}")

    monkeypatch.setattr(llama_cpp, "Llama", tripwire)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`rag ARGV` in-process: (exit code, stdout, stderr); a traceback anywhere fails the test."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err, captured.err
    return code, captured.out, captured.err


def one_line(err: str, prefix: str = "error: ", *needles: str) -> str:
    """The only non-empty line of stderr, starting with prefix and holding every needle."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def intact(index_dir: Path, documents: set[str] = BEFORE) -> None:
    """The index loads without falling back, and holds exactly these documents."""
    index = load_index(index_dir)
    assert not index.note, index.note
    assert set(index.documents) == documents
    assert len(index.chunks) == index.vectors.shape[0] == index.manifest["n_chunks"] > 0


# ---------------------------------------------------------------- questions


QUESTIONS = {
    "empty": ("", "the question is empty"),
    "whitespace only": (" \t\n ", "the question is empty"),
    "emoji only": ("🙂🚀🔥 ❓", "no words"),
    "20,000 characters": (("Pourquoi LeCun a-t-il quitté Meta ? " * 600)[:20000], "too long"),
}


@pytest.mark.parametrize("command", ["ask", "search"])
@pytest.mark.parametrize("kind", list(QUESTIONS))
def test_bad_question(index_dir, capsys, no_model_load, command, kind):
    question, needle = QUESTIONS[kind]
    code, out, err = run(capsys, "--index", index_dir, command, question)
    assert code == 2 and out == ""
    one_line(err, "error: ", needle)
    intact(index_dir)


# ---------------------------------------------------------------- rag batch


def _batch_file(path: Path) -> tuple[Path, dict[int, str]]:
    """A JSONL file mixing good rows, malformed rows and blank lines; returns it and {line number: problem}."""
    lines = [
        json.dumps({"id": "g1", "question": "Combien Meta a-t-il investi dans Scale AI ?"}),  # 1
        "",  # 2
        "{not json",  # 3
        "   ",  # 4
        json.dumps({"id": 7}),  # 5
        json.dumps({"id": "g2", "question": "Quand ChatGPT est-il sorti ?"}),  # 6
        "",  # 7
        json.dumps({"question": "🙂🙂"}),  # 8
        json.dumps({"question": "x" * 20000}),  # 9
        json.dumps(["question"]),  # 10
        json.dumps({"question": "Qui est LeCun ?", "history": "pas une liste"}),  # 11
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, {3: "not valid JSON", 5: "question", 8: "no words", 9: "too long", 10: "question", 11: "history"}


def test_batch_errors_name_the_real_line_numbers(index_dir, capsys, tmp_path, monkeypatch):
    """Blank lines count: an error on line 3 of the file says :3, not :2."""
    monkeypatch.setattr(rag.generation, "load_generator", lambda settings, model=None: CannedGenerator(repeat="Meta a investi 14 milliards de dollars dans Scale AI {14 milliards}."))
    source, problems = _batch_file(tmp_path / "in.jsonl")
    out_file = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "--index", index_dir, "batch", source, "-o", out_file)
    assert code == 1
    lines = err.splitlines()
    assert [int(line.split(":")[2]) for line in lines] == sorted(problems)
    for line in lines:
        number = int(line.split(":")[2])
        assert line.startswith(f"error: {source}:{number}: ") and problems[number] in line, line
    answered = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [a["id"] for a in answered] == ["g1", "g2"]
    intact(index_dir)


@pytest.mark.slow
def test_batch_with_malformed_lines_still_answers_the_good_ones(index_dir, capsys, tmp_path, monkeypatch):
    """The real (smallest packaged) model: good lines get an answer object each, bad ones one error line each."""
    # Short answers on one thread: this is about the wiring, and the 2 cores may be shared.
    monkeypatch.setenv("RAG_MAX_TOKENS", "48")
    monkeypatch.setenv("RAG_LLM_THREADS", "1")
    source, problems = _batch_file(tmp_path / "in.jsonl")
    out_file = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "--index", index_dir, "batch", source, "-o", out_file, "--model", "smollm2-135m")
    assert code == 1
    assert [int(line.split(":")[2]) for line in err.splitlines()] == sorted(problems)
    answered = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [a["id"] for a in answered] == ["g1", "g2"]
    assert all(a["model"] == "smollm2-135m" and a["passages"] for a in answered)
    intact(index_dir)


# ---------------------------------------------------------------- files that cannot become documents


def _utf16(path: Path) -> None:
    path.write_bytes("Un texte accentué écrit en UTF-16, avec des élèves et des étés.\n".encode("utf-16"))


def _latin1(path: Path) -> None:
    path.write_bytes("Un texte accentué écrit en Latin-1, avec des élèves et des étés.\n".encode("latin-1"))


REFUSED = {
    "binary data named .txt": ("data.txt", lambda p: p.write_bytes(random.Random(1).randbytes(5000))),
    "ELF executable named .txt": ("program.txt", lambda p: p.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(2000))),
    "empty file": ("empty.txt", lambda p: p.write_bytes(b"")),
    "whitespace-only file": ("blank.md", lambda p: p.write_text(" \n\n\t\n", encoding="utf-8")),
    "0-byte PDF": ("zero.pdf", lambda p: p.write_bytes(b"")),
    "corrupt PDF": ("corrupt.pdf", lambda p: p.write_bytes(b"%PDF-1.7\n" + random.Random(2).randbytes(4000))),
    "PDF cut in half": ("half.pdf", None),  # filled in by the test from a valid PDF
    "scanned PDF without a text layer": ("scan.pdf", None),
    "unsupported extension": ("archive.xyz", lambda p: p.write_text("du texte", encoding="utf-8")),
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_a_file_that_cannot_be_read_is_refused_in_one_line(index_dir, capsys, tmp_path, make_pdf, kind):
    name, write = REFUSED[kind]
    path = tmp_path / name
    if kind == "PDF cut in half":
        data = make_pdf([["Une page de texte lisible."]] * 3)
        path.write_bytes(data[: len(data) // 2])
    elif kind == "scanned PDF without a text layer":
        path.write_bytes(make_pdf([[], []]))
    else:
        write(path)
    code, out, err = run(capsys, "--index", index_dir, "ingest", path)
    assert code == 1
    one_line(err, f"error: {path}: ")
    assert "0 added" in out and "1 failed" in out
    intact(index_dir)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_other_encodings_are_either_decoded_or_refused_in_one_line(index_dir, capsys, tmp_path, encoding):
    path = tmp_path / f"{encoding}.txt"
    (_latin1 if encoding == "latin-1" else _utf16)(path)
    code, out, err = run(capsys, "--index", index_dir, "ingest", "-q", path)
    if code == 0:
        index = load_index(index_dir)
        (new,) = set(index.documents) - BEFORE
        assert "accentué" in index.documents[new].text and "élèves et des étés" in index.documents[new].text
        intact(index_dir, BEFORE | {new})
    else:
        assert code == 1
        one_line(err, f"error: {path}: ")
        intact(index_dir)


def test_missing_path(index_dir, capsys, tmp_path):
    code, _, err = run(capsys, "--index", index_dir, "ingest", tmp_path / "nowhere")
    assert code == 1
    one_line(err, "error: ", str(tmp_path / "nowhere"), "no such file")
    intact(index_dir)


def test_failures_among_good_files_exit_1_with_one_line_each(index_dir, capsys, tmp_path):
    """Some files fail, others succeed: the good ones are indexed, yet the command says it failed."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD_TEXT, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02" * 1000)
    code, out, err = run(capsys, "--index", index_dir, "ingest", "-q", folder, tmp_path / "absent.md")
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert {Path(line[len("error: "):].split(": ")[0]).name for line in lines} == {"empty.txt", "binary.txt", "absent.md"}
    assert out.startswith("1 added, 0 updated, 0 unchanged, 0 removed, 3 failed;")
    intact(index_dir, BEFORE | {"good"})


def test_a_parser_that_crashes_on_one_file_costs_only_that_file(index_dir, capsys, tmp_path, monkeypatch):
    """Whatever an extractor raises on a hostile file, the other files are indexed and the error is one line."""
    import rag.ingest

    real = rag.ingest.load_document

    def fragile(path, doc_id=None):
        if path.name == "hostile.txt":
            raise RecursionError("maximum recursion depth exceeded\nwhile parsing")
        return real(path, doc_id=doc_id)

    monkeypatch.setattr(rag.ingest, "load_document", fragile)
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "hostile.txt").write_text(GOOD_TEXT, encoding="utf-8")
    (folder / "good.txt").write_text(GOOD_TEXT, encoding="utf-8")
    code, out, err = run(capsys, "--index", index_dir, "ingest", "-q", folder)
    assert code == 1
    one_line(err, f"error: {folder / 'hostile.txt'}: ", "RecursionError")
    intact(index_dir, BEFORE | {"good"})


def test_an_index_folder_that_cannot_be_created(index_dir, capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    code, out, err = run(capsys, "--index", blocker / "index", "ingest", "-q", good)
    assert code == 1 and out == ""
    one_line(err, "error: ", "Not a directory")


# ---------------------------------------------------------------- files that are fine but awkward


def test_html_with_scripts_and_megabytes_of_inline_base64(index_dir, capsys, tmp_path):
    blob = base64.b64encode(random.Random(5).randbytes(3_000_000)).decode()
    html = (
        "<html><head><title>Le verger</title><script>var secret = 'SCRIPTMARKER'; alert(1);</script>"
        f"<style>body {{ background: url(data:image/png;base64,{blob[:200000]}); }}</style></head><body>"
        "<h1>Le verger</h1><p>Le verger de Normandie produit des pommes et des poires chaque automne.</p>"
        f'<img alt="photo" src="data:image/png;base64,{blob}">'
        "<p>Les cidres de la région sont connus dans tout le pays.</p>"
        f"<script>var data = '{blob[:500000]}';</script></body></html>"
    )
    path = tmp_path / "verger.html"
    path.write_text(html, encoding="utf-8")
    assert path.stat().st_size > 4_000_000
    code, _, err = run(capsys, "--index", index_dir, "ingest", "-q", path)
    assert code == 0 and err == ""
    text = load_index(index_dir).documents["verger"].text
    assert "pommes et des poires" in text and "cidres de la région" in text
    assert "SCRIPTMARKER" not in text and blob[:40] not in text and len(text) < 1000
    intact(index_dir, BEFORE | {"verger"})


AWKWARD_NAMES = ["mes notes de cours.txt", "l'article \"cité\".txt", "été 日本語 ñandú.md", "..txt", "...ini..txt", "-rf --help.txt"]


def test_awkward_file_names_are_indexed_listed_and_removable(index_dir, capsys, tmp_path):
    folder = tmp_path / "noms"
    folder.mkdir()
    for name in AWKWARD_NAMES:
        (folder / name).write_text(f"Le fichier {name}\n" + GOOD_TEXT, encoding="utf-8")
    # A path spelled with '..' components and a trailing separator.
    spelled = f"{tmp_path / 'noms' / '..' / 'noms'}{os.sep}"
    code, out, err = run(capsys, "--index", index_dir, "ingest", "-q", spelled)
    assert code == 0 and err == "", err
    assert out.startswith(f"{len(AWKWARD_NAMES)} added")
    index = load_index(index_dir)
    new = set(index.documents) - BEFORE
    assert len(new) == len(AWKWARD_NAMES)
    for doc_id in new:
        assert doc_id and "/" not in doc_id and ".." not in doc_id and doc_id == doc_id.strip("-")
        source = Path(index.documents[doc_id].source)
        assert source.resolve().parent == folder.resolve()  # normalized: no '..' left in what is stored
    code, out, _ = run(capsys, "--index", index_dir, "docs", "--json")
    assert code == 0 and {row["doc_id"] for row in json.loads(out)} == BEFORE | new
    code, out, err = run(capsys, "--index", index_dir, "remove", str(folder / "l'article \"cité\".txt"))
    assert code == 0 and err == "" and out.startswith("removed ")
    assert len(set(load_index(index_dir).documents) - BEFORE) == len(AWKWARD_NAMES) - 1


def test_folder_with_a_symlink_loop(index_dir, capsys, tmp_path):
    folder = tmp_path / "boucle"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "good.txt").write_text(GOOD_TEXT, encoding="utf-8")
    (folder / "sub" / "up").symlink_to("..")  # boucle/sub/up/sub/up/... forever
    (folder / "self.txt").symlink_to("self.txt")  # a link to itself
    code, out, err = run(capsys, "--index", index_dir, "ingest", "-q", folder)
    assert code == 0 and err == "", err
    assert out.startswith("1 added")
    intact(index_dir, BEFORE | {"good"})


# ---------------------------------------------------------------- models


def test_unknown_model_name(index_dir, capsys, no_model_load):
    code, _, err = run(capsys, "--index", index_dir, "ask", "Qui est LeCun ?", "--model", "gpt-17-turbo")
    assert code == 2
    one_line(err, "error: ", "unknown model 'gpt-17-turbo'")
    intact(index_dir)


def _rag_subprocess(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_TORCH_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rag.cli", *map(str, argv)], capture_output=True, text=True, env=env, timeout=timeout)


def test_truncated_gguf_file(index_dir, tmp_path):
    """A GGUF cut after its header passes the magic check; llama.cpp must fail cleanly, not kill the process."""
    from rag.gguf import PACKAGED_MODELS, models_dir
    from rag.settings import Settings

    source = models_dir(Settings().cache_dir) / PACKAGED_MODELS["smollm2-135m"].filename
    if not source.is_file():
        pytest.skip("smollm2-135m is not set up (rag setup --model smollm2-135m)")
    truncated = tmp_path / "truncated.gguf"
    with source.open("rb") as fh:
        truncated.write_bytes(fh.read(3_000_000))
    result = _rag_subprocess("--index", index_dir, "ask", "Qui est LeCun ?", "--model", truncated)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    one_line(result.stderr, "error: ", str(truncated), "could not be loaded")
    intact(index_dir)


# ---------------------------------------------------------------- a damaged index


def _version(index_dir: Path) -> Path:
    return index_dir / version_names(index_dir)[-1]


def test_truncated_file_in_the_version_folder(index_dir, capsys, tmp_path):
    vectors = _version(index_dir) / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:1000])
    code, out, err = run(capsys, "--index", index_dir, "search", "Qui est LeCun ?")
    assert code == 2 and out == ""
    one_line(err, "error: ", "rag ingest --rebuild")
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    code, _, err = run(capsys, "--index", index_dir, "ingest", "-q", good)
    assert code == 2
    one_line(err, "error: ", "rag ingest --rebuild")
    # The advice works: the documents come back from the text the index stored, the new file is added.
    code, out, _ = run(capsys, "--index", index_dir, "ingest", "--rebuild", "-q", good)
    assert code == 0, out
    assert "2 documents recovered" in out and "2 re-embedded, 1 added" in out
    intact(index_dir, BEFORE | {"good"})


def test_truncated_newest_version_falls_back_to_the_previous_one(index_dir, capsys, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    assert run(capsys, "--index", index_dir, "ingest", "-q", good)[0] == 0
    chunks = _version(index_dir) / "chunks.json"
    chunks.write_bytes(chunks.read_bytes()[:500])
    code, out, err = run(capsys, "--index", index_dir, "docs")
    assert code == 0
    one_line(err, "warning: ", "damaged", "newest intact version")
    assert DEVELOPPEZ in out and "good" not in out
    # Building on the older version would silently drop good.txt: a plain ingest refuses, a rebuild recovers it.
    code, _, err = run(capsys, "--index", index_dir, "ingest", "-q", good)
    assert code == 2
    one_line(err, "error: ", "damaged", "rag ingest --rebuild")
    code, out, _ = run(capsys, "--index", index_dir, "ingest", "--rebuild", "-q", good)
    assert code == 0 and "3 re-embedded" in out
    intact(index_dir, BEFORE | {"good"})


POINTERS = {
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
    "empty": b"",
    "garbage text": b"rm -rf /\n",
    "dangling": b"v-20200101T000000000000\n",
    "utf-16": "v-20200101T000000000000".encode("utf-16"),
}


@pytest.mark.parametrize("content", list(POINTERS))
def test_bad_pointer_warns_in_one_line_and_rebuild_repairs_it(index_dir, capsys, content):
    (index_dir / CURRENT).write_bytes(POINTERS[content])
    code, out, err = run(capsys, "--index", index_dir, "docs")
    assert code == 0 and DEVELOPPEZ in out and FUTURISM in out
    one_line(err, "warning: ", "CURRENT", "newest intact version")
    code, out, err = run(capsys, "--index", index_dir, "search", "Combien Meta a-t-il investi dans Scale AI ?", "--json")
    assert code == 0 and any("14 milliards" in hit["text"] for hit in json.loads(out))
    one_line(err, "warning: ", "CURRENT")
    code, out, err = run(capsys, "--index", index_dir, "ingest", "--rebuild", "-q", ROOT / "docs")
    assert code == 0 and "2 re-embedded" in out and "0 removed" in out
    intact(index_dir)
    assert run(capsys, "--index", index_dir, "docs")[2] == ""  # repaired: no warning any more


def test_bad_pointer_and_no_version_left(tmp_path, capsys):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    (index_dir / CURRENT).write_bytes(b"\xff\xfe\x00")
    code, _, err = run(capsys, "--index", index_dir, "search", "Qui est LeCun ?")
    assert code == 2
    one_line(err, "error: ", "no index in", "`rag ingest`")
    # The advice works.
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    code, out, err = run(capsys, "--index", index_dir, "ingest", "-q", good)
    assert code == 0 and err == "" and out.startswith("1 added")
    intact(index_dir, {"good"})


def test_half_written_work_folder(index_dir, capsys, tmp_path):
    work = index_dir / ".tmp-k3j2h1"
    work.mkdir()
    (work / "vectors.npy").write_bytes(b"\x93NUMPY" + bytes(10))
    (work / "chunks.json").write_text('[{"chunk_id": "tru', encoding="utf-8")
    code, out, err = run(capsys, "--index", index_dir, "docs")
    assert code == 0 and err == "" and DEVELOPPEZ in out
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    assert run(capsys, "--index", index_dir, "ingest", "-q", good)[0] == 0
    assert not work.exists()  # the next writer clears what a crashed one left
    intact(index_dir, BEFORE | {"good"})


# ---------------------------------------------------------------- rag serve


@pytest.fixture
def launched(monkeypatch) -> list:
    """Replaces ui.app.launch: records its calls instead of starting a server (nor reading the model)."""
    import ui.app
    import ui.state

    calls: list = []
    monkeypatch.setattr(ui.state.AppState, "preload_models", lambda self: None)
    monkeypatch.setattr(ui.app, "launch", lambda settings, share=False, auth=None, state=None: calls.append((settings.host, auth)))
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.local"])
def test_serve_refuses_a_network_address_without_auth(capsys, launched, monkeypatch, host):
    monkeypatch.delenv("RAG_AUTH", raising=False)
    code, out, err = run(capsys, "serve", "--host", host)
    assert code == 2 and out == "" and launched == []
    one_line(err, "error: ", host, "--auth")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_on_loopback_needs_no_auth(capsys, launched, monkeypatch, host):
    monkeypatch.delenv("RAG_AUTH", raising=False)
    code, _, err = run(capsys, "serve", "--host", host)
    assert code == 0 and err == "" and launched == [(host, None)]


def test_serve_on_the_network_with_auth(capsys, launched):
    code, _, _ = run(capsys, "serve", "--host", "0.0.0.0", "--auth", "ana:s3cret")
    assert code == 0 and launched == [("0.0.0.0", ("ana", "s3cret"))]
    code, _, err = run(capsys, "serve", "--host", "0.0.0.0", "--auth", "ana")
    assert code == 2 and len(launched) == 1
    one_line(err, "error: ", "user:password")


# ---------------------------------------------------------------- progress in a log file


def test_ingest_prints_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = random.Random(9)
    words = GOOD_TEXT.split()
    for n in range(6):  # about 130 chunks: three slices of 64, so a line between the first and the last
        body = " ".join(" ".join(rng.sample(words, len(words))) + "." for _ in range(12))
        (folder / f"doc{n}.txt").write_text(f"Document {n}\n{body}\n", encoding="utf-8")
    code, out, err = run(capsys, "--index", tmp_path / "index", "ingest", folder)
    assert code == 0
    lines = err.splitlines()
    assert len(lines) >= 3 and all(line.startswith("embedding: ") for line in lines), err
    total = int(lines[0].split("/")[1].split()[0])
    done = [int(line.split()[1].split("/")[0]) for line in lines]
    assert done[0] == 0 and done[-1] == total and done == sorted(done)
    assert "texts/s" in lines[-1] and "writing the index" in lines[-1]
    chunks, sentences = map(int, re.search(r"(\d+) chunks embedded \(and (\d+) sentences\)", out).groups())
    assert total == chunks + sentences  # every chunk and every sentence the index stores, each text once
    code, _, err = run(capsys, "--index", tmp_path / "index", "ingest", "-q", folder)
    assert code == 0 and err == ""


# ---------------------------------------------------------------- settings from the environment


@pytest.mark.parametrize("variable, value", [("RAG_TOP_K", "four"), ("RAG_INDEX_KEEP_VERSIONS", "1"), ("RAG_INDEX_GRACE_SECONDS", "-5")])
def test_a_bad_environment_variable_is_one_line(index_dir, capsys, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    code, out, err = run(capsys, "--index", index_dir, "search", "Qui est LeCun ?")
    assert code == 2 and out == ""
    one_line(err, f"error: {variable}: ")
    monkeypatch.delenv(variable)
    intact(index_dir)
