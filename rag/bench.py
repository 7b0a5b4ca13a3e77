"""`rag bench`: ingest, retrieval, answering and start-up figures of this machine, each against its raw baseline.

Every section is one function returning one dataclass; `run_bench` runs them in an order that keeps torch and
llama.cpp off each other's cores (embedding is only measured while the language model is idle or not loaded),
`format_table` prints the single table and `BenchResult.to_dict` the JSON document with the same figures.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from rag.cpu import cpu_model
from rag.embeddings import Embedder
from rag.index import DenseParams, build_dense
from rag.settings import Settings

Log = Callable[[str], None]

SYNTHETIC_DIM = 384
QUICK_QUESTIONS = 4

TARGETS = {
    "ingest_ratio": 0.80,  # pipeline ingest chunks/s over raw encode chunks/s, at least
    "ttft_overhead": 0.05,  # pipeline TTFT (from question receipt) over raw TTFT, at most 1 + this
    "gen_speed_ratio": 0.95,  # pipeline generation tokens/s over raw, at least
    "retrieval_p95_ms_100k": 50.0,  # embed + search p95 with the approximate index at 100k chunks, at most
    "hnsw_recall_at_10": 0.95,  # at least
    "ready_s": 15.0,  # process start to ready, at most
    "prefilled_ratio": 0.25,  # first token when the prefilled passages match, over a cold cache's, at most
    "ready_ratio": 1.5,  # `rag serve` spawn to ready over a bare process loading the same two models, at most
    "peak_rss_gb": 2.5,  # serving process after one answer, at most
}


def _quiet(msg: str) -> None:
    pass


# ---------------------------------------------------------------- figures


@dataclass
class Latency:
    """Percentiles of a list of durations in milliseconds."""

    n: int
    p50: float
    p95: float
    mean: float

    @classmethod
    def of(cls, values_ms: Iterable[float]) -> "Latency":
        values = np.asarray(list(values_ms), dtype=np.float64)
        if not len(values):
            return cls(0, 0.0, 0.0, 0.0)
        return cls(
            int(len(values)),
            round(float(np.percentile(values, 50)), 2),
            round(float(np.percentile(values, 95)), 2),
            round(float(values.mean()), 2),
        )


@dataclass
class EnvInfo:
    date: str
    nproc: int
    cpu_model: str
    llama_build_flags: str
    llama_cpp_version: str
    llama_system_info: str
    torch_threads: int
    llama_threads: int
    faiss_threads: int
    load_average: str
    python: str
    cpu: str = ""  # model name, vector extensions, llama.cpp's CPU features: what decides the figures below
    llama_repack: str = ""  # whether llama.cpp repacked the weights (Settings.llm_repack, and its choice)


@dataclass
class IngestBench:
    """Pipeline ingest (read, chunk, embed, BM25, FAISS, write) against a bare encode of the same texts: the
    chunks and the distinct sentences (units) the index stores beside them."""

    documents: int
    chunks: int
    units: int  # distinct unit texts embedded beside the chunks
    batch_size: int
    repeats: int
    pipeline_s: float
    pipeline_embed_s: float
    pipeline_chunks_per_s: float
    raw_s: float
    raw_chunks_per_s: float
    ratio: float  # pipeline chunks/s over raw chunks/s
    max_abs_diff: float  # between the pipeline's stored vectors and the raw ones


@dataclass
class CorpusBench:
    """Query latency (real e5 query embedding + search) on one corpus and index kind."""

    corpus: str
    chunks: int
    kind: str  # "hybrid" (the real retriever), "flat" or "hnsw"
    embed: Latency
    search: Latency
    total: Latency
    build_s: float | None = None
    recall_at_10: float | None = None
    recall_at_1: float | None = None


@dataclass
class ArmRun:
    """One answer, timed from the call (raw) or from question receipt (pipeline)."""

    ttft_ms: float
    total_ms: float
    tokens: int
    gen_s: float  # first to last token
    text: str = ""

    @property
    def tokens_per_s(self) -> float:
        return (self.tokens - 1) / self.gen_s if self.tokens > 1 and self.gen_s > 0 else 0.0


@dataclass
class QuestionRun:
    id: str
    prompt_tokens: int
    order: str  # which arm ran first
    retrieve_ms: float
    raw: ArmRun
    pipeline: ArmRun
    parts: dict[str, int] = field(default_factory=dict)  # prompt tokens per part (see prompt_parts)

    @property
    def same_text(self) -> bool:
        return self.raw.text.strip() == self.pipeline.text.strip()


@dataclass
class AnswerBench:
    model: str
    questions: int
    prompt_tokens_mean: float
    completion_tokens_mean: float
    raw_ttft: Latency
    pipeline_ttft: Latency
    ttft_ratio: float  # pipeline p50 over raw p50
    ttft_ratio_median: float  # median of the per-question ratios
    retrieve: Latency  # prepare(): retrieval, sentence selection, prompt
    raw_tokens_per_s: float
    pipeline_tokens_per_s: float
    gen_speed_ratio: float
    raw_total: Latency
    pipeline_total: Latency
    same_text: int
    runs: list[QuestionRun] = field(default_factory=list)
    evidence: Latency = field(default_factory=lambda: Latency.of([]))  # prepare() alone: when the evidence can be shown
    # Mean prompt tokens per part: the cached system prefix, then what each question pays for
    prompt_parts_mean: dict[str, float] = field(default_factory=dict)


@dataclass
class PrefillBench:
    """Time to first token with the prompt read while the question was typed, against a cold cache.

    The partial question is the question as typed `lead_s` seconds before it was sent at `typing_chars_per_s`,
    lead_s being the typing pause (debounce) plus the median time a prefill took here: the last prefill that could
    finish before the question was sent.
    """

    questions: int  # timed (cold and prefilled) questions
    typing_chars_per_s: float
    lead_s: float
    prefill_ms: Latency  # prepare() and reading the prompt up to the question, from the system prefix
    first_token_cold_ms: Latency
    first_token_prefilled_ms: Latency  # after a prefill that found the final passages (the question itself)
    same_text: int  # prefilled answers identical to the cold ones
    match_questions: int  # questions the match rate is measured on (all of the file)
    prefill_match_rate: float  # share of them whose partial question finds the final question's passages
    first_token_typed_ms: Latency = field(default_factory=lambda: Latency.of([]))  # after the prefill of the partial question
    # The match rate by characters still to type when the prefill starts (1: all but the last character)
    match_by_chars_left: dict[int, float] = field(default_factory=dict)

    @property
    def prefilled_ratio(self) -> float:
        cold = self.first_token_cold_ms.p50
        return round(self.first_token_prefilled_ms.p50 / cold, 3) if cold else 0.0


@dataclass
class StartupBench:
    """A fresh process: interpreter start to ready (index, embedder, model, warm-up), then one answer."""

    ready_s: float
    imports_s: float
    load_s: float
    warm_up_s: float
    first_answer_s: float
    peak_rss_ready_mb: float
    peak_rss_mb: float  # after one answered question
    rss_anon_mb: float = 0.0  # current resident memory after the answer: private (heap, repacked weights, KV cache)
    rss_file_mb: float = 0.0  # ... and file-backed (mmap'ed GGUF and libraries: page cache, reclaimable)
    # `rag serve` from its spawn to GET /health saying ready, and a bare process loading the same two models:
    # medians of the runs in ready_pairs, (serve, raw) run one after the other
    serve_ready_s: float = 0.0
    raw_load_s: float = 0.0
    serve_rss_ready_mb: float = 0.0  # largest over the runs: `rag serve` and its children (the embedder) at ready
    ready_pairs: list[tuple[float, float]] = field(default_factory=list)

    @property
    def ready_ratio(self) -> float:
        """The median of the pairs' ratios: a burst of load on a shared machine slows both runs of a pair."""
        ratios = [serve / raw for serve, raw in self.ready_pairs if raw]
        return round(statistics.median(ratios), 3) if ratios else 0.0


