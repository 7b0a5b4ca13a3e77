"""`rag bench` building blocks on tiny inputs: the ingest comparison on docs/, a 2,000-vector synthetic corpus,
the answering summary on hand-made runs, the table / JSON, and the bare load of the start-up ratio (with the
smallest packaged model). The generation model is not loaded here."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from conftest import DOCS
from rag.bench import (
    ArmRun,
    BenchResult,
    Latency,
    PrefillBench,
    QuestionRun,
    StartupBench,
    bench_ingest,
    bench_synthetic_retrieval,
    collect_env,
    cpu_model,
    format_table,
    noisy_queries,
    recall_at_k,
    summarize_answering,
    text_like_vectors,
    typed_before,
    vector_extensions,
)
from rag.index import DenseParams, build_dense
from rag.ingest import dense_params


def test_quick_bench_functions(tmp_path, settings_factory, embedder):
    settings = settings_factory(tmp_path / "index")

    ingest = bench_ingest(DOCS, settings, embedder, copies=1)
    assert ingest.documents == 2 and ingest.chunks > 10 and ingest.units > ingest.chunks  # both arms encode the sentences too
    assert ingest.pipeline_chunks_per_s > 0 and ingest.raw_chunks_per_s > 0 and ingest.ratio > 0
    assert ingest.pipeline_s > 0 and ingest.raw_s > 0
    assert ingest.max_abs_diff < 1e-3  # the same texts give the same vectors in both arms

    corpora = bench_synthetic_retrieval(
        2_000, embedder, ["Qui est Yann LeCun ?", "Why did LeCun leave Meta?"], dense_params(settings),
        samples=4, recall_queries=50,
    )
    assert [(c.corpus, c.kind, c.chunks) for c in corpora] == [("synthetic-2k", "flat", 2000), ("synthetic-2k", "hnsw", 2000)]
    flat, hnsw = corpora
    for c in corpora:
        assert c.embed.n == c.search.n == c.total.n == 4
        assert 0 < c.embed.p50 <= c.total.p50 and c.total.p50 <= c.total.p95 and c.search.p50 > 0
    assert hnsw.build_s > 0 and 0.5 < hnsw.recall_at_10 <= 1.0 and 0.5 < hnsw.recall_at_1 <= 1.0
    assert flat.recall_at_10 is None
    assert recall_at_k(np.array([[1, 2]]), np.array([[2, 3]]), 2) == 0.5

    arm = lambda ttft, tokens: ArmRun(ttft_ms=ttft, total_ms=ttft + 1000, tokens=tokens, gen_s=1.0, text="x")  # noqa: E731
    runs = [QuestionRun("q1", 300, "raw", 40.0, arm(1000, 21), arm(1080, 21)), QuestionRun("q2", 320, "pipeline", 50.0, arm(1200, 11), arm(1250, 11))]
    answering = summarize_answering("model", runs)
    assert answering.questions == 2 and answering.same_text == 2
    assert answering.raw_tokens_per_s == answering.pipeline_tokens_per_s == 15.0 and answering.gen_speed_ratio == 1.0
    assert answering.ttft_ratio > 1.0

    answering.evidence = Latency.of([40.0, 50.0, 70.0])  # bench_answering times prepare() alone per question

    prefill = PrefillBench(
        questions=2, typing_chars_per_s=5.0, lead_s=3.0, prefill_ms=Latency.of([2800, 2900]),
        first_token_cold_ms=Latency.of([3000, 3400]), first_token_prefilled_ms=Latency.of([500, 700]),
        same_text=2, match_questions=16, prefill_match_rate=0.75, match_by_chars_left={1: 1.0, 5: 0.875, 15: 0.75},
    )
    assert typed_before("Qui est Yann LeCun ?", lead_s=3.0, chars_per_s=5.0) == "Qui e"
    assert typed_before("Qui ?", lead_s=10.0, chars_per_s=5.0) == "Q"

    result = BenchResult(quick=True, env=collect_env(1, 1), ingest=ingest, retrieval=corpora, answering=answering, prefill=prefill)
    table = format_table(result)
    for text in ("ingest", "ratio pipeline / raw", "synthetic-2k hnsw", "recall@10", "TTFT pipeline / raw", "nproc", "evidence shown", "cold / prefilled", "1: 1.00, 5: 0.88, 15: 0.75"):
        assert text in table
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) >= {"env", "ingest", "retrieval", "answering", "startup", "targets", "runtime_s", "cpu", "evidence_ms"}
    assert data["evidence_ms"] == 50.0
    assert (data["first_token_cold_ms"], data["first_token_prefilled_ms"], data["prefill_match_rate"]) == (3200.0, 600.0, 0.75)
    assert data["prefill"]["match_by_chars_left"] == {"1": 1.0, "5": 0.875, "15": 0.75}
    assert data["cpu"].startswith(cpu_model()) and " · llama.cpp: " in data["cpu"] and data["cpu"] in table
    with open("/proc/cpuinfo") as cpuinfo:
        found = vector_extensions(cpuinfo.read())
    assert all(name in data["cpu"] for name in found)
    assert vector_extensions("flags\t: fpu sse avx2 avx512f amx_bf16 amx_tile\n") == ["avx2", "avx512f", "amx"]
    assert {t["name"] for t in data["targets"]} >= {"ingest chunks/s, pipeline / raw", "HNSW recall@10, synthetic-2k"}


def test_the_ready_ratio_is_the_median_of_paired_runs():
    """One slow pair (a burst of load on the machine) does not decide the start-up target."""
    startup = StartupBench(10.0, 5.0, 4.0, 1.0, 3.0, 900.0, 1000.0, serve_ready_s=13.0, raw_load_s=10.0,
                           serve_rss_ready_mb=2600.0)
    startup.ready_pairs = [(13.0, 10.0), (30.0, 10.0), (11.0, 10.0)]
    assert startup.ready_ratio == 1.3
    result = BenchResult(quick=True, env=collect_env(1, 1), startup=startup)
    assert {"name": "rag serve ready / raw load", "value": 1.3} in [
        {"name": t["name"], "value": t["value"]} for t in result.to_dict()["targets"]
    ]
    assert "(medians of 3)" in format_table(result)
    memory = next(t for t in result.to_dict()["targets"] if t["name"] == "rag serve resident at ready, GB")
    assert (memory["value"], memory["ok"]) == (2.54, False)  # the embedding process counts with the server


@pytest.mark.parametrize("repack", ["on", "off"])
def test_the_bare_load_reads_both_models_with_the_served_repacking(settings_factory, tmp_path, repack):
    """The bare process of the start-up ratio loads the model as `rag serve` does, repacked or not."""
    from rag.bench import bench_raw_load

    settings = settings_factory(tmp_path / "i", llm_model="smollm2-135m", n_ctx=256, llm_repack=repack)
    assert 0 < bench_raw_load(settings) < 300


def test_text_like_vectors_have_neighbourhoods_that_hnsw_finds(settings_factory, tmp_path):
    """Unit vectors, reproducible, with a clear nearest neighbour structure (unlike uniform noise in 384-d)."""
    import faiss

    vectors = text_like_vectors(5_000, seed=3)
    assert vectors.shape == (5_000, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors, text_like_vectors(5_000, seed=3))
    flat = faiss.IndexFlatIP(384)
    flat.add(vectors)
    params = dense_params(settings_factory(tmp_path / "i"))
    hnsw = build_dense(vectors, DenseParams(0, params.hnsw_m, params.hnsw_ef_construction, params.hnsw_ef_search))
    queries, _ = noisy_queries(vectors, 100, seed=4)
    _, exact = flat.search(queries, 10)
    _, approx = hnsw.search(queries, 10)
    assert recall_at_k(exact, approx, 10) >= 0.95


def test_prompt_parts_add_up_to_the_prompt_the_model_reads(tokenizer_pipeline):
    from rag.bench import prompt_parts

    history = [{"role": "user", "content": "Qui est Yann LeCun ?"}, {"role": "assistant", "content": "Un chercheur [1]."}]
    prepared = tokenizer_pipeline.prepare("Où va-t-il travailler ensuite ?", history)
    total = len(tokenizer_pipeline.generator.prompt_tokens(prepared.messages))
    parts = prompt_parts(tokenizer_pipeline.generator, prepared, total)
    assert list(parts) == ["system", "sources", "history", "instruction", "question", "markup"]
    assert sum(parts.values()) == total
    assert parts["system"] > 300 and parts["sources"] > parts["question"] > 5 and parts["history"] > 5
    assert 0 <= parts["markup"] < 20, parts  # the chat template's few tokens, not a part left uncounted


def test_both_arms_count_the_tokens_written_not_the_pieces_shown(docs_index, retriever, tokenizer):
    """The pipeline shows "[", "1", "]" as one piece once the marker closes: the same text must count the same
    tokens in both arms, or the pipeline would look slower at writing than the model it streams."""
    from canned import CannedGenerator
    from rag.bench import run_pipeline
    from rag.pipeline import Pipeline

    class Tokens(CannedGenerator):
        def stream_chat(self, messages, max_tokens=None, odds=None):
            text = "Meta a investi 14 milliards de dollars dans Scale AI [1]."
            yield from (tokenizer.llm.detokenize([t]).decode() for t in tokenizer.llm.tokenize(text.encode(), add_bos=False))

        def count_tokens(self, text: str) -> int:
            return tokenizer.count_tokens(text)

    settings, _ = docs_index
    run, answer = run_pipeline(Pipeline(settings, retriever, Tokens()), "Combien Meta a-t-il investi dans Scale AI ?")
    written = tokenizer.count_tokens(answer.raw_answer)
    assert answer.raw_answer.endswith("[1].") and run.tokens == written > 10


def test_the_resident_memory_of_a_server_counts_its_child_processes():
    """rag serve's embedder runs in a child: the memory figure sums the whole tree."""
    import subprocess
    import sys

    from rag.bench_service import tree_resident_mb

    alone = tree_resident_mb(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(200 * 2**20); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while tree_resident_mb(child.pid) < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tree_resident_mb(os.getpid()) >= alone + 200
    finally:
        child.kill()
        child.wait()
    assert tree_resident_mb(child.pid + 10**7) == 0.0  # no such process
