"""Conversation history: the earlier turns, cleaned, and what a follow-up question is searched with.

No rewriting of the question: the retrieval query is the question ranked alone and with the last exchange
(rag.retrieval), and the model reads the last exchange beside the question (rag.prompts).
"""
from __future__ import annotations

import json
import re

ROLES = ("user", "assistant")
_SHAPE = '{"role": "user" or "assistant", "content": text}'

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


class HistoryError(ValueError):
    """A conversation a request may not send (malformed, too long, too large); the message is one line for the user."""


def check_history(history: object, max_turns: int, max_chars: int) -> list[dict]:
    """The history as sent, when it is a list of at most max_turns {role, content} turns holding at most
    max_chars characters in all; HistoryError otherwise (the server refuses it rather than guess)."""
    if not isinstance(history, list):
        raise HistoryError(f"the history must be a JSON list of {_SHAPE} turns, not {type(history).__name__}")
    if len(history) > max_turns:
        raise HistoryError(f"the history is too long ({len(history)} turns, limit {max_turns})")
    total = 0
    for i, turn in enumerate(history, 1):
        if not isinstance(turn, dict) or turn.get("role") not in ROLES or not isinstance(turn.get("content"), str):
            raise HistoryError(f"history turn {i} must be {_SHAPE}")
        total += len(turn["content"])
        if total > max_chars:
            raise HistoryError(f"the history is too large (more than {max_chars} characters)")
    return history


def json_limit(max_turns: int, max_chars: int) -> int:
    """The most characters of JSON a history within the limits can take (escapes, keys and punctuation)."""
    return 6 * max_chars + 64 * max_turns + 1024


def parse_history(text: str | None, max_turns: int, max_chars: int) -> list[dict]:
    """A history sent as JSON text, parsed only when its size allows it, then checked (check_history)."""
    text = text or "[]"
    if not isinstance(text, str):
        raise HistoryError(f"the history must be JSON text, a list of {_SHAPE} turns")
    if len(text) > json_limit(max_turns, max_chars):
        raise HistoryError(f"the history is too large ({len(text)} characters of JSON, limit {max_chars} characters of text)")
    try:
        history = json.loads(text)
    except (ValueError, RecursionError):
        raise HistoryError(f"the history is not valid JSON: it must be a JSON list of {_SHAPE} turns") from None
    return check_history(history, max_turns, max_chars)
