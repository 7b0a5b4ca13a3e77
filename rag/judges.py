"""The judges of a claim the words alone cannot settle (across languages): e5 similarity, the default, or the loaded
model asked about its own answer. `Settings.support_judge` chooses; `rag eval` counts what each passed."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from rag.prompts import JUDGE
from rag.text import clauses
from rag.types import Claim, Source

if TYPE_CHECKING:
    from rag.generation import Generator


class Judge(Protocol):
    """Decides whether each (claim, evidence sources) pair is stated by the evidence."""

    def __call__(self, items: list[tuple[Claim, list[Source]]]) -> list[bool]: ...


class EmbeddingJudge:
    """Stated when the e5 similarity of the claim and its evidence, or one clause of it, reaches the threshold
    (cheap, blind to relations)."""

    def __init__(self, checker_similarity: Callable[[list[str], list[str]], np.ndarray], threshold: float) -> None:
        self.similarity = checker_similarity
        self.threshold = threshold

    def __call__(self, items: list[tuple[Claim, list[Source]]]) -> list[bool]:
        if not items:
            return []
        parts = [clauses(" ".join(s.text for s in ev)) for _, ev in items]
        scores = self.similarity([c.text for c, _ in items], [p for group in parts for p in group])
        verdicts, at = [], 0
        for i, group in enumerate(parts):
            verdicts.append(bool(scores[i, at : at + len(group)].max() >= self.threshold))
            at += len(group)
        return verdicts


class ModelJudge:
    """The loaded model judges each claim against the source lines it rests on, continuing the answer's conversation."""

    def __init__(self, generator: "Generator", messages: list[dict], raw_answer: str) -> None:
        self.generator = generator
        self.base = messages + [{"role": "assistant", "content": raw_answer}]

    def __call__(self, items: list[tuple[Claim, list[Source]]]) -> list[bool]:
        verdicts = []
        for claim, evidence in items:
            refs = " ".join(f"[{s.k}]" for s in evidence)
            ask = JUDGE.format(refs=refs, claim=claim.text)
            verdicts.append(self.generator.yes_no(self.base + [{"role": "user", "content": ask}]))
        return verdicts
