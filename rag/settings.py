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
    docs_dir: Path = Field(Path("docs"), description="the default folder `rag ingest` reads")
    index_dir: Path = Field(Path("index"), description="the index folder of the FAISS store")
    uploads_dir: Path = Field(Path("uploads"), description="where the web chat keeps uploaded files")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="where prepared models are kept")

    # Embeddings
    embedding_model: str = Field(
        "multilingual-e5-small",
        description="multilingual-e5-small, all-MiniLM-L6-v2 (English only) or the path of a sentence-transformers folder",
    )
    embed_batch_size: int = Field(16, ge=1, le=1024, description="texts embedded together while ingesting")
    torch_threads: int = Field(0, ge=0, le=256, description="torch threads (0: the cores other processes leave free)")
    index_unit_vectors: bool = Field(
        True,
        description="store every sentence's vector at ingest: ingest takes about twice as long, "
        "the evidence of each question comes 0.2-0.3 s sooner",
    )

    # Chunking: 60-100 words with one unit of overlap measured best on the public questions
    chunk_min_words: int = Field(60, ge=5, le=2000, description="a chunk grows to at least this many words")
    chunk_max_words: int = Field(100, ge=10, le=4000, description="a chunk stops before this many words")
    chunk_overlap_sentences: int = Field(1, ge=0, le=10, description="units repeated at the start of the next chunk")

    # Index
    store: str = Field(
        "faiss",
        description="where the index lives: 'faiss' (the index folder, embedded default) or a postgresql:// URL "
        "(documents, chunks, embeddings and manifest in PostgreSQL with pgvector, shared by several servers)",
    )
    pg_connect_timeout: float = Field(10.0, ge=1, le=300, description="seconds to wait for PostgreSQL to accept a connection")
    ann_threshold: int = Field(20_000, ge=0, le=10**9, description="above this many chunks, HNSW replaces exact search")
    hnsw_m: int = Field(32, ge=4, le=256, description="HNSW links per node")
    hnsw_ef_construction: int = Field(80, ge=8, le=2000, description="HNSW candidates while building")
    hnsw_ef_search: int = Field(128, ge=8, le=4000, description="HNSW candidates while searching")
    exclude_labels: list[str] = Field(
        ["boilerplate"], description="region labels kept in the document but never retrieved (JSON list)"
    )
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
    top_k: int = Field(4, ge=1, le=50, description="chunks retrieved for a question")
    candidates: int = Field(30, ge=1, le=1000, description="chunks each ranking (dense, keyword) gives to the fusion")
    rrf_k: int = Field(60, ge=1, le=1000, description="reciprocal rank fusion constant")
    followup_extra: int = Field(
        2, ge=0, le=8, description="in a conversation, chunks the question alone adds to those found with the last exchange"
    )
    common_term_ratio: float = Field(
        0.4, gt=0, le=1, description="words in more than this share of the chunks are left out of the dense query"
    )

    # Generation
    llm_model: str = Field("qwen2.5-coder-1.5b", description="a packaged model name or the path of any GGUF file")
    llm_threads: int = Field(0, ge=0, le=256, description="llama.cpp threads (0: the number of cores)")
    n_ctx: int = Field(4096, ge=512, le=131072, description="the model's context window in tokens")
    n_batch: int = Field(512, ge=8, le=8192, description="prompt tokens llama.cpp reads per batch")
    # Reading the GGUF into memory instead of mapping it: where llama.cpp repacks the weights (llm_repack), a
    # mapping keeps the file's pages resident next to the repacked copy (measured by `rag bench`).
    llm_mmap: bool = Field(False, description="map the GGUF file instead of reading it into memory")
    # Which is faster depends on the CPU and the build, not on a flag (rag/llama_tuning.py): `rag setup` measures it.
    llm_repack: Literal["auto", "on", "off"] = Field(
        "auto",
        description="llama.cpp's repacked CPU weight layouts (auto: what `rag setup` measured faster on this CPU, "
        "else off where llama.cpp uses AVX-512)",
    )
    max_tokens: int = Field(
        200, ge=16, le=4096, description="tokens the model may write (an answer is one or two sentences)"
    )
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature (0: greedy, reproducible)")
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="longer questions are refused")
    # A conversation sent through the web API or /v1 is checked whole before anything else (only its last
    # exchange reaches the model): these bound what one request may make the server parse and hold.
    history_max_turns: int = Field(
        200, ge=1, le=100_000, description="a conversation sent with a question may hold at most this many earlier turns (more is refused)"
    )
    history_max_chars: int = Field(
        200_000, ge=100, le=50_000_000, description="the earlier turns sent with a question may hold at most this many characters in all (more is refused)"
    )
    # Remote generation: an OpenAI-compatible server (llama.cpp's server, vLLM, llama-cpp-python's) instead of the
    # local model; the same prompts and checks apply.
    llm_url: str = Field("", description="base URL of an OpenAI-compatible server for generation ('' = local model)")
    llm_api_key: str = Field("", description="bearer key sent to the generation server, if it wants one")
    llm_remote_model: str = Field(
        "", description="model name sent to the generation server ('' = the llm_model name, or what it serves)"
    )
    llm_timeout: float = Field(300.0, ge=1, le=3600, description="seconds one generation request may take")
    context_token_budget: int = Field(
        220, ge=32, le=8192, description="tokens of source text the model reads (reading the prompt dominates latency)"
    )
    sentence_score_gap: float = Field(
        0.06, ge=0, le=1, description="units scoring this far below a chunk's best unit are left out"
    )
    lead_in_lines: int = Field(
        6, ge=0, le=50,
        description="lines a given line ending with a colon brings after it (its command, its list items); 0 = none",
    )

    # The support check
    support_threshold: float = Field(
        0.5, ge=0, le=1, description="the embedding judge's rescaled e5 similarity for 'stated' (0 unrelated, 1 paraphrase)"
    )
    support_judge: Literal["model", "embedding", "none"] = Field(
        "embedding",
        description="who settles a claim written in another language than its source: e5 similarity, the loaded "
        "model asked yes/no from its cache, or nobody (the claim stays unsupported)",
    )
    support_decline_doubt: float = Field(
        0.15, ge=0, le=1,
        description="an answer whose first sentence only the judge found in the sources is withheld when the model, "
        "before writing it, gave at least this probability to declining (1 turns it off; needs the local model)",
    )
    support_paraphrase_words: int = Field(
        7, ge=1, le=100, description="within one language, a claim may lack one needed word in its source per this many (synonyms)"
    )
    support_near_words: int = Field(
        2, ge=1, le=100,
        description="within one language, a claim lacking one needed word per this many in a line may still rest on it, "
        "as a paraphrase (see support_near_similarity)",
    )
    support_near_similarity: float = Field(
        0.945, ge=0, le=1,
        description="the e5 cosine at which such a claim, its added words with counterparts in the line, is a "
        "paraphrase of it (1 turns paraphrases off)",
    )
    support_align_similarity: float = Field(
        0.80, ge=0, le=1,
        description="across languages, the e5 cosine at which a word of the source counts as the counterpart of a word of the claim",
    )
    support_align_share: float = Field(
        0.5, ge=0, le=1,
        description="across languages, the share of the words a claim adds to the question that need a counterpart in its source (0 turns the test off)",
    )
    support_column_margin: float = Field(
        0.01, ge=0, le=1,
        description="e5 cosine by which another column's name must be closer to a claim than the name of the column "
        "holding its number for the claim to rest on the wrong column (when its words name no column; 1 turns it off)",
    )
    support_question_share: float = Field(
        0.85, ge=0, le=1,
        description="an answer whose first sentence, with the lines stating it, leaves out more than this share of the "
        "question's words (weighed by rarity) speaks of something else: off target, withheld in strict mode (1 turns "
        "the test off)",
    )
    support_max_cited: int = Field(
        3, ge=1, le=20, description="source lines one answer sentence may rest on together (more only for a list: one line per item it quotes)"
    )
    strict: bool = Field(True, description="withhold an answer whose first sentence no source states (flag it when false)")

    # Progress lines of `rag ingest` when standard error is not a terminal (a log file, a pipe)
    progress_interval_seconds: float = Field(
        5.0, ge=0.1, le=3600, description="seconds between two plain progress lines (also one every 10 %)"
    )

    # Server
    host: str = Field("127.0.0.1", description="address the chat and the API listen on")
    port: int = Field(7860, ge=1, le=65535, description="port the chat and the API listen on")
    max_upload_mb: int = Field(20, ge=1, le=1024, description="largest file the web chat accepts")
    auth: str = Field("", description="'user:password' to require a login (needed when host is not loopback)")
    api_key: str = Field(
        "", description="bearer key required by /v1/* (the OpenAI-compatible API); without one, only loopback clients may use it"
    )
    api_stream: Literal["checked", "live"] = Field(
        "checked",
        description="what /v1/chat/completions streams: the checked answer once verified ('checked'), or the text as "
        "the model writes it followed by the checked answer when the check changed it ('live')",
    )
    # Prefill: the web chat has the model read a question's prompt while the question is typed (only when idle).
    prefill: bool = Field(True, description="while a question is typed in the web chat and the model is idle, read its prompt up to the question")
    prefill_min_chars: int = Field(8, ge=1, le=1000, description="typed characters before a prefill is worth trying")
    prefill_debounce_ms: int = Field(
        150, ge=0, le=10_000, description="pause in typing before a prefill starts (below the 200 ms between keys at 5 characters/s)"
    )
    api_queue_timeout: float = Field(
        600.0, ge=1, le=24 * 3600, description="seconds an API request may wait for the model before it gets a 503"
    )

    def resolved(self, **overrides: object) -> "Settings":
        """A copy with the non-None overrides applied (CLI flags win over the environment)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return self.model_copy(update=clean)


def valid(name: str, value: object) -> object:
    """`value` checked against the type and bounds of setting `name` (a request's own k, strict...).

    ValueError with one line naming the setting when it does not fit: a request may not go beyond what the
    settings themselves allow.
    """
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError

    field = Settings.model_fields[name]
    kind = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"{name}: {exc.errors()[0]['msg']} (got {str(value)[:40]!r})") from None
