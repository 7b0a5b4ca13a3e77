"""What `rag serve` loads once and shares between sessions, and its loading in the background.

Free of Gradio: `rag serve` starts reading the model before the web page's libraries import (see
AppState.preload_models).
"""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from rag.gguf import PACKAGED_MODELS, models_dir
from rag.index import IndexProblem, load_index
from rag.pipeline import Pipeline
from rag.retrieval import Retriever
from rag.settings import Settings
from ui.i18n import FALLBACK, words
from ui.model_queue import ModelQueue

FAST_MODEL = "qwen2.5-0.5b"


@dataclass
class AppState:
    """What the server loads once at start-up and shares between sessions."""

    settings: Settings
    retriever: Retriever | None = None
    generators: dict = field(default_factory=dict)
    # The status line as (key of the [ui] table, values): written in each reader's language when shown.
    status_line: tuple[str, dict] = ("status_loading", {})
    error: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
    warmed: threading.Event = field(default_factory=threading.Event)  # the models' warm-up turn is over
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    load_seconds: float = 0.0
    index_lock: threading.Lock = field(default_factory=threading.Lock)
    # The store's signature when the served index was last checked: CURRENT's (inode, mtime, size) for FAISS,
    # the generation number for PostgreSQL.
    pointer_seen: object = None
    store: object = None  # rag.store.Store, opened from the settings on first use
    # Turns on the loaded model, first come first served: web chat handlers and /v1/chat/completions alike.
    queue: ModelQueue = field(default_factory=ModelQueue)
    # Models offered but loaded on their first question (the fast one): start-up only pays for the default model.
    on_demand: list[str] = field(default_factory=list)
    model_lock: threading.Lock = field(default_factory=threading.Lock)
    typing: dict = field(default_factory=dict)  # session → the question text its last keystroke sent
    prefills: list = field(default_factory=list)  # (partial question, prompt tokens cached) of the last prefills
    model_load: Future | None = None  # the default model, read since start-up (preload_models)
    encoder: object = None  # rag.embedding_process.EncoderProcess: the embedder loading in a child since start-up

    def __post_init__(self) -> None:
        if self.store is None:
            from rag.store import open_store

            self.store = open_store(self.settings)

    def close(self) -> None:
        """Stop the embedding process, if one was started (the models in this process go with it), and release the
        store's connection."""
        if self.encoder is not None:
            self.encoder.close()
        self.store.close()

    def preload_models(self) -> None:
        """Start loading both models now: the embedder in a child process (importing torch and sentence-transformers
        there, on the other core, instead of after the web page's libraries), and the default model in a thread
        (llama.cpp releases Python's lock while it reads the weights, so the page's libraries import meanwhile)."""
        from rag.embedding_process import EncoderProcess

        self.encoder = EncoderProcess(self.settings)
        future: Future = Future()

        def read() -> None:
            try:
                from rag.generation import load_generator

                future.set_result(load_generator(self.settings))
            except BaseException as exc:  # noqa: BLE001 - handed to load_parts, which shows it on the page
                future.set_exception(exc)

        self.model_load = future
        threading.Thread(target=read, daemon=True, name="rag-model-load").start()

    def status(self, lang: str = FALLBACK) -> str:
        """The status line in language `lang`."""
        key, values = self.status_line
        return words(lang)(key, **values)

    def model_choices(self) -> list[str]:
        """The models a question may use: those loaded, then those loaded on first use."""
        return list(dict.fromkeys([*self.generators, *self.on_demand]))

    def generator(self, name: str):
        """The named model, loaded and warmed up on its first use; one load at a time, never twice."""
        from rag.generation import load_generator

        if name not in self.generators:
            with self.model_lock:
                if name not in self.generators:
                    generator = load_generator(self.settings, name)
                    Pipeline(self.settings, self.retriever, generator).warm_up()
                    self.generators[name] = generator
        return self.generators[name]

    def pipeline(self, model: str | None, k: int | None, strict: bool | None, lang: str = FALLBACK) -> Pipeline:
        """A pipeline over the shared parts (a model offered on demand is loaded now), with this request's settings."""
        if not self.ready.wait(timeout=600) or self.retriever is None or not self.generators:
            import gradio as gr  # already imported by the page that asks

            raise gr.Error(self.error or words(lang)("model_not_loaded"))
        self.refresh_index()
        name = model if model in self.model_choices() else next(iter(self.generators))
        settings = self.settings.resolved(top_k=k, strict=strict)
        return Pipeline(settings, self.retriever, self.generator(name))

    def watch_index(self) -> None:
        """Remember CURRENT as it is now, for the served index just loaded."""
        self.pointer_seen = self.store.signature()

    def refresh_index(self) -> bool:
        """Swap in the version another process committed since the last check; True when it did.

        Costs one stat of CURRENT (one small query for PostgreSQL) when nothing changed. The embedder already
        loaded is reused, never reloaded.
        """
        signature = self.store.signature()
        if self.retriever is None or signature == self.pointer_seen:
            return False
        with self.index_lock:
            if signature == self.pointer_seen:
                return False  # another request swapped it in meanwhile
            try:
                return self._swap_in_current()
            finally:
                # Marked seen only now: a request arriving meanwhile waits on the lock rather than answer
                # from the old version.
                self.pointer_seen = signature

    def _swap_in_current(self) -> bool:
        name = self.store.current_version()
        if name is None or name == self.retriever.index.version:
            return False  # a damaged CURRENT, or our own upload's version: keep serving what is loaded
        try:
            index = load_index(self.settings.index_dir) if self.store.kind == "faiss" else self.store.load()
        except IndexProblem as exc:
            print(f"warning: keeping the loaded index: {exc}", file=sys.stderr)
            return False
        if index.version != name:
            return False  # it fell back to an older version: no better than the one loaded
        self.retriever = self.retriever_for(index)  # under the index lock: the next question waits for its warm-up
        self.status_line = ready_status(self)
        return True

    def retriever_for(self, index) -> Retriever:
        """A retriever over a new index with the embedder already loaded, warmed up before it serves: its first
        answer's check does not pay for what it reads once (the names across languages)."""
        retriever = Retriever(index, self.retriever.embedder, self.settings)
        retriever.warm_up()
        return retriever