@dataclass
class Target:
    name: str
    value: float
    limit: float
    higher_is_better: bool

    @property
    def ok(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


@dataclass
class BenchResult:
    quick: bool
    env: EnvInfo
    ingest: IngestBench | None = None
    retrieval: list[CorpusBench] = field(default_factory=list)
    answering: AnswerBench | None = None
    startup: StartupBench | None = None
    prefill: PrefillBench | None = None
    service: object = None  # rag.bench_service.ServiceBench: PostgreSQL store and the OpenAI-compatible API
    runtime_s: float = 0.0
    load_average_end: str = ""
    other_cpu: dict[str, float] = field(default_factory=dict)  # section: share of all cores other processes used

    def targets(self) -> list[Target]:
        return check_targets(self)

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.answering is not None:
            for run, row in zip(self.answering.runs, data["answering"]["runs"]):
                row["raw"]["tokens_per_s"] = round(run.raw.tokens_per_s, 2)
                row["pipeline"]["tokens_per_s"] = round(run.pipeline.tokens_per_s, 2)
                row["same_text"] = run.same_text
        data["targets"] = [{**asdict(t), "ok": t.ok} for t in self.targets()]
        data["cpu"] = self.env.cpu
        if self.prefill is not None:
            data["first_token_prefilled_ms"] = self.prefill.first_token_prefilled_ms.p50
            data["first_token_cold_ms"] = self.prefill.first_token_cold_ms.p50
            data["prefill_match_rate"] = self.prefill.prefill_match_rate
            data["first_token_typed_ms"] = self.prefill.first_token_typed_ms.p50
        data["evidence_ms"] = self.answering.evidence.p50 if self.answering is not None and self.answering.evidence.n else None
        return data


# ---------------------------------------------------------------- environment


# /proc/cpuinfo flags that decide how fast llama.cpp and torch run here, and the names the bench reports them by.
VECTOR_FLAGS = {"avx2": "avx2", "avx512f": "avx512f", "avx512_vnni": "avx512_vnni", "amx_tile": "amx"}


def vector_extensions(cpuinfo: str) -> list[str]:
    """The extensions among VECTOR_FLAGS that the first CPU of a /proc/cpuinfo text has."""
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return [name for flag, name in VECTOR_FLAGS.items() if flag in flags]


def cpu_summary(model: str, cpuinfo: str, llama_features: str) -> str:
    """'model · extensions · llama.cpp: features' on one line."""
    extensions = " ".join(vector_extensions(cpuinfo)) or "none of " + " ".join(VECTOR_FLAGS.values())
    return f"{model} · {extensions} · llama.cpp: {llama_features}"


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def llama_build_flags() -> str:
    """What scripts/setup.sh compiled llama-cpp-python with (it writes .llama-build-flags in the venv)."""
    path = Path(sys.prefix) / ".llama-build-flags"
    try:
        text = " ".join(path.read_text().split())
    except OSError:
        return "unknown"
    return text or "unknown"


def collect_env(torch_threads: int, llama_threads: int) -> EnvInfo:
    import faiss
    import llama_cpp

    from rag.generation import llama_features

    try:
        system_info = " ".join(llama_features())
    except Exception:  # noqa: BLE001 - informative only
        system_info = "unknown"
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count() or 1
    return EnvInfo(
        date=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        nproc=nproc,
        cpu_model=cpu_model(),
        llama_build_flags=llama_build_flags(),
        llama_cpp_version=getattr(llama_cpp, "__version__", "unknown"),
        llama_system_info=system_info,
        torch_threads=torch_threads,
        llama_threads=llama_threads,
        faiss_threads=int(faiss.omp_get_max_threads()),
        load_average=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        python=platform.python_version(),
        cpu=cpu_summary(cpu_model(), _cpuinfo(), system_info),
    )


class CpuMeter:
    """Share of the machine's CPU time that other processes took between start() and share() (benchmark noise)."""

    def __init__(self) -> None:
        self.busy = self.own = self.wall = 0.0
        self.start()

    @staticmethod
    def _busy_seconds() -> float:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return 0.0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
        return busy / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own_seconds() -> float:
        total = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            total += usage.ru_utime + usage.ru_stime
        return total

    def start(self) -> None:
        self.busy, self.own, self.wall = self._busy_seconds(), self._own_seconds(), time.perf_counter()

    def share(self) -> float:
        elapsed = time.perf_counter() - self.wall
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        others = (self._busy_seconds() - self.busy) - (self._own_seconds() - self.own)
        return round(min(1.0, max(0.0, others / (elapsed * cores))), 3) if elapsed > 0 else 0.0


# ---------------------------------------------------------------- 1. ingest


def replicate_docs(docs_dir: Path, target: Path, copies: int) -> Path:
    """`copies` copies of docs_dir (documents and sources.json) in target/copy-NN, so chunking stays the real one."""
    target.mkdir(parents=True, exist_ok=True)
    for n in range(copies):
        shutil.copytree(docs_dir, target / f"copy-{n:02d}")
    return target


def raw_encode(embedder: Embedder, texts: list[str]) -> tuple[np.ndarray, float]:
    """The bare sentence-transformers call with the passage prompt, batch size and normalisation of the pipeline."""
    started = time.perf_counter()
    vectors = embedder.model.encode(
        texts,
        prompt=embedder.passage_prompt or None,
        batch_size=embedder.batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32), time.perf_counter() - started


def bench_ingest(docs_dir: Path, settings: Settings, embedder: Embedder, copies: int, repeats: int = 1, log: Log = _quiet) -> IngestBench:
    """Chunks/s of rag.ingest.ingest into a fresh temporary index against raw encode on exactly the texts it
    embeds (its chunks, then its distinct units).

    An untimed first ingest pays the one-off costs (imports, file cache) and gives the chunk texts; then the two
    arms alternate (raw first on even repeats) and the best time of each is kept, so that a burst of load from
    another process does not decide the ratio.
    """
    from rag.chunking import chunk_embedding_text, chunk_units_texts
    from rag.ingest import ingest

    if not docs_dir.is_dir():
        raise FileNotFoundError(f"{docs_dir}: documents folder not found")
    repeats = max(1, repeats)
    best_pipeline = best_embed = best_raw = float("inf")
    max_diff = 0.0
    with tempfile.TemporaryDirectory(prefix="rag-bench-ingest-") as tmp:
        source = replicate_docs(docs_dir, Path(tmp) / "docs", copies)

        def run_ingest(name: str):
            started = time.perf_counter()
            report, index = ingest([source], settings.resolved(index_dir=Path(tmp) / name), embedder)
            elapsed = time.perf_counter() - started
            if report.errors or index is None:
                raise RuntimeError(f"bench ingest failed: {report.errors}")
            return report, index, elapsed

        _, first, _ = run_ingest("index-warm")
        chunk_texts = [chunk_embedding_text(c) for c in first.chunks]
        unit_texts = [t for c in first.chunks for t in chunk_units_texts(first.documents[c.doc_id], [c])]
        texts = list(dict.fromkeys(chunk_texts + unit_texts))
        documents = len(first.documents)
        raw_encode(embedder, texts[:32])
        for rep in range(repeats):
            for arm in ("raw", "pipeline") if rep % 2 == 0 else ("pipeline", "raw"):
                if arm == "pipeline":
                    report, index, elapsed = run_ingest(f"index-{rep}")
                    if [chunk_embedding_text(c) for c in index.chunks] != chunk_texts:
                        raise RuntimeError("bench ingest: the chunk texts changed between two ingests")
                    best_pipeline = min(best_pipeline, elapsed)
                    best_embed = min(best_embed, report.embed_seconds)
                    stored = np.concatenate([np.asarray(index.vectors), np.asarray(index.unit_vectors)])
                else:
                    vectors, elapsed = raw_encode(embedder, texts)
                    best_raw = min(best_raw, elapsed)
                log(f"  ingest {arm:8s}: {len(chunk_texts)} chunks and their sentences ({len(texts)} distinct texts) in {elapsed:.2f} s")
            rows = {t: i for i, t in enumerate(texts)}
            max_diff = max(max_diff, float(np.abs(vectors[[rows[t] for t in chunk_texts + unit_texts]] - stored).max()))
    pipeline_rate = len(chunk_texts) / best_pipeline
    raw_rate = len(chunk_texts) / best_raw
    return IngestBench(
        documents=documents,
        chunks=len(chunk_texts),
        units=len(texts) - len(set(chunk_texts)),
        batch_size=embedder.batch_size,
        repeats=repeats,
        pipeline_s=round(best_pipeline, 3),
        pipeline_embed_s=round(best_embed, 3),
        pipeline_chunks_per_s=round(pipeline_rate, 2),
        raw_s=round(best_raw, 3),
        raw_chunks_per_s=round(raw_rate, 2),
        ratio=round(pipeline_rate / raw_rate, 3),
        max_abs_diff=float(f"{max_diff:.2e}"),
    )


# ---------------------------------------------------------------- 2. retrieval


def _cycle(items: list[str], n: int) -> list[str]:
    return [items[i % len(items)] for i in range(n)]


def bench_default_retrieval(retriever, query_texts: list[str], samples: int) -> CorpusBench:
    """The real hybrid search (query embedding, FAISS, BM25, fusion) on the real index, one question at a time."""
    texts = _cycle(query_texts, samples)
    for text in texts[:2]:
        retriever.search(text)
    embed_ms, total_ms = [], []
    for text in texts:
        started = time.perf_counter()
        retriever.embedder.embed_query(retriever.focused_query(text) or text)
        embedded = time.perf_counter()
        retriever.search(text)
        done = time.perf_counter()
        embed_ms.append((embedded - started) * 1000)
        total_ms.append((done - embedded) * 1000)  # search() embeds the query itself: its full time is the latency
    search_ms = [max(0.0, t - e) for t, e in zip(total_ms, embed_ms)]
    return CorpusBench(
        corpus="default",
        chunks=len(retriever.index.chunks),
        kind="hybrid",
        embed=Latency.of(embed_ms),
        search=Latency.of(search_ms),
        total=Latency.of(total_ms),
    )


def text_like_vectors(
    n: int, dim: int = SYNTHETIC_DIM, seed: int = 0, latent_dim: int = 32, noise: float = 0.3
) -> np.ndarray:
    """Unit vectors whose neighbourhoods live in a few dimensions, as those of text embeddings do.

    Uniform random vectors in 384 dimensions have no neighbourhood structure at all (the 2nd to 10th nearest
    are near-ties), which no embedding model produces and on which any approximate index scores poorly.
    Here each vector is a random point of a `latent_dim`-dimensional subspace plus isotropic noise.
    """
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, latent_dim)))
    latent = rng.standard_normal((n, latent_dim)).astype(np.float32)
    vectors = latent @ basis.T.astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors += noise * rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def noisy_queries(vectors: np.ndarray, n: int, noise: float = 0.5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Unit queries near n stored vectors (cosine about 1/sqrt(1 + noise²) to their source), and the source rows."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), size=min(n, len(vectors)), replace=False)
    dim = vectors.shape[1]
    queries = vectors[rows] + noise * rng.standard_normal((len(rows), dim), dtype=np.float32) / np.sqrt(dim)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return np.ascontiguousarray(queries, dtype=np.float32), rows


def recall_at_k(exact: np.ndarray, approx: np.ndarray, k: int) -> float:
    """Mean share of the exact top-k found in the approximate top-k."""
    hits = [len(set(e[:k].tolist()) & set(a[:k].tolist())) / k for e, a in zip(exact, approx)]
    return float(np.mean(hits)) if hits else 0.0


def bench_synthetic_retrieval(
    n_vectors: int,
    embedder: Embedder,
    query_texts: list[str],
    params: DenseParams,
    samples: int = 50,
    recall_queries: int = 200,
    search_k: int = 30,
    seed: int = 0,
    log: Log = _quiet,
) -> list[CorpusBench]:
    """Exact (IndexFlatIP) and HNSW (rag.index.build_dense, ann_threshold=0) on n text-like unit vectors.

    Latency: a real e5 embedding of a real question, then one search of `search_k` (the retriever's candidates)
    in each index with that vector (the embedding time counts in both). Recall@10 of HNSW against exact search
    on noisy copies of stored vectors.
    """
    import faiss

    name = f"synthetic-{n_vectors // 1000}k" if n_vectors >= 1000 else f"synthetic-{n_vectors}"
    vectors = text_like_vectors(n_vectors, SYNTHETIC_DIM, seed)
    started = time.perf_counter()
    flat = faiss.IndexFlatIP(SYNTHETIC_DIM)
    flat.add(vectors)
    flat_build = time.perf_counter() - started
    started = time.perf_counter()
    hnsw = build_dense(vectors, DenseParams(0, params.hnsw_m, params.hnsw_ef_construction, params.hnsw_ef_search))
    hnsw_build = time.perf_counter() - started
    log(f"  {name}: HNSW (M={params.hnsw_m}, efConstruction={params.hnsw_ef_construction}) built in {hnsw_build:.1f} s")

    queries, sources = noisy_queries(vectors, recall_queries, seed=seed + 1)
    _, exact = flat.search(queries, 10)
    _, approx = hnsw.search(queries, 10)
    recall10 = recall_at_k(exact, approx, 10)
    recall1 = float(np.mean(approx[:, 0] == exact[:, 0]))

    texts = _cycle(query_texts, samples)
    for text in texts[:2]:
        vector = embedder.embed_query(text).reshape(1, -1)
        flat.search(vector, search_k)
        hnsw.search(vector, search_k)
    embed_ms, flat_ms, hnsw_ms = [], [], []
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        vector = embedder.embed_query(text).reshape(1, -1)
        t1 = time.perf_counter()
        first, second = (flat, hnsw) if i % 2 == 0 else (hnsw, flat)
        first.search(vector, search_k)
        t2 = time.perf_counter()
        second.search(vector, search_k)
        t3 = time.perf_counter()
        embed_ms.append((t1 - t0) * 1000)
        (flat_ms if first is flat else hnsw_ms).append((t2 - t1) * 1000)
        (hnsw_ms if first is flat else flat_ms).append((t3 - t2) * 1000)
    del vectors
    results = []
    for kind, search_ms, build, r10, r1 in (
        ("flat", flat_ms, flat_build, None, None),
        ("hnsw", hnsw_ms, hnsw_build, recall10, recall1),
    ):
        results.append(
            CorpusBench(
                corpus=name,
                chunks=n_vectors,
                kind=kind,
                embed=Latency.of(embed_ms),
                search=Latency.of(search_ms),
                total=Latency.of(e + s for e, s in zip(embed_ms, search_ms)),
                build_s=round(build, 3),
                recall_at_10=None if r10 is None else round(r10, 4),
                recall_at_1=None if r1 is None else round(r1, 4),
            )
        )
    return results


# ---------------------------------------------------------------- 3. answering


def stream_chat_kwargs(generator, messages: list[dict]) -> dict:
    """The exact arguments Generator.stream_chat gives llama.cpp for these messages, recorded with a stand-in model.

    Read at run time rather than copied, so the raw arm keeps sampling exactly like the pipeline when someone
    changes a sampling argument in rag/generation.py.
    """

    class Recorder:
        kwargs: dict = {}

        def create_chat_completion(self, **kwargs):
            Recorder.kwargs = kwargs
            return iter(())

    clone = copy.copy(generator)
    clone.llm = Recorder()
    for _ in clone.stream_chat(messages):
        pass
    if not Recorder.kwargs.get("stream"):
        raise RuntimeError("Generator.stream_chat no longer streams: the raw arm cannot mirror it")
    return dict(Recorder.kwargs)


def run_raw(generator, messages: list[dict]) -> ArmRun:
    """llama-cpp-python alone on the given messages, with Generator.stream_chat's arguments; TTFT from the call."""
    kwargs = stream_chat_kwargs(generator, messages)
    started = time.perf_counter()
    stream = generator.llm.create_chat_completion(**kwargs)
    pieces: list[str] = []
    first = last = 0.0
    for part in stream:
        content = part["choices"][0].get("delta", {}).get("content")
        if content:
            last = time.perf_counter()
            if not pieces:
                first = last
            pieces.append(content)
    ended = time.perf_counter()
    text = "".join(pieces)
    return _arm(started, first, last, ended, text, generator.count_tokens(text))


def run_pipeline(pipeline, question: str, history: list[dict] | None = None):
    """pipeline.stream from question receipt (retrieval and passage selection included); returns (ArmRun, Answer)."""
    from rag.pipeline import Answer

    started = time.perf_counter()
    pieces: list[str] = []
    answer = None
    first = last = 0.0
    for item in pipeline.stream(question, history):
        if isinstance(item, Answer):
            answer = item
            continue
        last = time.perf_counter()
        if not pieces:
            first = last
        pieces.append(item)
    ended = time.perf_counter()
    text = answer.raw_answer if answer else "".join(pieces)
    return _arm(started, first, last, ended, text, pipeline.generator.count_tokens(text)), answer


def _arm(started: float, first: float, last: float, ended: float, text: str, tokens: int) -> ArmRun:
    """Both arms count the tokens of the text the model wrote: the pipeline shows a citation marker ("[", "3",
    "]") as one piece once it closes, so counting shown pieces would make it look slower than it writes."""
    return ArmRun(
        ttft_ms=round(((first or ended) - started) * 1000, 1),
        total_ms=round((ended - started) * 1000, 1),
        tokens=tokens,
        gen_s=round(max(0.0, last - first), 4),
        text=text,
    )


def prompt_parts(generator, prepared, total: int) -> dict[str, int]:
    """Tokens of each part of the prompt: the system prefix (read once, cached), then the user message's parts;
    "markup" is the chat template's tokens and the joins between parts (total minus the rest)."""
    from rag.prompts import SYSTEM, user_parts

    parts = {"system": generator.count_tokens(SYSTEM)}
    texts = user_parts(prepared.question, prepared.passages, prepared.sources, prepared.lang, prepared.turns)
    parts.update({name: generator.count_tokens(text) if text else 0 for name, text in texts.items()})
    parts["markup"] = total - sum(parts.values())
    return parts


def prompt_tokens(generator, messages: list[dict]) -> int:
    """Tokens of the formatted chat prompt, as llama.cpp counts them (the prompt is cached by then: cheap)."""
    out = generator.llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, top_k=1)
    return int(out["usage"]["prompt_tokens"])


