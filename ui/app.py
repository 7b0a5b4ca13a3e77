"""The Gradio chat: streamed answers, clickable citations, documents panel, settings, and an API.

Its words come from the language files through ui.i18n: the page's labels in the browser's language, what a
handler writes in the language of the request (its Accept-Language), passed down as `lang`.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import gradio as gr

from rag.documents import SUPPORTED_SUFFIXES, slugify
from rag.history import HistoryError, parse_history
from rag.pipeline import Answer, Pipeline, QuestionError, check_question
from rag.settings import Settings, valid
from ui import render
from ui.i18n import FALLBACK, page_i18n, page_titles, request_language, words
from ui.state import FAST_MODEL, AppState, load_parts, ready_status

# ---------------------------------------------------------------- chat


def _history_for_model(turns: list[tuple[int, Answer]]) -> list[dict]:
    history: list[dict] = []
    for _, answer in turns[-2:]:
        history += [{"role": "user", "content": answer.question}, {"role": "assistant", "content": answer.answer}]
    return history


def respond(state: AppState, message: str, chat: list, turns: list, model: str, k: int, strict: bool, lang: str = FALLBACK):
    """Stream the answer into the chat, then replace it with the checked answer and show its sources (the
    product's words in language `lang`; the answer is in the question's)."""
    text = words(lang)
    message = (message or "").strip()
    if not message:
        gr.Warning(text("question_empty"))
        yield chat, turns, render.sources_panel(turns, text), message
        return
    chat = list(chat) + [{"role": "user", "content": render.escape_text(message)}, {"role": "assistant", "content": "…"}]
    yield chat, turns, render.sources_panel(turns, text), ""
    try:
        check_question(message, state.settings)  # refused at once, not after waiting for a turn on the model
        pipeline = state.pipeline(model, int(k), bool(strict), lang)
        partial = ""
        # Its turn on the model, after API requests that came first; released when the answer is done or stopped.
        with state.queue.turn():
            started = time.perf_counter()
            prepared = pipeline.prepare(message, _history_for_model(turns))
            # The evidence is shown before the model reads its prompt, which takes most of the wait on a slow CPU.
            chat[-1] = {"role": "assistant", "content": render.writing(text)}
            yield chat, turns, render.evidence_panel(prepared.passages, text), ""
            for item in pipeline.write(prepared, started):
                if isinstance(item, Answer):
                    turn = len(turns) + 1
                    turns = list(turns) + [(turn, item)]
                    chat[-1] = {"role": "assistant", "content": render.answer_markdown(item, turn, text)}
                    yield chat, turns, render.sources_panel(turns, text), ""
                else:
                    partial += item
                    chat[-1] = {"role": "assistant", "content": render.streaming_text(partial)}
                    yield chat, turns, gr.skip(), ""
    except QuestionError as exc:
        chat[-1] = {"role": "assistant", "content": render.escape_text(f"⚠ {exc.text(lang)}")}
        yield chat, turns, render.sources_panel(turns, text), ""


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


def new_conversation(lang: str = FALLBACK):
    return [], [], render.sources_panel([], words(lang)), ""


# ---------------------------------------------------------------- documents


def documents_table(state: AppState) -> list[list]:
    """One row per indexed document: id, title, chunks, when added, source file."""
    if state.retriever is None:
        return []
    state.refresh_index()
    docs = state.retriever.index.manifest["documents"]
    return [
        [doc_id, meta["title"], meta["n_chunks"], (meta.get("added_at") or "")[:16].replace("T", " "), meta["source"]]
        for doc_id, meta in docs.items()
    ]


def documents_view(state: AppState, lang: str = FALLBACK, **pick) -> tuple[dict, dict]:
    """The documents table (column names in language `lang`) and the Remove dropdown's update (its choices, and
    `pick`), from one reading of the index: both always list the same documents."""
    text = words(lang)
    headers = [text(f"column_{name}") for name in ("id", "title", "chunks", "added", "file")]
    rows = documents_table(state)
    return {"headers": headers, "data": rows}, gr.update(choices=_doc_choices(rows), **pick)


def _doc_choices(rows: list[list]) -> list[tuple[str, str]]:
    return [(f"{row[1][:60]} ({row[0]})", row[0]) for row in rows]


def _swap_index(state: AppState, index) -> None:
    """Serve the new index from the next question on; the embedder stays the one already loaded."""
    if index is not None and state.retriever is not None:
        retriever = state.retriever_for(index)  # before the lock: questions keep the old index meanwhile
        with state.index_lock:
            state.retriever = retriever
            state.status_line = ready_status(state)


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


def upload(state: AppState, files: list | None, progress=gr.Progress(), lang: str = FALLBACK):
    """Copy uploaded files next to the index, ingest them, and swap the index in without restarting; report one
    line per file in language `lang`."""
    from rag.ingest import ingest

    text = words(lang)
    if not state.ready.wait(timeout=600) or state.retriever is None:
        raise gr.Error(state.error or text("not_ready"))
    files = files or []
    if not files:
        return text("no_file"), *documents_view(state, lang), None
    limit = state.settings.max_upload_mb * 1024 * 1024
    messages, accepted = [], []
    uploads = state.settings.uploads_dir
    uploads.mkdir(parents=True, exist_ok=True)
    for file in files:
        src = Path(file if isinstance(file, str) else file.name)
        name = Path(getattr(file, "orig_name", None) or src.name).name
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            messages.append("❌ " + text("unsupported_type", name=name, types=", ".join(SUPPORTED_SUFFIXES)))
            continue
        if src.stat().st_size > limit:
            messages.append("❌ " + text("too_large", name=name, limit=state.settings.max_upload_mb))
            continue
        dest = uploads / (slugify(Path(name).stem) + Path(name).suffix.lower())
        _copy_whole(src, dest)
        accepted.append(dest)

    def on_progress(done: int, total: int, doc_id: str) -> None:
        progress(done / max(total, 1), desc=text("embedding", document=doc_id))

    if accepted:
        with state.write_lock, state.queue.turn():  # the embedder is the pipeline's too
            report, index = ingest(accepted, state.settings, state.retriever.embedder, progress=on_progress, store=state.store)
        _swap_index(state, index)
        failed = {Path(e.path).name for e in report.failures}
        for path in accepted:
            if path.name in failed:
                path.unlink(missing_ok=True)  # keep nothing that is not indexed
        messages += [f"❌ {e.text(lang)}" for e in report.failures]
        messages += [f"✅ {d}" for d in report.added + report.updated]
        messages += ["= " + text("unchanged", document=d) for d in report.unchanged]
    return "\n".join(messages), *documents_view(state, lang), None


def remove(state: AppState, doc_id: str | None, lang: str = FALLBACK):
    """Remove a document from the index (and its uploaded copy); report it in language `lang`."""
    from rag.ingest import remove_documents

    text = words(lang)
    if not doc_id:
        return text("choose_document"), *documents_view(state, lang)
    state.refresh_index()
    doc = state.retriever.index.documents.get(doc_id) if state.retriever else None
    with state.write_lock, state.queue.turn():
        removed, unknown, index = remove_documents([doc_id], state.settings, store=state.store)
    _swap_index(state, index)
    if removed and doc is not None:
        source = Path(doc.source).resolve()
        if source.is_file() and state.settings.uploads_dir.resolve() in source.parents:
            source.unlink()  # an uploaded copy goes with its document; files the user placed stay
    result = text("removed", documents=", ".join(removed)) if removed else text("unknown_document", document=doc_id)
    return result, *documents_view(state, lang, value=None)


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


def page_values(settings: Settings) -> dict[str, str]:
    """What the page's text names of this server: the accepted file types, the default model."""
    return {"types": " ".join(SUPPORTED_SUFFIXES), "model": settings.llm_model}


