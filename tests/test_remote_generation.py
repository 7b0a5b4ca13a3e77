"""Remote generation (RAG_LLM_URL) against llama-cpp-python's own OpenAI-compatible server running the small
packaged model: the same text as the local model, the same prompts and checks through the pipeline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from conftest import _free_port
from rag.gguf import ModelUnavailable, resolve_gguf
from rag.remote import RemoteGenerator, chat_url, load_remote_generator
from rag.settings import Settings
from rag.types import Answer

MODEL = "smollm2-135m"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    path = resolve_gguf(MODEL, Settings().cache_dir)
    port = _free_port()
    log = (tmp_path_factory.mktemp("llm-server") / "log").open("w+")  # a pipe would fill up and block the server
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1", "--port", str(port),
         "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "4096", "--model_alias", MODEL],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            assert process.poll() is None, open(log.name).read()[-2000:]
            try:
                if httpx.get(f"{url}/v1/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def local_small():
    from rag.generation import load_generator

    return load_generator(Settings().resolved(llm_threads=1), MODEL)


MESSAGES = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


def test_chat_url_accepts_a_base_with_or_without_v1():
    assert chat_url("http://h:1") == chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"


def test_remote_streams_what_the_local_model_writes(llm_server, local_small):
    remote = load_remote_generator(Settings().resolved(llm_url=llm_server), MODEL)
    assert remote.exact_tokens  # the GGUF is here: its vocabulary counts tokens
    assert remote.count_tokens("Yann LeCun quitte Meta.") == local_small.count_tokens("Yann LeCun quitte Meta.")
    pieces = list(remote.stream_chat(MESSAGES, max_tokens=24))
    assert len(pieces) > 1  # streamed, not one block
    assert "".join(pieces) == "".join(local_small.stream_chat(MESSAGES, max_tokens=24))
    assert isinstance(remote.yes_no(MESSAGES + [{"role": "user", "content": "Is Paris in France? yes or no"}]), bool)


def test_the_pipeline_answers_through_the_remote_server(llm_server, docs_index, retriever):
    from rag.pipeline import Pipeline

    settings, _ = docs_index
    settings = settings.resolved(llm_url=llm_server)
    pipeline = Pipeline(settings, retriever, load_remote_generator(settings, MODEL))
    pipeline.warm_up()
    items = list(pipeline.stream("Combien Meta a-t-il investi dans Scale AI ?"))
    answer = items[-1]
    assert isinstance(answer, Answer) and answer.model == MODEL and answer.answer
    assert answer.raw_answer  # the model wrote something, and it was checked
    assert any("14 milliards" in p.text for p in answer.passages)
    for c in answer.citations:
        assert c.passage.doc.text[c.start : c.end] == c.quote


def test_rag_ask_with_llm_url(llm_server, index_arg, capsys, cli_models):
    from rag.cli import main

    os.environ.pop("RAG_LLM_URL", None)
    code = main([*index_arg, "ask", "Qui est Yann LeCun ?", "--json", "--model", MODEL, "--llm-url", llm_server])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["model"] == MODEL


def test_without_the_gguf_tokens_are_estimated():
    remote = RemoteGenerator("http://127.0.0.1:9", "some-remote-model", 10, 0.0)
    assert not remote.exact_tokens and remote.count_tokens("x" * 40) == 10


def test_an_unreachable_server_is_a_clear_error():
    from rag.store.embedded import free_port

    remote = RemoteGenerator(f"http://127.0.0.1:{free_port()}", MODEL, 10, 0.0, timeout=5)
    with pytest.raises(ModelUnavailable, match="generation server"):
        list(remote.stream_chat(MESSAGES))