def bench_answering(pipeline, questions: list, log: Log = _quiet) -> AnswerBench:
    """Pipeline against raw llama.cpp on the same prompt, per question, in alternating order.

    Before every measured call, in both arms, pipeline.warm_up() leaves exactly the fixed system prefix in
    llama.cpp's cache, so neither arm profits from the other's prompt having been evaluated just before.
    """
    generator = pipeline.generator
    runs: list[QuestionRun] = []
    evidence_ms: list[float] = []
    for i, q in enumerate(questions):
        pipeline.retriever.embedder.forget()
        started = time.perf_counter()
        prepared = pipeline.prepare(q.question, q.history)
        evidence_ms.append((time.perf_counter() - started) * 1000)
        order = ("raw", "pipeline") if i % 2 == 0 else ("pipeline", "raw")
        raw = piped = None
        answer = None
        for arm in order:
            pipeline.warm_up()
            if arm == "raw":
                raw = run_raw(generator, prepared.messages)
            else:
                pipeline.retriever.embedder.forget()  # a cold question: prepare() above remembered its vectors
                piped, answer = run_pipeline(pipeline, q.question, q.history)
        total = prompt_tokens(generator, prepared.messages)
        run = QuestionRun(
            id=q.id,
            prompt_tokens=total,
            order=order[0],
            retrieve_ms=round(answer.timings_ms.get("retrieve", 0.0), 1) if answer else 0.0,
            raw=raw,
            pipeline=piped,
            parts=prompt_parts(generator, prepared, total),
        )
        runs.append(run)
        log(
            f"  {q.id}: prompt {run.prompt_tokens} tok ({', '.join(f'{k} {v}' for k, v in run.parts.items())}), TTFT raw {raw.ttft_ms:.0f} ms / pipeline {piped.ttft_ms:.0f} ms, "
            f"{raw.tokens}/{piped.tokens} tok at {raw.tokens_per_s:.1f}/{piped.tokens_per_s:.1f} tok/s"
            + ("" if run.same_text else "  (texts differ)")
        )
    summary = summarize_answering(generator.name, runs)
    summary.evidence = Latency.of(evidence_ms)
    return summary


