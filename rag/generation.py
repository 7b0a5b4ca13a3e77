"""The local GGUF model: loaded once, prompted with numbered passages, streamed token by token."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from rag.gguf import ModelUnavailable, check_gguf_header, resolve_gguf
from rag.prompts import YES_NO_GRAMMAR, judged_yes
from rag.settings import Settings

FALLBACK_CHAT_FORMAT = "chatml"


class OpeningOdds:
    """The probability the model gives, before its first token, to opening with `text`'s first token: read from the
    logits llama.cpp samples from, by a processor that changes nothing (no extra evaluation).

    Opened with the decline mark, it says how near the model came to declining; None where no logits are seen (a
    remote server)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.token: int | None = None
        self.probability: float | None = None

    def __call__(self, input_ids, logits):
        if self.probability is None and self.token is not None:
            weights = np.exp(logits.astype(np.float64) - float(np.max(logits)))
            self.probability = float(weights[self.token] / weights.sum())
        return logits


@dataclass
class Generator:
    """A loaded llama.cpp model and the name it was asked for."""

    llm: object
    name: str
    path: Path
    max_tokens: int
    temperature: float

    def stream_chat(self, messages: list[dict], max_tokens: int | None = None, odds: OpeningOdds | None = None) -> Iterator[str]:
        """Yield the answer's text pieces as the model writes them (`odds` filled in before the first)."""
        processors = None
        if odds is not None:
            from llama_cpp import LogitsProcessorList

            odds.token = self.llm.tokenize(odds.text.encode("utf-8"), add_bos=False, special=True)[0]
            processors = LogitsProcessorList([odds])
        stream = self.llm.create_chat_completion(
            messages=messages,
            stream=True,
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature,
            top_k=1,
            repeat_penalty=1.0,
            logits_processor=processors,
        )
        for part in stream:
            delta = part["choices"][0].get("delta", {})
            if delta.get("content"):
                yield delta["content"]

    def yes_no(self, messages: list[dict]) -> bool:
        """The model's one-word verdict on the last message, constrained by a grammar to the judge's two words.

        Asked as a continuation of the answer's conversation, llama.cpp reuses the cached prompt and answer:
        only the question's own tokens are read.
        """
        reply = self.llm.create_chat_completion(
            messages=messages, max_tokens=2, temperature=0.0, top_k=1, repeat_penalty=1.0, grammar=_yes_no_grammar()
        )
        return judged_yes(str(reply["choices"][0]["message"]["content"] or ""))

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def warm_up(self, messages: list[dict]) -> None:
        """Evaluate a prompt once so the fixed prefix sits in llama.cpp's cache before the first question."""
        for _ in self.stream_chat(messages, max_tokens=1):
            pass

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        """The tokens llama.cpp reads for these messages (its chat template applied), without reading them."""
        from llama_cpp import Llama

        recorder = _PromptRecorder(self.llm)
        Llama.create_chat_completion(recorder, messages=messages, stream=True, max_tokens=1)
        return recorder.tokens

    def prefill(self, tokens: list[int], stop: Callable[[], bool], step: int = 64) -> int:
        """Read prompt tokens into llama.cpp's cache after the part of them already there, `step` at a time, until
        stop() says someone needs the model; the number of these tokens now cached.

        The next prompt that starts with them reads only the rest (llama.cpp keeps the longest common prefix).
        """
        llm = self.llm
        if len(tokens) >= llm.n_ctx() - self.max_tokens:
            return 0
        cached = common_prefix(list(llm._input_ids), tokens)
        if cached < len(tokens) and not stop():
            llm.n_tokens = cached  # eval() first drops what the cache holds past this point
            for start in range(cached, len(tokens), step):
                llm.eval(tokens[start : start + step])
                if stop():
                    break
        return common_prefix(list(llm._input_ids), tokens)


class _PromptRecorder:
    """Stands in for a Llama inside its chat handler: keeps the prompt's tokens instead of evaluating them."""

    def __init__(self, llm) -> None:
        self._llm = llm
        self.tokens: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self._llm, name)

    def create_completion(self, prompt, **kwargs):
        self.tokens = list(prompt)
        return iter(())


