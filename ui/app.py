"""The Gradio chat: streamed answers, clickable citations, documents panel, settings, and an API."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from rag.documents import SUPPORTED_SUFFIXES, slugify
from rag.gguf import PACKAGED_MODELS, models_dir
from rag.history import HistoryError, parse_history
from rag.index import IndexProblem, load_index
from rag.pipeline import Answer, Pipeline, QuestionError, check_question
from rag.retrieval import Retriever
from rag.settings import Settings, valid
from ui import render
from ui.openai_api import ModelQueue

FAST_MODEL = "qwen2.5-0.5b"


@dataclass
class AppState:
    """What the server loads once at start-up and shares between sessions."""

    settings: Settings
    retriever: Retriever | None = None
    generators: dict = field(default_factory=dict)
    status: str = "Chargement… / Loading…"
    error: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
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

    def __post_init__(self) -> None:
        if self.store is None:
            from rag.store import open_store

            self.store = open_store(self.settings)

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

    def pipeline(self, model: str | None, k: int | None, strict: bool | None) -> Pipeline:
        """A pipeline over the shared parts (a model offered on demand is loaded now), with this request's settings."""
        if not self.ready.wait(timeout=600) or self.retriever is None or not self.generators:
            raise gr.Error(self.error or "the model is not loaded")
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
        self.retriever = Retriever(index, self.retriever.embedder, self.settings)
        self.status = ready_status(self)
        return True


def load_parts(state: AppState) -> None:
    """Load index, embedder and model(s) once, then warm up; the page shows the status meanwhile."""
    from rag.generation import load_generator
    from rag.retrieval import load_retriever

    started = time.perf_counter()
    try:
        state.status = "Chargement de l'index et des embeddings… / Loading index and embeddings…"
        state.watch_index()  # before loading: a commit made during the load is picked up at the first question
        state.retriever = load_retriever(state.settings, state.store)
        if state.retriever.index.note:
            print(f"warning: {state.retriever.index.note}", file=sys.stderr)
        state.status = f"Chargement du modèle {state.settings.llm_model}… / Loading the model…"
        state.generators[state.settings.llm_model] = load_generator(state.settings)
        fast = models_dir(state.settings.cache_dir) / PACKAGED_MODELS[FAST_MODEL].filename
        if fast.is_file() and FAST_MODEL != state.settings.llm_model and not state.settings.llm_url:
            state.on_demand.append(FAST_MODEL)
        for generator in state.generators.values():
            Pipeline(state.settings, state.retriever, generator).warm_up()
        state.load_seconds = time.perf_counter() - started
        state.status = ready_status(state)
    except Exception as exc:  # noqa: BLE001 - any load failure is shown on the page, not swallowed
        state.error = str(exc)
        state.status = f"Erreur / Error: {exc}"
    finally:
        state.ready.set()


def ready_status(state: AppState) -> str:
    n_docs = len(state.retriever.index.documents) if state.retriever else 0
    models = ", ".join(state.model_choices())
    return f"Prêt / Ready · {n_docs} documents · modèles / models: {models} · chargé en {state.load_seconds:.1f} s"


# ---------------------------------------------------------------- chat


def _history_for_model(turns: list[tuple[int, Answer]]) -> list[dict]:
    history: list[dict] = []
    for _, answer in turns[-2:]:
        history += [{"role": "user", "content": answer.question}, {"role": "assistant", "content": answer.answer}]
    return history