def _tokens_per_s(arms: list[ArmRun]) -> float:
    """Median of the per-answer decoding rates (a burst of load from another process moves it less than a sum)."""
    rates = [a.tokens_per_s for a in arms if a.tokens > 1 and a.gen_s > 0]
    return round(statistics.median(rates), 2) if rates else 0.0


def summarize_answering(model: str, runs: list[QuestionRun]) -> AnswerBench:
    raw = [r.raw for r in runs]
    piped = [r.pipeline for r in runs]
    raw_ttft, pipe_ttft = Latency.of(a.ttft_ms for a in raw), Latency.of(a.ttft_ms for a in piped)
    raw_tps, pipe_tps = _tokens_per_s(raw), _tokens_per_s(piped)
    ratios = [p.ttft_ms / r.ttft_ms for r, p in zip(raw, piped) if r.ttft_ms > 0]
    return AnswerBench(
        model=model,
        questions=len(runs),
        prompt_tokens_mean=round(statistics.fmean(r.prompt_tokens for r in runs), 1) if runs else 0.0,
        completion_tokens_mean=round(statistics.fmean(a.tokens for a in piped), 1) if runs else 0.0,
        raw_ttft=raw_ttft,
        pipeline_ttft=pipe_ttft,
        ttft_ratio=round(pipe_ttft.p50 / raw_ttft.p50, 3) if raw_ttft.p50 else 0.0,
        ttft_ratio_median=round(statistics.median(ratios), 3) if ratios else 0.0,
        retrieve=Latency.of(r.retrieve_ms for r in runs),
        raw_tokens_per_s=raw_tps,
        pipeline_tokens_per_s=pipe_tps,
        gen_speed_ratio=round(pipe_tps / raw_tps, 3) if raw_tps else 0.0,
        raw_total=Latency.of(a.total_ms for a in raw),
        pipeline_total=Latency.of(a.total_ms for a in piped),
        same_text=sum(r.same_text for r in runs),
        runs=runs,
        prompt_parts_mean={k: round(statistics.fmean(r.parts.get(k, 0) for r in runs), 1) for k in (runs[0].parts if runs else {})},
    )


