"""OpenAI-compatible chat API (`GET /v1/models`, `POST /v1/chat/completions`) on the same port as the web chat.

Any client of the OpenAI chat API (the `openai` package, Open WebUI, LibreChat, editors) can ask the documents.
The last user message is the question, the earlier user/assistant messages the conversation. `content` is the
checked answer with its `[n]` markers; the citations, notes and passages travel in the extra field `rag` (the
JSON contract of `rag ask --json`) of the non-streamed response and of the last streamed chunk, with the time
the request waited for the model in `rag_queue_ms` (and the `X-RAG-Queue-Ms` header when not streamed).

Questions from the web chat and from this API take turns on the one loaded model through `ui.model_queue.ModelQueue`, first
come first served.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rag.cli import is_loopback
from ui.model_queue import QueueCancelled, QueueTimeout


# ---------------------------------------------------------------- requests


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") in ("text", "input_text"))
    return ""


ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def split_messages(messages: Any, max_turns: int | None = None, max_chars: int | None = None) -> tuple[str, list[dict]]:
    """(question, history): the last user message, and the user/assistant messages before it.

    ValueError (one line) for a list that is not one, a message without a known role or whose content is not
    text or parts, and, with the limits, more than max_turns earlier messages or max_chars characters in all.
    """
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    if max_turns is not None and len(messages) > max_turns + 1:
        raise ValueError(f"the conversation is too long ({len(messages)} messages, limit {max_turns + 1})")
    total = 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ValueError(f"messages[{i}] must be an object with a 'role' ({', '.join(ROLES)}) and a 'content'")
        content = m.get("content")
        if not (content is None or isinstance(content, (str, list))) or (m["role"] == "user" and content is None):
            raise ValueError(f"messages[{i}] ({m['role']}) must have a 'content': text or a list of parts")
        total += len(_text(content))
        if max_chars is not None and total > max_chars:
            raise ValueError(f"the conversation is too large (more than {max_chars} characters)")
    turns = [m for m in messages if m.get("role") in ("user", "assistant")]
    last = max((i for i, m in enumerate(turns) if m["role"] == "user"), default=None)
    if last is None:
        raise ValueError("no user message: the last user message is the question")
    history = [{"role": m["role"], "content": _text(m.get("content"))} for m in turns[:last]]
    return _text(turns[last].get("content")), history


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, read only up to `limit` bytes (a larger body is refused before it is parsed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ValueError(f"the request body is too large ({int(declared)} bytes, limit {limit})")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise ValueError(f"the request body is too large (more than {limit} bytes)")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None


def _authorized(request: Request, api_key: str) -> bool:
    """With a key, every request needs `Authorization: Bearer <key>`; without one, only loopback clients pass."""
    if api_key:
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())
    client = request.client.host if request.client else ""
    return bool(client) and is_loopback(client)


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None, **extra) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


class _Run:
    """One question answered in a thread of its own, its results handed to the event loop through a queue."""

    def __init__(self, state, pipeline, question: str, history: list[dict], timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.items: asyncio.Queue = asyncio.Queue()
        self.stop = threading.Event()
        self.args = (state, pipeline, question, history, timeout)
        threading.Thread(target=self._work, daemon=True, name="rag-api-request").start()

    def _put(self, kind: str, value: Any = None) -> None:
        self.loop.call_soon_threadsafe(self.items.put_nowait, (kind, value))

    def _work(self) -> None:
        state, pipeline, question, history, timeout = self.args
        try:
            waited = state.queue.acquire(timeout, self.stop)
        except (QueueTimeout, QueueCancelled) as exc:
            self._put("error", exc)
            self._put("end")
            return
        try:
            self._put("queued", waited)
            for item in pipeline.stream(question, history):
                if self.stop.is_set():
                    break  # the client went away: the model stops writing
                self._put("item", item)
        except Exception as exc:  # noqa: BLE001 - reported to the client
            self._put("error", exc)
        finally:
            state.queue.release()
            self._put("end")

    async def events(self):
        while True:
            kind, value = await self.items.get()
            if kind == "end":
                return
            yield kind, value


def _problem_response(exc: BaseException) -> JSONResponse:
    from rag.index import IndexProblem
    from rag.pipeline import QuestionError

    if isinstance(exc, QueueTimeout):
        return _error(503, "the model is busy: too many questions are waiting, try again later", "server_error", "queue_timeout")
    if isinstance(exc, QuestionError):
        return _error(400, str(exc), code="bad_question")
    if isinstance(exc, IndexProblem):
        return _error(503, str(exc), "server_error", "index_unavailable")
    return _error(500, f"{type(exc).__name__}: {exc}", "server_error")


def register_routes(app: FastAPI, state) -> None:
    """Add /health, /v1/models and /v1/chat/completions to `app` (before the web chat is mounted at /)."""

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path.startswith("/v1/") and not _authorized(request, state.settings.api_key):
            why = "a valid API key is required (Authorization: Bearer ...)" if state.settings.api_key else (
                "this server accepts API requests from this machine only (start it with --api-key to allow others)"
            )
            return _error(401, why, "authentication_error", "invalid_api_key")
        return await call_next(request)

    @app.get("/health")
    async def health():
        """200 once the models are loaded, 503 while they load or after a failed load (as llama.cpp's server)."""
        if not state.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        if state.error:
            return JSONResponse({"status": "error"}, status_code=503)  # the why is on the page: this one needs no key
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models():
        names = state.model_choices() or [state.settings.llm_model]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "rag"} for n in names]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        from rag.pipeline import check_question
        from rag.types import Answer

        from rag.history import json_limit
        from rag.settings import valid

        settings = state.settings
        # Bytes: JSON of the longest conversation and question the settings allow, in UTF-8, plus room for options.
        limit = 4 * (json_limit(settings.history_max_turns, settings.history_max_chars) + 6 * settings.max_question_chars) + 65536
        try:
            body = await read_json(request, limit)
        except ValueError as exc:
            status = 413 if "too large" in str(exc) else 400
            return _error(status, str(exc), code="request_too_large" if status == 413 else None)
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        try:
            question, history = split_messages(body.get("messages"), settings.history_max_turns, settings.history_max_chars)
        except ValueError as exc:
            return _error(400, str(exc), code="bad_messages")
        try:
            check_question(question, settings)
        except ValueError as exc:  # QuestionError is a ValueError
            return _error(400, str(exc), code="bad_question")
        options = body.get("rag") if isinstance(body.get("rag"), dict) else {}
        k = options.get("k", body.get("top_k"))
        strict = options.get("strict")
        try:
            k = None if k is None else valid("top_k", k)
            strict = None if strict is None else valid("strict", strict)
        except ValueError as exc:
            return _error(400, str(exc), code="bad_option")
        model = body.get("model") or ""
        if not isinstance(model, str):
            return _error(400, "'model' must be a model name (text)", code="model_not_found")
        await asyncio.get_running_loop().run_in_executor(None, state.ready.wait, 600)
        if state.retriever is None or not state.generators:
            return _error(503, state.error or "the models are still loading", "server_error", "not_ready")
        if model and model not in state.model_choices():
            return _error(404, f"model '{model[:80]}' is not loaded here (available: {', '.join(state.model_choices())})", code="model_not_found")
        try:
            # In a worker thread: a model offered on demand is loaded on its first question.
            pipeline = await asyncio.get_running_loop().run_in_executor(None, state.pipeline, model or None, k, strict)
        except Exception as exc:  # noqa: BLE001
            return _problem_response(exc)
        name = pipeline.generator.name
        run = _Run(state, pipeline, question, history, state.settings.api_queue_timeout)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        if not body.get("stream"):
            answer, waited = None, 0.0
            try:
                async for kind, value in run.events():
                    if kind == "error":
                        return _problem_response(value)
                    if kind == "queued":
                        waited = value
                    elif isinstance(value, Answer):
                        answer = value
            finally:
                run.stop.set()
            if answer is None:
                return _error(500, "no answer was produced", "server_error")
            queue_ms = round(waited * 1000, 1)
            body_out = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop"}],
                "usage": _usage(pipeline, answer),
                "rag": answer.to_dict(),
                "rag_queue_ms": queue_ms,
            }
            return JSONResponse(body_out, headers={"X-RAG-Queue-Ms": str(queue_ms)})

        live = state.settings.api_stream == "live"

        async def events():
            waited, shown = 0.0, ""
            try:
                yield _chunk(cid, created, name, {"role": "assistant", "content": ""})
                async for kind, value in run.events():
                    if kind == "error":
                        problem = json.loads(_problem_response(value).body)
                        yield f"data: {json.dumps(problem, ensure_ascii=False)}\n\n"
                        return
                    if kind == "queued":
                        waited = value
                    elif isinstance(value, Answer):
                        text = value.answer
                        if live and shown.strip() and shown.strip() != text.strip():
                            text = "\n\n---\n" + text  # the check changed what was streamed: the checked answer follows
                        elif live:
                            text = ""
                        if text:
                            yield _chunk(cid, created, name, {"content": text})
                        yield _chunk(
                            cid, created, name, {}, "stop",
                            usage=_usage(pipeline, value), rag=value.to_dict(), rag_queue_ms=round(waited * 1000, 1),
                        )
                    elif live:
                        shown += value
                        yield _chunk(cid, created, name, {"content": value})
                yield "data: [DONE]\n\n"
            finally:
                run.stop.set()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _usage(pipeline, answer) -> dict:
    """Token counts as the model's tokenizer sees them (prompt: the numbered passages and the question)."""
    try:
        prompt = sum(pipeline.generator.count_tokens(p.text) for p in answer.passages) + pipeline.generator.count_tokens(answer.question)
        completion = pipeline.generator.count_tokens(answer.raw_answer or answer.answer)
    except Exception:  # noqa: BLE001 - informative only
        prompt = completion = 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
