"""Who may use the OpenAI-compatible API, refusing exposed binds, and fair turns on the model (no model loaded)."""
from __future__ import annotations

import threading
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag.cli import main
from rag.settings import Settings
from ui.model_queue import ModelQueue, QueueTimeout
from ui.openai_api import register_routes, split_messages


class _State:
    def __init__(self, **settings) -> None:
        self.settings = Settings().resolved(**settings)
        self.generators = {"m": object()}
        self.ready = threading.Event()
        self.error = ""

    def model_choices(self) -> list[str]:
        return list(self.generators)


def _app(client_host: str, **settings) -> TestClient:
    app = FastAPI()
    register_routes(app, _State(**settings))
    return TestClient(app, client=(client_host, 50000))


def test_loopback_needs_no_key_when_none_is_configured():
    assert _app("127.0.0.1").get("/v1/models").status_code == 200
    assert _app("::1").get("/v1/models").status_code == 200


def test_other_clients_are_refused_without_a_key():
    reply = _app("192.0.2.7").get("/v1/models")
    assert reply.status_code == 401 and "--api-key" in reply.json()["error"]["message"]


def test_a_configured_key_is_required_from_everyone():
    for host in ("127.0.0.1", "192.0.2.7"):
        client = _app(host, api_key="s3cret")
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_health_tells_loading_from_ready_and_from_a_failed_load():
    state = _State()
    app = FastAPI()
    register_routes(app, state)
    client = TestClient(app, client=("192.0.2.7", 50000))  # no key needed: it says nothing of the documents
    reply = client.get("/health")
    assert (reply.status_code, reply.json()) == (503, {"status": "loading"})
    state.ready.set()
    assert (client.get("/health").status_code, client.get("/health").json()) == (200, {"status": "ok"})
    state.error = "no such model file: /models/x.gguf"
    reply = client.get("/health")
    assert reply.status_code == 503 and reply.json() == {"status": "error"}


@pytest.mark.parametrize(
    "args, refused",
    [
        (["serve", "--host", "0.0.0.0"], True),
        (["serve", "--host", "0.0.0.0", "--api-key", "k"], False),
        (["serve", "--host", "0.0.0.0", "--auth", "u:p"], False),
        (["serve", "--host", "127.0.0.1"], False),
    ],
)
def test_serve_refuses_a_network_bind_without_login_or_key(args, refused, monkeypatch, capsys):
    import ui.app
    import ui.state

    started = []
    monkeypatch.delenv("RAG_API_KEY", raising=False)
    monkeypatch.setattr(ui.state.AppState, "preload_models", lambda self: None)
    monkeypatch.setattr(ui.app, "launch", lambda settings, share=False, auth=None, state=None: started.append(settings))
    code = main(args)
    err = capsys.readouterr().err
    assert (code == 2) == refused and bool(started) != refused
    if refused:
        assert "--api-key" in err and "--auth" in err
    else:
        assert started[0].api_key == ("k" if "--api-key" in args else "")


def test_the_last_user_message_is_the_question_and_the_rest_history():
    question, history = split_messages(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "Qui est LeCun ?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Un chercheur [1]."}]},
            {"role": "user", "content": "Et Wang ?"},
        ]
    )
    assert question == "Et Wang ?"
    assert history == [{"role": "user", "content": "Qui est LeCun ?"}, {"role": "assistant", "content": "Un chercheur [1]."}]
    with pytest.raises(ValueError):
        split_messages([{"role": "assistant", "content": "x"}])


def test_the_model_queue_serves_in_arrival_order_and_lets_waiters_give_up():
    queue = ModelQueue()
    order: list[int] = []
    queue.acquire()
    threads = []
    for i in range(5):
        thread = threading.Thread(target=lambda i=i: (queue.acquire(), order.append(i), queue.release()))
        thread.start()
        threads.append(thread)
        while queue.waiting < i + 1:
            time.sleep(0.01)
    with pytest.raises(QueueTimeout):
        queue.acquire(timeout=0.1)  # gives up without blocking the line
    assert queue.waiting == 5
    queue.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == [0, 1, 2, 3, 4]


class _FakePipeline:
    """Writes two pieces, then a checked answer that differs from them (as a withheld answer does)."""

    def __init__(self, checked: str) -> None:
        self.checked = checked
        self.generator = type("G", (), {"name": "m", "count_tokens": staticmethod(lambda text: len(text.split()))})()

    def stream(self, question, history):
        from rag.types import Answer

        yield "Il a investi "
        yield "14 milliards [1]."
        yield Answer(question, self.checked, False, "fr", [], [], [], [], "m", {"retrieve": 1.0, "first_token": 2.0, "total": 3.0})


class _ReadyState(_State):
    def __init__(self, checked: str, **settings) -> None:
        super().__init__(**settings)
        self.ready = threading.Event()
        self.ready.set()
        self.retriever = object()
        self.error = ""
        self.queue = ModelQueue()
        self.fake = _FakePipeline(checked)

    def pipeline(self, model, k, strict):
        return self.fake


def _stream(state) -> tuple[str, dict]:
    import json

    app = FastAPI()
    register_routes(app, state)
    client = TestClient(app, client=("127.0.0.1", 50000))
    with client.stream("POST", "/v1/chat/completions", json={"stream": True, "messages": [{"role": "user", "content": "Combien ?"}]}) as reply:
        lines = [line for line in reply.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "rag" not in chunks[-2]
    return content, chunks[-1]


@pytest.mark.parametrize("checked", ["Il a investi 14 milliards [1].", "Je ne trouve pas la réponse dans les documents."])
def test_streamed_content_is_the_checked_answer_by_default(checked):
    content, last = _stream(_ReadyState(checked))
    assert content == checked == last["rag"]["answer"]
    assert last["rag"]["question"] == "Combien ?" and last["rag_queue_ms"] >= 0


def test_live_streaming_appends_the_checked_answer_when_the_check_changed_it():
    content, last = _stream(_ReadyState("Il a investi 14 milliards [1].", api_stream="live"))
    assert content == "Il a investi 14 milliards [1]."  # unchanged: nothing appended
    content, last = _stream(_ReadyState("Je ne trouve pas la réponse dans les documents.", api_stream="live"))
    assert content == "Il a investi 14 milliards [1].\n\n---\nJe ne trouve pas la réponse dans les documents."


def test_try_acquire_takes_only_an_idle_model_and_never_waits():
    """The prefill's way in: it gets the model when nobody holds it or waits for it, else gives up at once."""
    queue = ModelQueue()
    assert queue.try_acquire()
    assert not queue.try_acquire()  # held
    queue.release()
    queue.acquire()
    waiter = threading.Thread(target=lambda: (queue.acquire(), queue.release()))
    waiter.start()
    while queue.waiting < 1:
        time.sleep(0.01)
    queue.release()
    started = time.perf_counter()
    while waiter.is_alive():
        assert not queue.try_acquire() or queue.release()  # a waiter goes first: never taken from it
        waiter.join(timeout=0.01)
    assert time.perf_counter() - started < 5
    assert queue.try_acquire()
    queue.release()