# ---------------------------------------------------------------- 3b. prefill while typing


def typed_before(question: str, lead_s: float, chars_per_s: float) -> str:
    """The question as typed `lead_s` seconds before the end, at `chars_per_s` (at least its first character)."""
    return question[: max(1, len(question) - round(lead_s * chars_per_s))]


def same_passages(a, b) -> bool:
    """Two Prepared read the same units of the same chunks, in the same language (so the same prompt prefix)."""
    return a.lang == b.lang and [(p.chunk_id, p.spans) for p in a.passages] == [(p.chunk_id, p.spans) for p in b.passages]


def bench_prefill(pipeline, timed: list, everything: list, debounce_s: float, chars_per_s: float = 5.0, log: Log = _quiet) -> PrefillBench:
    """First token after a prefill on the partial question against a cold cache, on `timed`; the match rate of
    partial questions on `everything` (prepare() only)."""
    durations, cold, warm, same = [], [], [], 0
    for q in timed:
        pipeline.warm_up()
        started = time.perf_counter()
        pipeline.prefill(q.question, q.history)
        durations.append((time.perf_counter() - started) * 1000)
    lead_s = debounce_s + statistics.median(durations) / 1000
    typed = []
    for q in timed:
        pipeline.warm_up()
        pipeline.retriever.embedder.forget()
        cold_run, cold_answer = run_pipeline(pipeline, q.question, q.history)
        # Passages matching: what a prefill gives when the partial question found the final passages.
        pipeline.warm_up()
        _, cached = pipeline.prefill(q.question, q.history)
        warm_run, warm_answer = run_pipeline(pipeline, q.question, q.history)
        # As typed: the prefill of the text typed lead_s before sending, whatever passages it found.
        pipeline.warm_up()
        pipeline.prefill(typed_before(q.question, lead_s, chars_per_s), q.history)
        typed_run, _ = run_pipeline(pipeline, q.question, q.history)
        cold.append(cold_run.ttft_ms)
        warm.append(warm_run.ttft_ms)
        typed.append(typed_run.ttft_ms)
        same += bool(cold_answer and warm_answer and cold_answer.raw_answer == warm_answer.raw_answer)
        log(
            f"  {q.id}: TTFT cold {cold_run.ttft_ms:.0f} ms / passages prefilled {warm_run.ttft_ms:.0f} ms "
            f"({cached} tokens) / as typed {typed_run.ttft_ms:.0f} ms"
        )
    lead_chars = round(lead_s * chars_per_s)
    left = sorted({1, 5, 10, lead_chars})
    matched = dict.fromkeys(left, 0)
    for q in everything:
        final = pipeline.prepare(q.question, q.history)
        for n in left:
            try:
                partial = pipeline.prepare(typed_before(q.question, n / chars_per_s, chars_per_s), q.history)
                matched[n] += same_passages(partial, final)
            except ValueError:
                pass  # a partial question with no word yet: no prefill, no match
    matches = matched[lead_chars]
    return PrefillBench(
        questions=len(timed),
        typing_chars_per_s=chars_per_s,
        lead_s=round(lead_s, 2),
        prefill_ms=Latency.of(durations),
        first_token_cold_ms=Latency.of(cold),
        first_token_prefilled_ms=Latency.of(warm),
        first_token_typed_ms=Latency.of(typed),
        same_text=same,
        match_questions=len(everything),
        prefill_match_rate=round(matches / len(everything), 3) if everything else 0.0,
        match_by_chars_left={n: round(m / len(everything), 3) for n, m in matched.items()} if everything else {},
    )


