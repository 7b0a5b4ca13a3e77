"""Conversation history: the earlier turns, cleaned, and what a follow-up question is searched with.

No rewriting of the question: the retrieval query is the question ranked alone and with the last exchange
(rag.retrieval), and the model reads the last exchange beside the question (rag.prompts).
"""
from __future__ import annotations

import re

_CITATION = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")


def strip_citations(text: str) -> str:
    """Remove [n] markers so the model does not copy numbers that point at old passages."""
    return _CITATION.sub("", text)


def clean_history(history: list[dict] | None, max_turns: int = 4, max_chars: int = 2000) -> list[dict]:
    """Valid user/assistant turns, the last few only, each shortened, without citation markers."""
    turns = []
    for turn in history or []:
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            continue
        content = strip_citations(str(turn.get("content") or "")).strip()[:max_chars]
        if content:
            turns.append({"role": turn["role"], "content": content})
    return turns[-max_turns:]


def last_said(turns: list[dict], role: str) -> str:
    """The content of the last turn of `role` ("user" or "assistant"), or ""."""
    return next((t["content"] for t in reversed(turns) if t["role"] == role), "")


def retrieval_context(turns: list[dict]) -> str:
    """What a follow-up is searched with besides itself: the last question and the last answer."""
    return " ".join(part for part in (last_said(turns, "user"), last_said(turns, "assistant")) if part)
