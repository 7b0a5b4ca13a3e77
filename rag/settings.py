"""Every tunable of the project in one typed object, read from RAG_* environment variables and CLI flags."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-offline"


class Settings(BaseSettings):
    """Defaults for the whole product; override with RAG_<NAME> or the matching CLI flag."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    # Locations
    docs_dir: Path = Path("docs")
    index_dir: Path = Path("index")
    uploads_dir: Path = Path("uploads")  # where the web UI keeps uploaded files
    cache_dir: Path = Field(default_factory=_default_cache_dir)

    # Embeddings: a known name or the path of any sentence-transformers folder
    embedding_model: str = "multilingual-e5-small"
    embed_batch_size: int = 16
    torch_threads: int = 0  # 0: all cores while ingesting alone; the server lowers it

    # Chunking (sentences, words counted by whitespace); 60-100 words, one sentence overlap measured best
    chunk_min_words: int = 60
    chunk_max_words: int = 100
    chunk_overlap_sentences: int = 1

    # Index
    store: str = Field(
        "faiss",
        description="where the index lives: 'faiss' (the index folder, embedded default) or a postgresql:// URL "
        "(documents, chunks, embeddings and manifest in PostgreSQL with pgvector, shared by several servers)",
    )
    pg_connect_timeout: float = Field(10.0, ge=1, le=300, description="seconds to wait for PostgreSQL to accept a connection")
    ann_threshold: int = 20_000  # above this many chunks, FAISS HNSW replaces exact search
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    exclude_labels: list[str] = ["boilerplate"]  # kept in the document, never retrieved
    index_keep_versions: int = Field(
        2, ge=2, le=100, description="index versions always kept on disk, the current one included"
    )
    index_grace_seconds: float = Field(
        300.0,
        ge=0,
        le=7 * 24 * 3600,
        description="an older superseded version is deleted only after this long, so readers loading it finish",
    )

    # Retrieval
    top_k: int = 4
    candidates: int = 30  # per retriever, before fusion
    rrf_k: int = 60
    followup_extra: int = Field(
        2, ge=0, le=8, description="in a conversation, chunks the question alone adds to those found with the last exchange"
    )
    common_term_ratio: float = 0.4  # words in more chunks than this share are left out of the dense query

    # Generation
    llm_model: str = "qwen2.5-coder-1.5b"  # a known name or a GGUF path
    llm_threads: int = 0  # 0: number of cores
    n_ctx: int = 4096
    n_batch: int = 512
    # Reading the GGUF into memory instead of mapping it: llama.cpp repacks most weights for the CPU anyway, and
    # with a mapping the file's pages stay resident next to the repacked copy (measured by `rag bench`).
    llm_mmap: bool = False
    max_tokens: int = 200  # an answer is one or two sentences; a longer output is the model rambling
    temperature: float = 0.0
    max_question_chars: int = 2000
    # Remote generation: an OpenAI-compatible server (llama.cpp's server, vLLM, llama-cpp-python's) instead of the
    # local model; the same prompts and checks apply.
    llm_url: str = Field("", description="base URL of an OpenAI-compatible server for generation ('' = local model)")
    llm_api_key: str = Field("", description="bearer key sent to the generation server, if it wants one")
    llm_remote_model: str = Field(
        "", description="model name sent to the generation server ('' = the llm_model name, or what it serves)"
    )
    llm_timeout: float = Field(300.0, ge=1, le=3600, description="seconds one generation request may take")
    context_token_budget: int = 220  # tokens of passage text sent to the model (prompt reading dominates latency)
    sentence_score_gap: float = 0.06  # passage sentences scoring this far below the best one are left out

    # Citations
    support_threshold: float = 0.5
    support_judge: Literal["model", "embedding", "none"] = Field(
        "embedding",
        description="who settles a claim written in another language than its source: e5 similarity, the loaded "
        "model asked yes/no from its cache, or nobody (the claim stays unsupported)",
    )
    support_paraphrase_words: int = Field(
        7, ge=1, le=100, description="within one language, a claim may lack one needed word in its source per this many (synonyms)"
    )
    support_max_cited: int = Field(3, ge=1, le=20, description="source lines one answer sentence may rest on together")
    strict: bool = True  # withhold answers that no passage supports (shown flagged when False)

    # Progress lines of `rag ingest` when standard error is not a terminal (a log file, a pipe)
    progress_interval_seconds: float = Field(
        5.0, ge=0.1, le=3600, description="seconds between two plain progress lines (also one every 10 %)"
    )

    # Server
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 20
    auth: str = ""  # "user:password" to require a login (use it when host is not 127.0.0.1)
    api_key: str = Field(
        "", description="bearer key required by /v1/* (the OpenAI-compatible API); without one, only loopback clients may use it"
    )
    api_stream: Literal["checked", "live"] = Field(
        "checked",
        description="what /v1/chat/completions streams: the checked answer once verified ('checked'), or the text as "
        "the model writes it followed by the checked answer when the check changed it ('live')",
    )
    api_queue_timeout: float = Field(
        600.0, ge=1, le=24 * 3600, description="seconds an API request may wait for the model before it gets a 503"
    )

    def resolved(self, **overrides: object) -> "Settings":
        """A copy with the non-None overrides applied (CLI flags win over the environment)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return self.model_copy(update=clean)