def respond(state: AppState, message: str, chat: list, turns: list, model: str, k: int, strict: bool):
    """Stream the answer into the chat, then replace it with the checked answer and show its sources."""
    message = (message or "").strip()
    if not message:
        gr.Warning("La question est vide. / The question is empty.")
        yield chat, turns, render.sources_panel(turns), message
        return
    chat = list(chat) + [{"role": "user", "content": render.escape_text(message)}, {"role": "assistant", "content": "…"}]
    yield chat, turns, render.sources_panel(turns), ""
    try:
        check_question(message, state.settings)  # refused at once, not after waiting for a turn on the model
        pipeline = state.pipeline(model, int(k), bool(strict))
        partial = ""
        # Its turn on the model, after API requests that came first; released when the answer is done or stopped.
        with state.queue.turn():
            started = time.perf_counter()
            prepared = pipeline.prepare(message, _history_for_model(turns))
            # The evidence is shown before the model reads its prompt, which takes most of the wait on a slow CPU.
            chat[-1] = {"role": "assistant", "content": render.WRITING}
            yield chat, turns, render.evidence_panel(prepared.passages), ""
            for item in pipeline.write(prepared, started):
                if isinstance(item, Answer):
                    turn = len(turns) + 1
                    turns = list(turns) + [(turn, item)]
                    chat[-1] = {"role": "assistant", "content": render.answer_markdown(item, turn)}
                    yield chat, turns, render.sources_panel(turns), ""
                else:
                    partial += item
                    chat[-1] = {"role": "assistant", "content": render.streaming_text(partial)}
                    yield chat, turns, gr.skip(), ""
    except QuestionError as exc:
        chat[-1] = {"role": "assistant", "content": render.escape_text(f"⚠ {exc}")}
        yield chat, turns, render.sources_panel(turns), ""


def prefill(state: AppState, text: str, turns: list, model: str, k: int, session: str = "") -> None:
    """While a question is typed: after a pause in typing, when the model is idle, find the passages of the text so
    far and have the model read its prompt up to the question. A sent question that finds the same passages then
    reads only its own words; one that does not loses nothing but the prefill's last slice (it yields the model)."""
    text = (text or "").strip()
    settings = state.settings
    if not settings.prefill or len(text) < settings.prefill_min_chars or not state.ready.is_set() or state.retriever is None:
        return
    state.typing[session] = text
    time.sleep(settings.prefill_debounce_ms / 1000)
    if state.typing.get(session) != text:
        return  # typed on since: the later keystroke's call prefills
    generator = state.generators.get(model) or (None if model in state.on_demand else next(iter(state.generators.values()), None))
    if generator is None or not state.queue.try_acquire():
        return  # a model not loaded yet, or busy: an answer never waits for a prefill
    try:
        pipeline = Pipeline(settings.resolved(top_k=int(k)), state.retriever, generator)
        _, cached = pipeline.prefill(text, _history_for_model(turns), stop=lambda: state.queue.waiting > 0)
        state.prefills = state.prefills[-9:] + [(text, cached)]
    except Exception as exc:  # noqa: BLE001 - a prefill is optional: it must never show an error to the user
        print(f"warning: prefill skipped: {exc}", file=sys.stderr)
    finally:
        state.queue.release()


def new_conversation():
    return [], [], render.sources_panel([]), ""


# ---------------------------------------------------------------- documents


def documents_table(state: AppState) -> list[list]:
    if state.retriever is None:
        return []
    state.refresh_index()
    docs = state.retriever.index.manifest["documents"]
    return [
        [doc_id, meta["title"], meta["n_chunks"], (meta.get("added_at") or "")[:16].replace("T", " "), meta["source"]]
        for doc_id, meta in docs.items()
    ]


def _doc_choices(state: AppState) -> list[tuple[str, str]]:
    return [(f"{row[1][:60]} ({row[0]})", row[0]) for row in documents_table(state)]


def _swap_index(state: AppState, index) -> None:
    """Serve the new index from the next question on; the embedder stays the one already loaded."""
    if index is not None and state.retriever is not None:
        with state.index_lock:
            state.retriever = Retriever(index, state.retriever.embedder, state.settings)
            state.status = ready_status(state)


def _copy_whole(src: Path, dest: Path) -> None:
    """Copy under a hidden name, then rename: a crash never leaves a truncated file where an ingest would read it."""
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    for stale in dest.parent.glob(".*.part"):
        if not _alive(stale.suffixes[-2].lstrip(".")):
            stale.unlink(missing_ok=True)  # left by a server killed mid-copy
    shutil.copyfile(src, part)
    os.replace(part, dest)