def page_text(settings: Settings) -> gr.I18n:
    """The page's static text in every language of the [ui] tables, for Gradio to show in the browser's language."""
    return page_i18n(**page_values(settings))


def build_app(state: AppState, i18n: gr.I18n | None = None) -> gr.Blocks:
    """The page. Its static text is `i18n` keys (the same object must be given to mount_gradio_app); what the
    handlers write is in the language of the request."""
    i18n = i18n or page_text(state.settings)
    fallback = words(FALLBACK)
    with gr.Blocks(title=fallback("title")) as app:
        heading = gr.Markdown("## " + i18n("title"))
        subtitle = gr.Markdown(i18n("subtitle"))
        status = gr.Markdown(i18n("status_loading"), elem_id="status")
        turns = gr.State([])
        with gr.Tab(i18n("tab_chat")) as chat_tab:
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        label=i18n("chat_label"), elem_id="chat", height=520, sanitize_html=True, feedback_options=None, buttons=["copy"]
                    )
                    question = gr.Textbox(
                        placeholder=i18n("question_placeholder"),
                        show_label=False,
                        elem_id="question",
                        max_lines=6,
                    )
                    with gr.Row():
                        send = gr.Button(i18n("send"), variant="primary", elem_id="send")
                        stop = gr.Button(i18n("stop"), elem_id="stop")
                        new = gr.Button(i18n("new_conversation"), elem_id="new")
                with gr.Column(scale=2):
                    sources_heading = gr.Markdown("### " + i18n("sources_heading"))
                    sources = gr.HTML("", elem_id="sources")  # filled in the reader's language on load
        with gr.Tab(i18n("tab_documents")) as documents_tab:
            # Gradio does not translate a table's headers: the reader's come with the rows on load
            table = gr.Dataframe(
                headers=[fallback(f"column_{name}") for name in ("id", "title", "chunks", "added", "file")],
                interactive=False,
                elem_id="documents",
            )
            files = gr.File(file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label=i18n("add_files"), elem_id="upload")
            upload_btn = gr.Button(i18n("index_files"), elem_id="index-files")
            upload_log = gr.Textbox(label=i18n("result"), interactive=False, elem_id="upload-log", lines=3)
            with gr.Row():
                doc_pick = gr.Dropdown(choices=_doc_choices(documents_table(state)), value=None, label=i18n("document"), elem_id="doc-pick")  # no document chosen until the user picks one
                remove_btn = gr.Button(i18n("remove"), variant="stop", elem_id="remove")
        with gr.Tab(i18n("tab_settings")) as settings_tab:
            model = gr.Dropdown(
                choices=[state.settings.llm_model, FAST_MODEL],
                value=state.settings.llm_model,
                label=i18n("model"),
                elem_id="model",
            )
            k = gr.Slider(1, 8, value=state.settings.top_k, step=1, label=i18n("passages"), elem_id="k")
            strict = gr.Checkbox(value=state.settings.strict, label=i18n("strict"), elem_id="strict")
        with gr.Tab(i18n("tab_api")) as api_tab:
            api_help = gr.Markdown(i18n("api_help"))

        # The page's words, each (component, property, key, markup before it), as given to the components above.
        # Gradio shows them at once in the browser's language, but its frontend only picks a language it has
        # translations of its own for (Gradio 6.31 has none for Italian): on load they are set again in the
        # request's language, so that every language of the [ui] tables is shown, and in the same language as
        # what the handlers write.
        page_words = [
            (heading, "value", "title", "## "),
            (subtitle, "value", "subtitle", ""),
            (chat_tab, "label", "tab_chat", ""),
            (chat, "label", "chat_label", ""),
            (question, "placeholder", "question_placeholder", ""),
            (send, "value", "send", ""),
            (stop, "value", "stop", ""),
            (new, "value", "new_conversation", ""),
            (sources_heading, "value", "sources_heading", "### "),
            (documents_tab, "label", "tab_documents", ""),
            (files, "label", "add_files", ""),
            (upload_btn, "value", "index_files", ""),
            (upload_log, "label", "result", ""),
            (doc_pick, "label", "document", ""),
            (remove_btn, "value", "remove", ""),
            (settings_tab, "label", "tab_settings", ""),
            (model, "label", "model", ""),
            (k, "label", "passages", ""),
            (strict, "label", "strict", ""),
            (api_tab, "label", "tab_api", ""),
            (api_help, "value", "api_help", ""),
        ]
        values = page_values(state.settings)

        # Every handler below that writes words takes the request, whose Accept-Language names the reader's language.
        timer = gr.Timer(1.0)  # polls while the models load

        def models():
            return gr.update(choices=state.model_choices() or [state.settings.llm_model])

        def on_load(request: gr.Request):
            lang = request_language(request)
            text = words(lang)
            labels = [gr.update(**{prop: markup + text.fill(key, **values)}) for _, prop, key, markup in page_words]
            # A page opened once loading is over never polls: a poll answered after an upload's reply would put
            # the table from before the upload back.
            polling = gr.Timer(active=not state.ready.is_set())
            sources_panel = render.sources_panel([], text)
            return state.status(lang), polling, *documents_view(state, lang), models(), sources_panel, *labels

        app.load(
            on_load,
            None,
            [status, timer, table, doc_pick, model, sources, *(component for component, *_ in page_words)],
            api_visibility="private",
            queue=False,
        )

        def on_ask(message: str, c: list, t: list, m: str, kk: int, s: bool, request: gr.Request):
            yield from respond(state, message, c, t, m, kk, s, request_language(request))

        inputs = [question, chat, turns, model, k, strict]
        outputs = [chat, turns, sources, question]
        ask_event = send.click(on_ask, inputs, outputs, concurrency_id="model", api_visibility="private")
        submit_event = question.submit(on_ask, inputs, outputs, concurrency_id="model", api_visibility="private")

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

        def on_stop(t: list, request: gr.Request) -> str:
            return render.sources_panel(t, words(request_language(request)))

        def on_new(request: gr.Request):
            return new_conversation(request_language(request))

        def status_text(request: gr.Request) -> str:
            return state.status(request_language(request))

        # A stopped answer leaves the citations of the answers before it, not the evidence of the stopped one.
        stop.click(on_stop, turns, sources, cancels=[ask_event, submit_event], queue=False, api_visibility="private")
        new.click(on_new, None, outputs, cancels=[ask_event, submit_event], api_visibility="private")

        def on_upload(f: list | None, request: gr.Request, progress=gr.Progress()):
            return upload(state, f, progress, request_language(request))

        def on_remove(d: str | None, request: gr.Request):
            return remove(state, d, request_language(request))

        upload_btn.click(
            on_upload, files, [upload_log, table, doc_pick, files], concurrency_id="model", api_visibility="private"
        ).then(status_text, None, status, api_visibility="private", queue=False)
        remove_btn.click(
            on_remove, doc_pick, [upload_log, table, doc_pick], concurrency_id="model", api_visibility="private"
        ).then(status_text, None, status, api_visibility="private", queue=False)

        def poll(request: gr.Request):
            lang = request_language(request)
            done = state.ready.is_set()
            # The documents only on the last poll, when loading ends: before it no index is loaded.
            table_update, choices = documents_view(state, lang) if done else (gr.skip(), gr.skip())
            return state.status(lang), gr.Timer(active=not done), table_update, choices, models()

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

    i18n = page_text(state.settings)
    blocks = build_app(state, i18n)
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
        js=render.page_js(page_titles(), FALLBACK),
        i18n=i18n,
        footer_links=["api"],
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    return blocks, api


def launch(
    settings: Settings, share: bool = False, auth: tuple[str, str] | None = None, block: bool = True,
    state: AppState | None = None,
):
    """Start the server at once and load the models in the background, showing the status on the page.

    Returns (server, state) when block is False (the server runs in a thread until server.close()).
    """
    import uvicorn

    if share:
        print("warning: --share is not available: the chat and the API are served on this machine only", file=sys.stderr)
    state = state or AppState(settings)
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
