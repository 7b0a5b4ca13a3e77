"""The embedding model in a child process, for `rag serve`.

Importing torch and sentence-transformers takes several seconds of Python's lock, and so does importing the web
page's libraries: in one process they can only run one after the other. In a child process the embedder loads on
another core meanwhile. Each call costs a round trip through a pipe (under a millisecond for a question's texts).
"""
from __future__ import annotations

import multiprocessing
import signal
import threading
from pathlib import Path

import numpy as np

from rag.embeddings import Embedder, ModelNotFound, embedder_for, embedding_dimension
from rag.settings import Settings


class EmbedderStopped(RuntimeError):
    """The child process ended (killed, out of memory) before it answered."""


class EncoderProcess:
    """A sentence-transformers model loaded and run in a child process; encode() takes SentenceTransformer's."""

    def __init__(self, settings: Settings) -> None:
        """Start loading at once; embedder() waits for it."""
        self.settings = settings
        self._lock = threading.Lock()  # one request at a time on the pipe
        self._start()

    def _start(self) -> None:
        # spawn, not fork: the parent already runs threads (the LLM is read in one), which fork would copy mid-way.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        s = self.settings
        self._process = context.Process(
            target=_serve, args=(child, s.embedding_model, str(s.cache_dir), s.torch_threads), daemon=True,
            name="rag-embedder",
        )
        self._process.start()
        child.close()
        self.folder: Path | None = None
        self._dim = 0

    def embedder(self) -> Embedder:
        """The Embedder over this process, once its model is loaded; ModelNotFound when it could not be."""
        with self._lock:
            self._await_ready()
        return embedder_for(self, self.folder, self.settings)

    def encode(self, texts: list[str], **options) -> np.ndarray:
        """SentenceTransformer.encode in the child; a child that died is replaced once and asked again."""
        with self._lock:
            try:
                return self._ask(texts, options)
            except EmbedderStopped:
                self._start()
                return self._ask(texts, options)

    def get_sentence_embedding_dimension(self) -> int:
        with self._lock:
            self._await_ready()
        return self._dim

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def close(self) -> None:
        """Stop the child at once: it holds nothing to save, and tearing torch down took 1.8 s here."""
        self._conn.close()
        self._process.terminate()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _await_ready(self) -> None:
        if self.folder is not None:
            return
        kind, value = self._receive()
        if kind != "ready":
            raise ModelNotFound(value)
        self.folder, self._dim = Path(value["folder"]), value["dim"]

    def _ask(self, texts: list[str], options: dict) -> np.ndarray:
        self._await_ready()
        try:
            self._conn.send((texts, options))
        except OSError:
            raise EmbedderStopped(self._stopped()) from None
        kind, value = self._receive()
        if kind != "ok":
            raise RuntimeError(f"the embedding model failed: {value}")
        return value

    def _receive(self) -> tuple[str, object]:
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            raise EmbedderStopped(self._stopped()) from None

    def _stopped(self) -> str:
        self._process.join(timeout=5)
        return f"the embedding process stopped (exit code {self._process.exitcode})"


def _serve(conn, name: str, cache_dir: str, torch_threads: int) -> None:
    """The child: load the model, say ready (or why not), then encode what the parent sends until it hangs up."""
    from rag.embeddings import open_sentence_transformer, resolve_embedding_model

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the terminal's whole group: the parent decides
    try:
        folder = resolve_embedding_model(name, Path(cache_dir))
        model = open_sentence_transformer(folder, torch_threads)
    except Exception as exc:  # noqa: BLE001 - whatever stops the load is the parent's message to show
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", {"folder": str(folder), "dim": embedding_dimension(model)}))
    while True:
        try:
            texts, options = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone
        try:
            reply = ("ok", _plain(model.encode(texts, **options)))
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it for the request that asked
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except OSError:
            return  # the server died while this was encoding


def _plain(output):
    """Token vectors come back as one torch tensor per text: sent as numpy, the parent never imports torch."""
    if isinstance(output, list):
        return [np.asarray(item, dtype=np.float32) for item in output]
    return output