def _alive(pid: str) -> bool:
    """Whether a process with this id runs (a non-number counts as gone)."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def upload(state: AppState, files: list | None, progress=gr.Progress()):
    """Copy uploaded files next to the index, ingest them, and swap the index in without restarting."""
    from rag.ingest import ingest

    if not state.ready.wait(timeout=600) or state.retriever is None:
        raise gr.Error(state.error or "not ready")
    files = files or []
    if not files:
        return "Aucun fichier. / No file.", documents_table(state), gr.update(choices=_doc_choices(state)), None
    limit = state.settings.max_upload_mb * 1024 * 1024
    messages, accepted = [], []
    uploads = state.settings.uploads_dir
    uploads.mkdir(parents=True, exist_ok=True)
    for file in files:
        src = Path(file if isinstance(file, str) else file.name)
        name = Path(getattr(file, "orig_name", None) or src.name).name
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            messages.append(f"❌ {name}: type non pris en charge / unsupported type (use {', '.join(SUPPORTED_SUFFIXES)})")
            continue
        if src.stat().st_size > limit:
            messages.append(f"❌ {name}: trop gros / too large (limit {state.settings.max_upload_mb} MB)")
            continue
        dest = uploads / (slugify(Path(name).stem) + Path(name).suffix.lower())
        _copy_whole(src, dest)
        accepted.append(dest)

    def on_progress(done: int, total: int, doc_id: str) -> None:
        progress(done / max(total, 1), desc=f"embedding {doc_id}")

    if accepted:
        with state.write_lock, state.queue.turn():  # the embedder is the pipeline's too
            report, index = ingest(accepted, state.settings, state.retriever.embedder, progress=on_progress)
        _swap_index(state, index)
        failed = {Path(e.split(":")[0]).name for e in report.errors}
        for path in accepted:
            if path.name in failed:
                path.unlink(missing_ok=True)  # keep nothing that is not indexed
        messages += [f"❌ {e}" for e in report.errors]
        messages += [f"✅ {d}" for d in report.added + report.updated]
        messages += [f"= {d} (inchangé / unchanged)" for d in report.unchanged]
    return "\n".join(messages), documents_table(state), gr.update(choices=_doc_choices(state)), None


def remove(state: AppState, doc_id: str | None):
    from rag.ingest import remove_documents

    if not doc_id:
        return "Choisissez un document. / Choose a document.", documents_table(state), gr.update(choices=_doc_choices(state))
    state.refresh_index()
    doc = state.retriever.index.documents.get(doc_id) if state.retriever else None
    with state.write_lock, state.queue.turn():
        removed, unknown, index = remove_documents([doc_id], state.settings)
    _swap_index(state, index)
    if removed and doc is not None:
        source = Path(doc.source).resolve()
        if source.is_file() and state.settings.uploads_dir.resolve() in source.parents:
            source.unlink()  # an uploaded copy goes with its document; files the user placed stay
    text = f"Supprimé / removed: {', '.join(removed)}" if removed else f"Inconnu / unknown: {doc_id}"
    return text, documents_table(state), gr.update(choices=_doc_choices(state), value=None)


# ---------------------------------------------------------------- API (gradio_client)


def api_ask(state: AppState, question: str, history_json: str = "[]", model: str = "", k: int = 4, strict: bool = True) -> dict:
    """Answer one question; returns the same JSON object as `rag ask --json`.

    Everything a request sends is checked before it waits for the model: the question, the history (shape, turns
    and size bounded by the settings), k within the settings' bounds, and the model among those loaded. Each
    refusal is one line.
    """
    settings = state.settings
    try:
        history = parse_history(history_json, settings.history_max_turns, settings.history_max_chars)
    except HistoryError as exc:
        raise gr.Error(f"history_json: {exc}") from None
    try:
        check_question(question if isinstance(question, str) else "", settings)
        k = valid("top_k", k)
        strict = valid("strict", strict)
    except ValueError as exc:  # QuestionError is a ValueError
        raise gr.Error(str(exc)) from None
    pipeline = state.pipeline(model or None, k, strict)
    if model and model not in state.model_choices():
        raise gr.Error(f"model '{str(model)[:80]}' is not loaded here (available: {', '.join(state.model_choices())})")
    try:
        with state.queue.turn():
            answer = pipeline.ask(question, history)
    except QuestionError as exc:
        raise gr.Error(str(exc)) from None
    return answer.to_dict()


def api_documents(state: AppState) -> list[dict]:
    """The indexed documents."""
    state.ready.wait(timeout=600)
    keys = ["doc_id", "title", "n_chunks", "added_at", "source"]
    return [dict(zip(keys, row)) for row in documents_table(state)]


# ---------------------------------------------------------------- layout

API_HELP = """
Les mêmes fonctions sont accessibles par l'API Gradio / The same functions are available through Gradio's API:

```python
from gradio_client import Client
client = Client("http://127.0.0.1:7860/")
answer = client.predict("Combien Meta a-t-il investi dans Scale AI ?", "[]", "", 4, True, api_name="/ask")
print(answer["answer"], answer["citations"][0]["quote"])
docs = client.predict(api_name="/documents")
```

Et l'API de chat d'OpenAI / And the OpenAI chat API (Open WebUI, LibreChat, `openai`), base URL `/v1`:

```python
from openai import OpenAI
client = OpenAI(base_url="http://127.0.0.1:7860/v1", api_key="unused-on-loopback")
reply = client.chat.completions.create(model="qwen2.5-coder-1.5b", messages=[{"role": "user", "content": "Qui est Yann LeCun ?"}])
print(reply.choices[0].message.content, reply.model_extra["rag"]["citations"])
```
"""


def build_app(state: AppState) -> gr.Blocks:
    with gr.Blocks(title="Questions sur vos documents") as app:
        gr.Markdown("## Questions sur vos documents · Ask your documents\nRéponses citées, vérifiables, hors ligne. Cited, checkable answers, offline.")
        status = gr.Markdown(state.status, elem_id="status")
        turns = gr.State([])
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(elem_id="chat", height=520, sanitize_html=True, feedback_options=None, buttons=["copy"])
                    question = gr.Textbox(
                        placeholder="Posez votre question, dans votre langue… / Ask in your language…",
                        show_label=False,
                        elem_id="question",
                        max_lines=6,
                    )
                    with gr.Row():
                        send = gr.Button("Envoyer / Send", variant="primary", elem_id="send")
                        stop = gr.Button("Arrêter / Stop", elem_id="stop")
                        new = gr.Button("Nouvelle conversation / New conversation", elem_id="new")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(render.sources_panel([]), elem_id="sources")
        with gr.Tab("Documents"):
            table = gr.Dataframe(
                headers=["id", "titre / title", "chunks", "ajouté / added", "fichier / file"],
                value=lambda: documents_table(state),
                interactive=False,
                elem_id="documents",
            )
            files = gr.File(file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label="Ajouter / Add (.txt .md .html .pdf)", elem_id="upload")
            upload_btn = gr.Button("Indexer / Index", elem_id="index-files")
            upload_log = gr.Textbox(label="Résultat / Result", interactive=False, elem_id="upload-log", lines=3)
            with gr.Row():
                doc_pick = gr.Dropdown(choices=_doc_choices(state), label="Document", elem_id="doc-pick")
                remove_btn = gr.Button("Supprimer / Remove", variant="stop", elem_id="remove")
        with gr.Tab("Réglages / Settings"):
            model = gr.Dropdown(
                choices=[state.settings.llm_model, FAST_MODEL],
                value=state.settings.llm_model,
                label="Modèle / Model (qualité / quality · rapide / fast)",
                elem_id="model",
            )
            k = gr.Slider(1, 8, value=state.settings.top_k, step=1, label="Passages récupérés / Retrieved passages", elem_id="k")
            strict = gr.Checkbox(value=state.settings.strict, label="Mode strict : masquer les réponses non étayées / hide unsupported answers", elem_id="strict")
        with gr.Tab("API"):
            gr.Markdown(API_HELP)

        inputs = [question, chat, turns, model, k, strict]
        outputs = [chat, turns, sources, question]
        ask_event = send.click(lambda *a: (yield from respond(state, *a)), inputs, outputs, concurrency_id="model", api_visibility="private")
        submit_event = question.submit(lambda *a: (yield from respond(state, *a)), inputs, outputs, concurrency_id="model", api_visibility="private")
        def on_typing(text: str, t: list, m: str, kk: int, request: gr.Request) -> None:
            prefill(state, text, t, m, kk, getattr(request, "session_hash", None) or "")

        question.input(
            on_typing,
            [question, turns, model, k],
            None,
            queue=False,  # beside the queue: never behind an answer, which it does not delay either
            trigger_mode="multiple",
            show_progress="hidden",
            api_visibility="private",
        )
        # A stopped answer leaves the citations of the answers before it, not the evidence of the stopped one.
        stop.click(render.sources_panel, turns, sources, cancels=[ask_event, submit_event], queue=False, api_visibility="private")
        new.click(new_conversation, None, outputs, cancels=[ask_event, submit_event], api_visibility="private")
        upload_btn.click(
            lambda f, progress=gr.Progress(): upload(state, f, progress),
            files,
            [upload_log, table, doc_pick, files],
            concurrency_id="model",
            api_visibility="private",
        ).then(lambda: state.status, None, status, api_visibility="private", queue=False)
        remove_btn.click(
            lambda d: remove(state, d), doc_pick, [upload_log, table, doc_pick], concurrency_id="model", api_visibility="private"
        ).then(lambda: state.status, None, status, api_visibility="private", queue=False)

        timer = gr.Timer(1.0)

        def poll():
            done = state.ready.is_set()
            models = gr.update(choices=state.model_choices() or [state.settings.llm_model])
            return state.status, gr.Timer(active=not done), documents_table(state), gr.update(choices=_doc_choices(state)), models

        timer.tick(poll, None, [status, timer, table, doc_pick, model], api_visibility="private", queue=False)

        def ask(question: str, history_json: str = "[]", model: str = "", k: int = 4, strict: bool = True) -> dict:
            return api_ask(state, question, history_json, model, k, strict)

        def documents() -> list[dict]:
            return api_documents(state)

        gr.api(ask, api_name="ask", concurrency_id="model")
        gr.api(documents, api_name="documents")
    return app


class Server:
    """The running `rag serve`: the web chat (Gradio, mounted at /) and the OpenAI-compatible API (/v1) in one
    FastAPI app on one port, served by uvicorn. Attributes of the Gradio Blocks are reachable through it."""

    def __init__(self, blocks: gr.Blocks, api, server, thread: threading.Thread | None) -> None:
        self.blocks = blocks
        self.api = api
        self.server = server
        self.thread = thread

    def __getattr__(self, name: str):
        return getattr(self.blocks, name)

    def close(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=30)
        with contextlib.suppress(Exception):
            self.blocks.close()


def _web_auth(settings: Settings, auth: tuple[str, str] | None):
    """The web chat's login: --auth user:password; else, when only an API key protects a server bound beyond this
    machine, any user name with the API key as password; else none (loopback)."""
    from rag.cli import is_loopback

    if auth:
        return auth
    if settings.api_key and not is_loopback(settings.host):
        import hmac

        return lambda user, password: hmac.compare_digest(str(password).encode(), settings.api_key.encode())
    return None


def build_server(state: AppState, auth: tuple[str, str] | None = None):
    """The FastAPI app: /v1 routes first (a route added after the mount at / would be shadowed), then the chat."""
    from fastapi import FastAPI

    from ui.openai_api import register_routes

    blocks = build_app(state)
    blocks.queue(default_concurrency_limit=1, max_size=64)
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    register_routes(api, state)
    settings = state.settings
    api = gr.mount_gradio_app(
        api,
        blocks,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        auth=_web_auth(settings, auth),
        max_file_size=f"{settings.max_upload_mb}mb",
        theme=gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]),
        css=render.CSS,
        js=render.JS,
        footer_links=["api"],
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    return blocks, api


def launch(settings: Settings, share: bool = False, auth: tuple[str, str] | None = None, block: bool = True):
    """Start the server at once and load the models in the background, showing the status on the page.

    Returns (server, state) when block is False (the server runs in a thread until server.close()).
    """
    import uvicorn

    if share:
        print("warning: --share is not available: the chat and the API are served on this machine only", file=sys.stderr)
    state = AppState(settings)
    threading.Thread(target=load_parts, args=(state,), daemon=True).start()
    blocks, api = build_server(state, auth)
    config = uvicorn.Config(
        api, host=settings.host, port=settings.port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    if block:
        print(f"* web chat on http://{settings.host}:{settings.port}/ · OpenAI-compatible API on http://{settings.host}:{settings.port}/v1", file=sys.stderr)
        server.run()
        return Server(blocks, api, server, None), state
    thread = threading.Thread(target=server.run, daemon=True, name="rag-serve")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError(f"the server did not start on {settings.host}:{settings.port}")
    return Server(blocks, api, server, thread), state