# ---------------------------------------------------------------- 4. start-up

_STARTUP_SCRIPT = r"""
import json, resource, sys, time
spawned = float(sys.argv[1])
from rag.settings import Settings
from rag.pipeline import load_pipeline
imported = time.time()
settings = Settings.model_validate_json(sys.argv[2])
pipeline = load_pipeline(settings)
loaded = time.time()
pipeline.warm_up()
ready = time.time()
rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pipeline.ask(sys.argv[3])
answered = time.time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
status = {}
try:
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            status[key] = int(value.split()[0])
except OSError:
    pass
print(json.dumps({
    "rss_anon_kb": status.get("RssAnon", 0), "rss_file_kb": status.get("RssFile", 0),
    "ready_s": ready - spawned, "imports_s": imported - spawned, "load_s": loaded - imported,
    "warm_up_s": ready - loaded, "first_answer_s": answered - ready,
    "rss_ready_kb": rss_ready, "rss_kb": rss,
}))
"""


def bench_startup(settings: Settings, question: str, timeout: float = 600) -> StartupBench:
    """A fresh serving process: from its spawn to ready (load_pipeline + warm_up), then one answered question.

    Times are measured from a timestamp taken just before the spawn (so interpreter start-up and imports count);
    peak resident memory is the child's own ru_maxrss (the mmap'ed model pages it touched included).
    """
    spawned = time.time()
    result = subprocess.run(
        [sys.executable, "-c", _STARTUP_SCRIPT, repr(spawned), settings.model_dump_json(), question],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        raise RuntimeError(f"start-up benchmark process failed: {tail}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return StartupBench(
        ready_s=round(data["ready_s"], 2),
        imports_s=round(data["imports_s"], 2),
        load_s=round(data["load_s"], 2),
        warm_up_s=round(data["warm_up_s"], 2),
        first_answer_s=round(data["first_answer_s"], 2),
        peak_rss_ready_mb=round(data["rss_ready_kb"] / 1024, 1),
        peak_rss_mb=round(data["rss_kb"] / 1024, 1),
        rss_anon_mb=round(data.get("rss_anon_kb", 0) / 1024, 1),
        rss_file_mb=round(data.get("rss_file_kb", 0) / 1024, 1),
    )


_RAW_LOAD_SCRIPT = r"""
import json, sys, time
spawned = float(sys.argv[1])
import llama_cpp.llama_cpp as low
from llama_cpp import Llama
from sentence_transformers import SentenceTransformer
args = json.loads(sys.argv[2])
default = low.llama_model_default_params
def params():  # the same repacking choice as the served model (Llama() takes no argument for it)
    value = default()
    value.use_extra_bufts = args["repack"]
    return value
low.llama_model_default_params = params
Llama(model_path=args["gguf"], n_ctx=args["n_ctx"], n_batch=args["n_batch"], n_threads=args["threads"], verbose=False)
SentenceTransformer(args["embedder"], device="cpu", local_files_only=True)
print(json.dumps({"raw_load_s": time.time() - spawned}))
"""


def bench_raw_load(settings: Settings, timeout: float = 600) -> float:
    """Seconds for a bare process to import llama-cpp-python and sentence-transformers and load the two models."""
    from rag.embeddings import resolve_embedding_model
    from rag.generation import default_threads, repack_weights
    from rag.gguf import resolve_gguf

    args = {
        "gguf": str(resolve_gguf(settings.llm_model, settings.cache_dir)),
        "embedder": str(resolve_embedding_model(settings.embedding_model, settings.cache_dir)),
        "n_ctx": settings.n_ctx, "n_batch": settings.n_batch, "threads": default_threads(settings),
        "repack": repack_weights(settings.llm_repack, settings.cache_dir),
    }
    spawned = time.time()
    result = subprocess.run(
        [sys.executable, "-c", _RAW_LOAD_SCRIPT, repr(spawned), json.dumps(args)],
        capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"raw load process failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    return round(json.loads(result.stdout.strip().splitlines()[-1])["raw_load_s"], 2)


def bench_serve_ready(settings: Settings, timeout: float = 600) -> tuple[float, float]:
    """(seconds from spawning `rag serve` to its GET /health answering 200 (index, embedder and model loaded),
    resident MB of it and its children then), with the bench's own thread counts, as bench_raw_load has them."""
    from rag.bench_service import ServeProcess, serve_env

    env = {**serve_env(settings), "RAG_LLM_THREADS": str(settings.llm_threads), "RAG_TORCH_THREADS": str(settings.torch_threads)}
    with tempfile.TemporaryDirectory() as tmp:
        spawned = time.monotonic()
        server = ServeProcess(env, Path(tmp), "ready")
        try:
            server.wait_healthy(timeout)
            return round(time.monotonic() - spawned, 2), round(server.resident_mb(), 1)
        finally:
            server.close()


def bench_ready_pairs(settings: Settings, pairs: int) -> tuple[list[tuple[float, float]], float]:
    """(rag serve ready s, raw load s) of `pairs` pairs of runs, which of the two goes first alternating, and the
    largest resident MB of a serving process tree at ready."""
    out, resident = [], 0.0
    for n in range(pairs):
        if n % 2:
            raw = bench_raw_load(settings)
            serve, mb = bench_serve_ready(settings)
        else:
            serve, mb = bench_serve_ready(settings)
            raw = bench_raw_load(settings)
        out.append((serve, raw))
        resident = max(resident, mb)
    return out, resident


# ---------------------------------------------------------------- targets and the table


def check_targets(result: BenchResult) -> list[Target]:
    t = TARGETS
    out: list[Target] = []
    if result.ingest:
        out.append(Target("ingest chunks/s, pipeline / raw", result.ingest.ratio, t["ingest_ratio"], True))
    for c in result.retrieval:
        if c.kind == "hnsw" and c.recall_at_10 is not None:
            out.append(Target(f"HNSW recall@10, {c.corpus}", c.recall_at_10, t["hnsw_recall_at_10"], True))
        if c.kind == "hnsw" and c.chunks >= 100_000:
            out.append(Target(f"retrieval p95 ms, {c.corpus} HNSW", c.total.p95, t["retrieval_p95_ms_100k"], False))
    if result.answering:
        a = result.answering
        out.append(Target("TTFT pipeline / raw (p50)", a.ttft_ratio, 1 + t["ttft_overhead"], False))
        out.append(Target("generation tok/s, pipeline / raw", a.gen_speed_ratio, t["gen_speed_ratio"], True))
    if result.prefill:
        out.append(Target("first token prefilled / cold", result.prefill.prefilled_ratio, t["prefilled_ratio"], False))
    if result.startup:
        out.append(Target("start to ready, s", result.startup.ready_s, t["ready_s"], False))
        if result.startup.raw_load_s:
            out.append(Target("rag serve ready / raw load", result.startup.ready_ratio, t["ready_ratio"], False))
        out.append(Target("peak RSS after one answer, GB", round(result.startup.peak_rss_mb / 1024, 2), t["peak_rss_gb"], False))
        if result.startup.serve_rss_ready_mb:
            out.append(Target("rag serve resident at ready, GB", round(result.startup.serve_rss_ready_mb / 1024, 2), t["peak_rss_gb"], False))
    return out


def _pair(a: float, b: float, digits: int = 1) -> str:
    return f"{a:.{digits}f} / {b:.{digits}f}"


def _target_cell(targets: dict[str, Target], name: str) -> str:
    target = targets.get(name)
    if target is None:
        return ""
    sign = ">=" if target.higher_is_better else "<="
    return f"{sign} {target.limit:g}  {'ok' if target.ok else 'MISS'}"


def _by_chars(rates: dict[int, float]) -> str:
    """'1: 0.50, 5: 0.06': the match rate by characters left to type."""
    return ", ".join(f"{n}: {r:.2f}" for n, r in rates.items())


def table_rows(result: BenchResult) -> list[tuple[str, str, str, str]]:
    """(section, metric, value, target) rows of the bench table."""
    targets = {t.name: t for t in result.targets()}
    e = result.env
    rows = [
        ("env", "date", e.date, ""),
        ("env", "nproc / CPU", f"{e.nproc} / {e.cpu_model}", ""),
        ("env", "load average (1/5/15 min) at start; at end", f"{e.load_average}; {result.load_average_end or '-'}", ""),
        ("env", "llama.cpp build flags", e.llama_build_flags, ""),
        ("env", "llama.cpp CPU features", e.llama_system_info, ""),
        ("env", "llama.cpp repacked weights", e.llama_repack, ""),
        ("env", "cpu (model · vector extensions · llama.cpp)", e.cpu, ""),
        ("env", "llama_cpp (python) / Python", f"{e.llama_cpp_version} / {e.python}", ""),
        ("env", "threads torch / llama.cpp / faiss", f"{e.torch_threads} / {e.llama_threads} / {e.faiss_threads}", ""),
    ]
    if result.ingest:
        i = result.ingest
        rows += [
            ("ingest", "documents / chunks / their sentences (batch size)", f"{i.documents} / {i.chunks} / {i.units} ({i.batch_size})", ""),
            ("ingest", f"pipeline ingest chunks/s (best of {i.repeats})", f"{i.pipeline_chunks_per_s:.1f}  ({i.pipeline_s:.2f} s, embedding {i.pipeline_embed_s:.2f} s)", ""),
            ("ingest", f"raw encode chunks/s (best of {i.repeats})", f"{i.raw_chunks_per_s:.1f}  ({i.raw_s:.2f} s)", ""),
            ("ingest", "ratio pipeline / raw", f"{i.ratio:.3f}", _target_cell(targets, "ingest chunks/s, pipeline / raw")),
            ("ingest", "max |pipeline - raw| vector component", f"{i.max_abs_diff:.1e}", ""),
        ]
    for c in result.retrieval:
        label = f"{c.corpus} {c.kind} ({c.chunks:,} chunks)"
        rows.append(("retrieval", f"{label} embed+search p50 / p95 ms", _pair(c.total.p50, c.total.p95), _target_cell(targets, f"retrieval p95 ms, {c.corpus} HNSW") if c.kind == "hnsw" else ""))
        rows.append(("retrieval", f"{label} query embed / search p50 ms", _pair(c.embed.p50, c.search.p50, 2), ""))
        if c.kind == "hnsw":
            rows.append(("retrieval", f"{label} build s", f"{c.build_s:.1f}", ""))
            rows.append(("retrieval", f"{label} recall@10 / recall@1 vs exact", _pair(c.recall_at_10, c.recall_at_1, 3), _target_cell(targets, f"HNSW recall@10, {c.corpus}")))
    if result.answering:
        a = result.answering
        rows += [
            ("answer", "model / questions", f"{a.model} / {a.questions}", ""),
            ("answer", "prompt / completion tokens (mean)", _pair(a.prompt_tokens_mean, a.completion_tokens_mean), ""),
            ("answer", "prompt tokens per part (mean)", " · ".join(f"{k} {v:.0f}" for k, v in a.prompt_parts_mean.items()), ""),
            ("answer", "raw llama.cpp TTFT p50 / p95 ms", _pair(a.raw_ttft.p50, a.raw_ttft.p95, 0), ""),
            ("answer", "pipeline TTFT p50 / p95 ms (from question)", _pair(a.pipeline_ttft.p50, a.pipeline_ttft.p95, 0), ""),
            ("answer", "  of which prepare() p50 / p95 ms", _pair(a.retrieve.p50, a.retrieve.p95, 0), ""),
            ("answer", "evidence shown: prepare() alone p50 / p95 ms", _pair(a.evidence.p50, a.evidence.p95, 0), ""),
            ("answer", "TTFT pipeline / raw (p50; median per question)", f"{a.ttft_ratio:.3f}; {a.ttft_ratio_median:.3f}", _target_cell(targets, "TTFT pipeline / raw (p50)")),
            ("answer", "generation tok/s raw / pipeline (median)", _pair(a.raw_tokens_per_s, a.pipeline_tokens_per_s, 2), ""),
            ("answer", "generation speed pipeline / raw", f"{a.gen_speed_ratio:.3f}", _target_cell(targets, "generation tok/s, pipeline / raw")),
            ("answer", "total p50 ms raw / pipeline", _pair(a.raw_total.p50, a.pipeline_total.p50, 0), ""),
            ("answer", "same answer text in both arms", f"{a.same_text} / {a.questions}", ""),
        ]
    if result.prefill:
        f = result.prefill
        rows += [
            ("prefill", f"prefill ms p50 / p95 ({f.questions} questions; lead {f.lead_s:.1f} s at {f.typing_chars_per_s:.0f} chars/s)", _pair(f.prefill_ms.p50, f.prefill_ms.p95, 0), ""),
            ("prefill", "first token p50 ms cold / passages prefilled", _pair(f.first_token_cold_ms.p50, f.first_token_prefilled_ms.p50, 0), ""),
            ("prefill", "first token prefilled / cold (p50)", f"{f.prefilled_ratio:.3f}", _target_cell(targets, "first token prefilled / cold")),
            ("prefill", "first token p50 ms after the prefill of the question as typed", f"{f.first_token_typed_ms.p50:.0f}", ""),
            ("prefill", "same answer text cold / prefilled", f"{f.same_text} / {f.questions}", ""),
            ("prefill", f"partial question finds the same passages ({f.match_questions} questions)", f"{f.prefill_match_rate:.3f}", ""),
            ("prefill", "same passages by characters left to type", _by_chars(f.match_by_chars_left), ""),
        ]
    if result.startup:
        s = result.startup
        rows += [
            ("startup", "start to ready s (imports / load / warm-up)", f"{s.ready_s:.1f}  ({s.imports_s:.1f} / {s.load_s:.1f} / {s.warm_up_s:.1f})", _target_cell(targets, "start to ready, s")),
            ("startup", "first answer after ready s", f"{s.first_answer_s:.1f}", ""),
            ("startup", f"rag serve ready s / raw load of the two models s (medians of {len(s.ready_pairs)})", _pair(s.serve_ready_s, s.raw_load_s), ""),
            ("startup", "rag serve ready / raw load (median of the pairs)", f"{s.ready_ratio:.3f}", _target_cell(targets, "rag serve ready / raw load")),
            ("startup", "peak RSS MB at ready / after one answer", _pair(s.peak_rss_ready_mb, s.peak_rss_mb, 0), _target_cell(targets, "peak RSS after one answer, GB") + " (GB)"),
            ("startup", "resident after answer: private / file-backed MB", _pair(s.rss_anon_mb, s.rss_file_mb, 0), ""),
            ("startup", "rag serve resident at ready, with its embedding process, MB", f"{s.serve_rss_ready_mb:.0f}", _target_cell(targets, "rag serve resident at ready, GB") + " (GB)"),
        ]
    if result.service is not None:
        from rag.bench_service import service_rows

        rows += service_rows(result.service)
    if result.other_cpu:
        shares = " / ".join(f"{v:.0%}" for v in result.other_cpu.values())
        rows.append(("run", f"CPU taken by other processes ({' / '.join(result.other_cpu)})", shares, "0% for clean figures"))
    rows.append(("run", "bench runtime s" + (" (--quick)" if result.quick else ""), f"{result.runtime_s:.0f}", ""))
    return rows


def format_table(result: BenchResult) -> str:
    rows = [("section", "metric", "value", "target")] + table_rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 12)
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------- the whole run


SECTIONS = ("ingest", "retrieval", "answering", "prefill", "startup", "parity", "store", "api", "servers")


def run_bench(
    settings: Settings, questions_path: Path, quick: bool = False, log: Log = _quiet, sections: Iterable[str] | None = None
) -> BenchResult:
    """The sections in one run: ingest, retrieval (default, 10k, 100k), answering, start-up, then the serving ones
    (rag/bench_service.py: store parity and latency, API concurrency, two servers on one database)."""
    import gc

    import torch

    from rag.evaluation import load_questions
    from rag.generation import default_threads, load_generator, repack_weights
    from rag.ingest import dense_params
    from rag.pipeline import Pipeline
    from rag.retrieval import load_retriever

    wanted = set(sections or SECTIONS)
    started = time.perf_counter()
    questions = load_questions(questions_path)
    if quick:
        questions = questions[:QUICK_QUESTIONS]
    if not questions:
        raise ValueError(f"{questions_path}: no question")
    texts = [q.question for q in questions]

    log("loading the index and the embedding model")
    retriever = load_retriever(settings)
    embedder = retriever.embedder
    result = BenchResult(quick=quick, env=collect_env(torch.get_num_threads(), default_threads(settings)))
    result.env.llama_repack = f"{'on' if repack_weights(settings.llm_repack, settings.cache_dir) else 'off'} ({settings.llm_repack})"

    meter = CpuMeter()
    if "ingest" in wanted:
        log("1/4 ingest: pipeline against raw encode")
        result.ingest = bench_ingest(settings.docs_dir, settings, embedder, copies=3 if quick else 10, repeats=1 if quick else 3, log=log)
        result.other_cpu["ingest"] = meter.share()
    meter.start()
    if "retrieval" in wanted:
        log("2/4 retrieval")
        samples = 16 if quick else 64
        result.retrieval.append(bench_default_retrieval(retriever, texts, samples))
        for n in (10_000,) if quick else (10_000, 100_000):
            result.retrieval += bench_synthetic_retrieval(
                n, embedder, texts, dense_params(settings), samples=samples, search_k=settings.candidates, log=log
            )
            gc.collect()
        result.other_cpu["retrieval"] = meter.share()
    meter.start()
    if wanted & {"answering", "prefill"}:
        generator = load_generator(settings)
        pipeline = Pipeline(settings, retriever, generator)
        pipeline.warm_up()
    if "answering" in wanted:
        log(f"3/4 answering {len(questions)} questions with {settings.llm_model} (raw and pipeline, alternating)")
        result.answering = bench_answering(pipeline, questions, log)
        result.other_cpu["answering"] = meter.share()
    meter.start()
    if "prefill" in wanted:
        log(f"3b prefill while typing: {len(questions)} questions cold and prefilled, match rate on all of {questions_path}")
        everything = load_questions(questions_path)
        result.prefill = bench_prefill(pipeline, questions, everything, settings.prefill_debounce_ms / 1000, log=log)
        result.other_cpu["prefill"] = meter.share()
    if wanted & {"answering", "prefill"}:
        close = getattr(generator.llm, "close", None)
        if close:
            close()
        del pipeline, generator
        gc.collect()
    meter.start()
    if "startup" in wanted:
        log("4/4 start-up of a fresh serving process")
        result.startup = bench_startup(settings, questions[0].question)
        pairs, result.startup.serve_rss_ready_mb = bench_ready_pairs(settings, 3 if quick else 5)
        result.startup.ready_pairs = pairs
        result.startup.serve_ready_s = round(statistics.median(serve for serve, _ in pairs), 2)
        result.startup.raw_load_s = round(statistics.median(raw for _, raw in pairs), 2)
        result.other_cpu["startup"] = meter.share()
    service = wanted & {"parity", "store", "api", "servers"}
    if service:
        from rag.bench_service import run_service_bench

        meter.start()
        result.service = run_service_bench(settings, embedder, questions_path, texts, quick, service, log)
        result.other_cpu["serving"] = meter.share()
    result.runtime_s = round(time.perf_counter() - started, 1)
    result.load_average_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return result
