"""The embedder `rag serve` runs in a child process: the same vectors as in-process, a killed child replaced, a
model that cannot load reported, and no child left behind when the server is killed."""
from __future__ import annotations

import os
import signal
import time

import httpx
import numpy as np
import pytest

from conftest import DOCS, _free_port, start_serve
from rag.bench_service import wait_healthy
from rag.embedding_process import EncoderProcess
from rag.embeddings import ModelNotFound
from rag.ingest import ingest
from rag.settings import Settings

TEXTS = ["Combien Meta a-t-il investi dans Scale AI ?", "Wer wartet den Kernel?", "The warranty covers two years."]


@pytest.fixture(scope="module")
def encoder():
    base = Settings()
    process = EncoderProcess(base.resolved(torch_threads=base.torch_threads or 1))
    yield process
    process.close()


def test_the_child_gives_the_in_process_vectors_and_identity(encoder, embedder):
    child = encoder.embedder()
    assert (child.name, child.fingerprint, child.dim) == (embedder.name, embedder.fingerprint, embedder.dim)
    assert (child.query_prompt, child.passage_prompt) == (embedder.query_prompt, embedder.passage_prompt)
    np.testing.assert_allclose(child.embed_queries(TEXTS), embedder.embed_queries(TEXTS), atol=1e-5)
    np.testing.assert_allclose(child.embed_passages(TEXTS), embedder.embed_passages(TEXTS), atol=1e-5)
    # the support check's word vectors too, sent back as numpy arrays (the parent need not import torch)
    for (offsets, vectors), (own_offsets, own_vectors) in zip(child.token_vectors(TEXTS), embedder.token_vectors(TEXTS)):
        assert offsets == own_offsets and type(vectors) is np.ndarray
        np.testing.assert_allclose(vectors, own_vectors, atol=1e-5)


def test_a_killed_child_is_replaced_at_the_next_request(encoder, embedder):
    child = encoder.embedder()
    before = encoder.pid
    os.kill(before, signal.SIGKILL)
    time.sleep(0.5)
    vectors = child.embed_passages(TEXTS[:1])  # embed_passages is never remembered: it must reach the child
    assert encoder.pid != before
    np.testing.assert_allclose(vectors, embedder.embed_passages(TEXTS[:1]), atol=1e-5)


def test_a_model_that_cannot_load_is_reported_with_its_name(tmp_path):
    process = EncoderProcess(Settings().resolved(embedding_model=str(tmp_path / "no-such-model")))
    try:
        with pytest.raises(ModelNotFound, match="no-such-model"):
            process.embedder()
    finally:
        process.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for this purpose
        return stat.read().split(")")[-1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(p) for p in children.read().split()]


@pytest.mark.slow
def test_serve_with_its_child_embedder_answers_and_leaves_nothing_when_killed(tmp_path, settings_factory, embedder):
    settings = settings_factory(tmp_path / "index")
    report, _ = ingest([DOCS], settings, embedder)
    assert not report.errors
    port = _free_port()
    process = start_serve(settings, port, "smollm2-135m")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        reply = httpx.post(f"{url}/v1/chat/completions", timeout=300,
                           json={"messages": [{"role": "user", "content": "Combien Meta a-t-il investi dans Scale AI ?"}]})
        assert reply.status_code == 200 and reply.json()["rag"]["passages"]
        children = [p for p in _children(process.pid) if _alive(p)]
        assert children, "the embedder runs in a child process of rag serve"
    finally:
        process.kill()  # no clean-up code runs: the child must notice its parent is gone by itself
        process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in children), "the embedding process outlived a killed server"


def test_serve_reports_an_embedding_model_that_cannot_load(tmp_path, settings_factory, embedder):
    """The embedder loads in a child since start-up: its failure still reaches /health, the API and the terminal,
    and the server keeps serving the page."""
    settings = settings_factory(tmp_path / "index")
    report, _ = ingest([DOCS], settings, embedder)
    assert not report.errors
    port, missing, log = _free_port(), tmp_path / "no-such-embedder", tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = start_serve(settings, port, "smollm2-135m", env={"RAG_EMBEDDING_MODEL": str(missing)}, log=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        with pytest.raises(RuntimeError, match="failed to load"):
            wait_healthy(url, process, timeout=300)
        reply = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                           json={"messages": [{"role": "user", "content": "Qui est Yann LeCun ?"}]})
        assert reply.status_code == 503 and str(missing) in reply.json()["error"]["message"]
        assert process.poll() is None and httpx.get(url, timeout=30).status_code == 200
        assert str(missing) in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