def load_parts(state: AppState) -> None:
    """Load index, embedder and model once (both models started by preload_models, when it ran), say ready, then
    warm up; the page shows the status meanwhile."""
    from rag.generation import load_generator
    from rag.retrieval import load_retriever

    started = time.perf_counter()
    try:
        state.status_line = ("status_loading_index", {})
        state.watch_index()  # before loading: a commit made during the load is picked up at the first question
        embedder = state.encoder.embedder() if state.encoder else None
        state.retriever = load_retriever(state.settings, state.store, embedder)
        if state.retriever.index.note:
            print(f"warning: {state.retriever.index.note}", file=sys.stderr)
        state.status_line = ("status_loading_model", {"model": state.settings.llm_model})
        model = state.model_load.result() if state.model_load else load_generator(state.settings)
        state.generators[state.settings.llm_model] = model
        fast = models_dir(state.settings.cache_dir) / PACKAGED_MODELS[FAST_MODEL].filename
        if fast.is_file() and FAST_MODEL != state.settings.llm_model and not state.settings.llm_url:
            state.on_demand.append(FAST_MODEL)
        state.load_seconds = time.perf_counter() - started
        state.status_line = ready_status(state)
        state.ready.set()
        # The warm-up (reading the fixed system prefix once) takes the model's first turn: a question sent
        # meanwhile waits for it rather than reading that same prefix itself, so being ready sooner costs nothing.
        with state.queue.turn():
            for generator in list(state.generators.values()):
                Pipeline(state.settings, state.retriever, generator).warm_up()
    except Exception as exc:  # noqa: BLE001 - any load failure is shown on the page, not swallowed
        state.error = str(exc)
        state.status_line = ("status_error", {"error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)  # for whoever started the server, beside the page's status
    finally:
        state.ready.set()
        state.warmed.set()


def ready_status(state: AppState) -> tuple[str, dict]:
    """The status line once loaded: documents, models, load time."""
    n_docs = len(state.retriever.index.documents) if state.retriever else 0
    models = ", ".join(state.model_choices())
    return "status_ready", {"documents": n_docs, "models": models, "seconds": float(state.load_seconds)}
