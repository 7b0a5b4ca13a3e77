"""Remote generation: an OpenAI-compatible server (llama.cpp's server, vLLM, llama-cpp-python's) writes the answer.

The same prompts go out and the same checks run on what comes back: only the place where tokens are generated
changes, so that many chat servers can share one GPU machine. Sampling is the local model's (temperature from
the settings, top-k 1, no repeat penalty); servers that do not know `top_k` or `repeat_penalty` ignore them.

The pipeline budgets passages in tokens: when the same GGUF is available here, its tokenizer is loaded alone
(`vocab_only`, a few MB, no weights) and counts exactly; otherwise tokens are estimated as characters / 4,
and `RemoteGenerator.exact_tokens` says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from rag.gguf import ModelUnavailable
from rag.prompts import YES_NO_GRAMMAR, judged_yes

if TYPE_CHECKING:
    from rag.generation import OpeningOdds


def chat_url(base: str) -> str:
    """…/v1/chat/completions from a base URL given with or without /v1."""
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


@dataclass
class RemoteGenerator:
    """Same interface as rag.generation.Generator (stream_chat, yes_no, count_tokens, warm_up, name)."""

    url: str
    name: str
    max_tokens: int
    temperature: float
    remote_model: str = ""
    api_key: str = ""
    timeout: float = 300.0
    tokenizer: object = None  # a vocab-only llama_cpp.Llama, when the GGUF is here
    path: Path | None = None
    client: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=10.0), headers=headers)
        self.endpoint = chat_url(self.url)

    @property
    def exact_tokens(self) -> bool:
        return self.tokenizer is not None

    def _body(self, messages: list[dict], max_tokens: int, stream: bool, **extra) -> dict:
        return {
            "model": self.remote_model or self.name,
            "messages": messages,
            "stream": stream,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "top_k": 1,
            "repeat_penalty": 1.0,
            **extra,
        }

    def _fail(self, exc: Exception) -> ModelUnavailable:
        detail = " ".join(str(exc).split())[:300]
        return ModelUnavailable(f"the generation server at {self.url} failed ({type(exc).__name__}: {detail})")

    def stream_chat(self, messages: list[dict], max_tokens: int | None = None, odds: OpeningOdds | None = None) -> Iterator[str]:
        """Yield the answer's text pieces as the server sends them (server-sent events); a server's logits are not
        seen, so `odds` stays unknown."""
        import httpx

        body = self._body(messages, max_tokens or self.max_tokens, True)
        try:
            with self.client.stream("POST", self.endpoint, json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise ModelUnavailable(
                        f"the generation server at {self.url} answered {response.status_code}: {response.text[:300]}"
                    )
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        part = json.loads(data)
                    except ValueError:
                        continue
                    if "error" in part:
                        raise ModelUnavailable(f"the generation server at {self.url} failed: {part['error']}")
                    choices = part.get("choices") or [{}]
                    piece = (choices[0].get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise self._fail(exc) from None

    def yes_no(self, messages: list[dict]) -> bool:
        """A one-word verdict, constrained by a grammar where the server supports one."""
        import httpx

        body = self._body(messages, 2, False, grammar=YES_NO_GRAMMAR)
        body["temperature"] = 0.0
        try:
            response = self.client.post(self.endpoint, json=body)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"] or ""
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise self._fail(exc) from None
        return judged_yes(str(content))

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer.tokenize(text.encode("utf-8"), add_bos=False, special=True))
        return max(1, (len(text) + 3) // 4)

    def warm_up(self, messages: list[dict]) -> None:
        """One token, so the server caches the fixed system prompt (llama.cpp's server keeps the prefix)."""
        for _ in self.stream_chat(messages, max_tokens=1):
            pass

    def close(self) -> None:
        self.client.close()


def load_remote_generator(settings, model: str | None = None) -> RemoteGenerator:
    """A generator on settings.llm_url; the model's tokenizer is loaded alone when its GGUF is in the cache."""
    from rag.gguf import resolve_gguf

    name = model or settings.llm_model
    tokenizer, path = None, None
    try:
        path = resolve_gguf(name, settings.cache_dir)
    except ModelUnavailable:
        path = None
    if path is not None and path.is_file():
        from llama_cpp import Llama

        try:
            tokenizer = Llama(model_path=str(path), vocab_only=True, verbose=False)
        except (ValueError, RuntimeError, OSError):
            tokenizer = None
    return RemoteGenerator(
        url=settings.llm_url,
        name=name,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        remote_model=settings.llm_remote_model,
        api_key=settings.llm_api_key,
        timeout=settings.llm_timeout,
        tokenizer=tokenizer,
        path=path,
    )