def common_prefix(a: list, b: list) -> int:
    """How many leading items two sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@lru_cache(maxsize=1)
def _yes_no_grammar():
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(YES_NO_GRAMMAR, verbose=False)


def default_threads(settings: Settings) -> int:
    return settings.llm_threads or os.cpu_count() or 1


def checked_gguf(settings: Settings, model: str | None = None) -> tuple[str, Path]:
    """The model's name and its GGUF file, found without download and checked to be one (ModelUnavailable else)."""
    name = model or settings.llm_model
    path = resolve_gguf(name, settings.cache_dir)
    check_gguf_header(path)
    return name, path


def load_tokenizer(settings: Settings, model: str | None = None) -> Generator:
    """The GGUF's vocabulary alone (no weights: a fraction of a second): counts tokens, generates nothing. What
    re-checking recorded answers needs, the passages being chosen within a budget of the model's tokens."""
    name, path = checked_gguf(settings, model)
    from llama_cpp import Llama

    try:
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelUnavailable(f"model {path} could not be read ({exc}): the file may be corrupt") from None
    return Generator(llm, name, path, 0, 0.0)


def load_generator(settings: Settings, model: str | None = None) -> Generator:
    """Load the configured GGUF once (no download); raise ModelUnavailable with a clear message.

    With settings.llm_url, generation goes to that OpenAI-compatible server instead (rag.remote).
    """
    if settings.llm_url:
        from rag.remote import load_remote_generator

        return load_remote_generator(settings, model)
    name, path = checked_gguf(settings, model)
    from llama_cpp import Llama

    threads = default_threads(settings)
    try:
        with model_params(use_extra_bufts=repack_weights(settings.llm_repack, settings.cache_dir)):
            llm = Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_batch=settings.n_batch,
                n_threads=threads,
                n_threads_batch=threads,
                use_mmap=settings.llm_mmap,
                verbose=False,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelUnavailable(f"model {path} could not be loaded ({exc}): the file may be corrupt") from None
    return Generator(llm, name, path, settings.max_tokens, settings.temperature)


def llama_features() -> list[str]:
    """The CPU features llama.cpp was built with and uses ("AVX2", "AVX512", "OPENMP", "REPACK", ...)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return [part.split("=")[0].replace("CPU :", "").strip() for part in info.split("|") if part.strip().endswith("= 1")]


def repack_weights(choice: str, cache_dir: Path | None = None) -> bool:
    """Whether llama.cpp repacks the weights for its CPU kernels: 'on', 'off', or 'auto': what `rag setup` measured
    faster on this CPU and build (rag.llama_tuning), and where it has not, off with AVX-512 (measured on one Xeon)."""
    if choice != "auto":
        return choice == "on"
    from rag.llama_tuning import measured_repack

    measured = measured_repack(cache_dir) if cache_dir else None
    return measured if measured is not None else "AVX512" not in llama_features()


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def model_params(**fields: object) -> Iterator[None]:
    """Llama() loads with these of llama.cpp's model parameters set, which it takes no argument for: the defaults
    it starts from are changed for the duration of the load (one such load at a time)."""
    import llama_cpp.llama_cpp as low

    default = low.llama_model_default_params

    def params():
        value = default()
        for name, setting in fields.items():
            setattr(value, name, setting)
        return value

    with _PARAMS_LOCK:
        low.llama_model_default_params = params
        try:
            yield
        finally:
            low.llama_model_default_params = default


_SMOKE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False)
out = llm.create_completion("Paris is the capital of", max_tokens=1, temperature=0)
print(repr(out["choices"][0]["text"]))
"""


def smoke_test(path: Path, timeout: float = 300) -> str:
    """Decode one token in a child process: a build that crashes on this CPU fails here, not in front of a user."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _SMOKE, str(path)], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        raise ModelUnavailable(
            f"llama-cpp-python failed to decode a token with {path} (exit {result.returncode}: {tail}); "
            "rebuild it with RAG_LLAMA_BUILD=portable scripts/setup.sh"
        )
    return f"decoded {result.stdout.strip()} in {time.perf_counter() - started:.1f} s"
