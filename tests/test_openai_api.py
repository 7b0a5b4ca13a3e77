"""The OpenAI-compatible API of `rag serve`: the official `openai` client (streamed and not) and gradio_client at
the same time, against a real `rag serve` process (the small packaged model, one llama.cpp thread)."""
from __future__ import annotations

import threading

import httpx
import pytest

from conftest import DOCS, FUTURISM, _free_port, start_serve
from rag.bench_service import wait_healthy
from rag.ingest import ingest
from rag.store import open_store

QUESTION = "Combien Meta a-t-il investi dans Scale AI ?"
QUESTIONS = [QUESTION, "Qui est Yann LeCun ?", "Pourquoi Yann LeCun quitte-t-il Meta ?", "Who is Alexandr Wang?"]
MODEL = "smollm2-135m"
CONTRACT = {"id", "question", "answer", "abstained", "lang", "citations", "passages", "notes", "model", "timings_ms"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings_factory, embedder):
    root = tmp_path_factory.mktemp("serve")
    settings = settings_factory(root / "index")
    report, _ = ingest([DOCS], settings, embedder)
    assert not report.errors
    port = _free_port()
    process = start_serve(settings, port, MODEL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url, settings
    finally:
        process.terminate()
        process.wait(timeout=30)


pytestmark = pytest.mark.slow


def _client(url: str):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback", timeout=300)


def _check_citations(rag: dict, settings) -> None:
    documents = open_store(settings).load().documents
    for c in rag["citations"]:
        assert documents[c["doc_id"]].text[c["start"] : c["end"]] == c["quote"]


def test_models_lists_the_loaded_models(server):
    url, _ = server
    models = [m.id for m in _client(url).models.list().data]
    assert models[0] == MODEL


def test_a_completion_carries_the_checked_answer_and_its_citations(server):
    url, settings = server
    reply = _client(url).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}])
    rag = reply.model_extra["rag"]
    assert set(rag) == CONTRACT
    assert reply.object == "chat.completion" and reply.model == MODEL
    assert reply.choices[0].message.content == rag["answer"] and reply.choices[0].finish_reason == "stop"
    assert rag["question"] == QUESTION and rag["model"] == MODEL
    assert any("14 milliards" in p["text"] and p["doc_id"] == FUTURISM for p in rag["passages"])
    assert reply.model_extra["rag_queue_ms"] >= 0
    _check_citations(rag, settings)


def test_a_streamed_completion_ends_with_the_rag_field_and_done(server):
    url, settings = server
    stream = _client(url).chat.completions.create(
        model=MODEL,
        stream=True,
        messages=[
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": "Qui est Yann LeCun ?"},
            {"role": "assistant", "content": "Yann LeCun est un informaticien [1]."},
            {"role": "user", "content": [{"type": "text", "text": "Pourquoi quitte-t-il Meta ?"}]},
        ],
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    rag = last.model_extra["rag"]
    assert rag["answer"] == content and rag["question"] == "Pourquoi quitte-t-il Meta ?"
    assert all("rag" not in c.model_extra for c in chunks[:-1])
    _check_citations(rag, settings)
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={"stream": True, "messages": [{"role": "user", "content": QUESTION}]}, timeout=300) as raw:
        lines = [line for line in raw.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_api_and_web_chat_clients_at_once_are_all_answered_and_not_mixed_up(server):
    url, _ = server
    from gradio_client import Client

    results: dict[str, object] = {}

    def api(i: int, stream: bool) -> None:
        question = QUESTIONS[i % len(QUESTIONS)]
        try:
            client = _client(url)
            if stream:
                chunks = list(client.chat.completions.create(model=MODEL, stream=True, messages=[{"role": "user", "content": question}]))
                results[f"api{i}"] = (question, chunks[-1].model_extra["rag"], chunks[-1].model_extra["rag_queue_ms"])
            else:
                reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}])
                results[f"api{i}"] = (question, reply.model_extra["rag"], reply.model_extra["rag_queue_ms"])
        except Exception as exc:  # noqa: BLE001 - reported below
            results[f"api{i}"] = exc

    def web() -> None:
        try:
            results["web"] = (QUESTION, Client(f"{url}/", verbose=False).predict(QUESTION, "[]", MODEL, 4, True, api_name="/ask"), None)
        except Exception as exc:  # noqa: BLE001
            results["web"] = exc

    threads = [threading.Thread(target=api, args=(i, i % 2 == 0)) for i in range(4)] + [threading.Thread(target=web)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert len(results) == 5
    for name, result in results.items():
        assert isinstance(result, tuple), f"{name}: {result!r}"
        question, rag, _ = result
        assert rag["question"] == question and rag["answer"], name
    waits = [r[2] for r in results.values() if r[2] is not None]
    assert max(waits) > 0  # one model, one at a time: someone waited


def test_errors_are_openai_shaped(server):
    url, _ = server
    import openai

    client = _client(url)
    with pytest.raises(openai.NotFoundError, match="not loaded here"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "  "}])
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "hello"}])
    reply = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", timeout=30)
    assert reply.status_code == 400 and reply.json()["error"]["message"]


def test_the_web_chat_is_still_served_at_the_root(server):
    url, _ = server
    page = httpx.get(f"{url}/", timeout=30)
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert "fonts.googleapis" not in page.text and "cdn." not in page.text


def test_a_model_that_cannot_be_read_is_reported_and_the_server_stays_up(server, tmp_path):
    """The model is read while the page's libraries import: a failure there still reaches /health, the API and the
    terminal, and the server keeps serving (the page shows the error)."""
    _, settings = server
    missing = tmp_path / "absent.gguf"
    port, log = _free_port(), tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = start_serve(settings, port, str(missing), log=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        with pytest.raises(RuntimeError, match="failed to load"):
            wait_healthy(url, process, timeout=300)
        reply = httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]})
        assert reply.status_code == 503 and str(missing) in reply.json()["error"]["message"]
        assert process.poll() is None and httpx.get(url).status_code == 200
        assert f"error: model file {missing} not found" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
