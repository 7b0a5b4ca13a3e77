"""Sources that disagree: two documents giving different values of one unit for the same thing.

"The same thing" is read from the words around each number: the two numbers share their unit ("ans", "%",
"GB", none for a year) and the words just before them share a name, or two other words ("Alexandr Wang, 28 ans"
and "Wang, âgé de 29 ans"; "the default timeout is 30 seconds" and "timeout defaults to 60 seconds").
"""
from __future__ import annotations

from dataclasses import dataclass

from rag.context import Candidate, unit_text
from rag.facts import Quantity, names, quantities
from rag.index import Index
from rag.text import WORD, analyzer, fold

WINDOW = 6  # words before a number that say what it counts


@dataclass(frozen=True)
class Conflict:
    first: Candidate
    first_value: Quantity
    second: Candidate
    second_value: Quantity

    @property
    def values(self) -> tuple[float, float]:
        return self.first_value.value, self.second_value.value


@dataclass(frozen=True)
class _Figure:
    cand: Candidate
    quantity: Quantity
    names: frozenset[str]
    words: frozenset[str]


def _figures(cand: Candidate, text: str) -> list[_Figure]:
    """Each number of a unit with the names and words written just before it."""
    out = []
    for q in quantities(text, cand.unit.lang):
        before = " ".join(WORD.findall(text[: q.start])[-WINDOW:])
        found = frozenset(fold(n) for n in names(before, cand.unit.lang))
        words = frozenset(analyzer(cand.unit.lang).terms(before)) - {fold(q.unit)}
        out.append(_Figure(cand, q, found, frozenset(w for w in words if not w.isdigit())))
    return out


def _same_thing(a: _Figure, b: _Figure) -> bool:
    return a.quantity.unit == b.quantity.unit and bool(a.names & b.names or len(a.words & b.words) >= 2)


def find_conflicts(cands: list[Candidate], index: Index) -> list[Conflict]:
    """Pairs of units of different documents that give different values for the same thing."""
    figures = [f for cand in cands for f in _figures(cand, unit_text(index, cand))]
    conflicts: list[Conflict] = []
    for i, a in enumerate(figures):
        for b in figures[i + 1 :]:
            if a.cand.hit.chunk.doc_id == b.cand.hit.chunk.doc_id or a.quantity.value == b.quantity.value:
                continue
            if _same_thing(a, b) and not any({c.first.key, c.second.key} == {a.cand.key, b.cand.key} for c in conflicts):
                conflicts.append(Conflict(a.cand, a.quantity, b.cand, b.quantity))
    return conflicts


def relevant_conflicts(conflicts: list[Conflict], scored: list[Candidate], top: int = 3) -> list[Conflict]:
    """Conflicts one side of which is among the units that answer the question best."""
    best = {c.key for c in sorted(scored, key=lambda c: -c.score)[:top]}
    return [c for c in conflicts if c.first.key in best or c.second.key in best]


def as_candidates(conflict: Conflict, scored: list[Candidate]) -> list[Candidate]:
    """The scored versions of a conflict's two units, so both reach the model."""
    keys = {conflict.first.key, conflict.second.key}
    return [c for c in scored if c.key in keys]
