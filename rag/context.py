"""From retrieved chunks to the passages the model reads: the units that matter, within a token budget."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from rag.chunking import unit_embedding_text
from rag.embeddings import Embedder
from rag.facts import code_spans, contains_code
from rag.index import Index
from rag.retrieval import Hit
from rag.text import opens_list
from rag.types import STRUCTURED_KINDS, Passage, Unit


@dataclass(frozen=True)
class Candidate:
    """A unit of a retrieved chunk, with the chunk's rank and the unit's score against the question."""

    rank: int  # rank of its chunk in retrieval, 0 = best
    hit: Hit
    unit: Unit
    score: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        """Units are the same when their document offsets are: overlapping chunks share one."""
        return self.hit.chunk.doc_id, self.unit.start


def candidates(hits: list[Hit]) -> list[Candidate]:
    """Every unit of every retrieved chunk, once (the first chunk holding it wins)."""
    seen: set[tuple[str, int]] = set()
    out = []
    for rank, hit in enumerate(hits):
        for unit in hit.chunk.units:
            cand = Candidate(rank, hit, unit)
            if cand.key not in seen:
                seen.add(cand.key)
                out.append(cand)
    return out


def unit_text(index: Index, cand: Candidate) -> str:
    return index.documents[cand.hit.chunk.doc_id].text[cand.unit.start : cand.unit.end]


def score_units(queries: list[str], cands: list[Candidate], index: Index, embedder: Embedder) -> tuple[list[Candidate], np.ndarray]:
    """Mean cosine of each unit (with its headings) against the query variants, plus a small bonus for the chunk's
    retrieval rank; also returns the units' vectors (the conflict finder compares units with them).

    The variants are the question and its focused form (ubiquitous words removed): the first keeps the subject
    ("LeCun works in..."), the second the point ("...company wants to understand").
    """
    if not cands:
        return [], np.zeros((0, embedder.dim), dtype=np.float32)
    vectors = unit_vectors(cands, index, embedder)
    sims = (vectors @ embedder.embed_queries(queries).T).mean(axis=1)
    # Retrieval saw the whole chunk (and BM25): keep a trace of its opinion so a strong chunk is not emptied.
    scored = [Candidate(c.rank, c.hit, c.unit, float(sim) + 0.02 / (1 + c.rank)) for c, sim in zip(cands, sims)]
    return scored, vectors


def unit_vectors(cands: list[Candidate], index: Index, embedder: Embedder) -> np.ndarray:
    """The units' vectors as the index stored them at ingest, else encoded now (an index that stores none)."""
    stored = index.units_of([c.hit.chunk.chunk_id for c in cands])
    rows: list[np.ndarray | None] = []
    for cand in cands:
        vectors = stored.get(cand.hit.chunk.chunk_id)
        rows.append(None if vectors is None else vectors[cand.hit.chunk.units.index(cand.unit)])
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        docs = index.documents
        encoded = embedder.embed_units([unit_embedding_text(docs[cands[i].hit.chunk.doc_id], cands[i].unit) for i in missing])
        for i, vector in zip(missing, encoded):
            rows[i] = vector
    return np.stack(rows).astype(np.float32, copy=False)


def holding(scored: list[Candidate], spans: list[str], index: Index) -> list[Candidate]:
    """For each code span the question names ("-i", "/etc/fstab"), the unit that writes it among the fewest other
    spans, the best-scored of those: across languages e5 scores every line of a man page alike, and the line
    about an option names it alone or nearly (a synopsis names them all)."""
    kept: dict[tuple[str, int], Candidate] = {}
    for span in dict.fromkeys(spans):
        found = [c for c in scored if contains_code(span, unit_text(index, c))]
        if found:
            best = min(found, key=lambda c: (len(set(code_spans(unit_text(index, c)))), -c.score))
            kept.setdefault(best.key, best)
    return list(kept.values())


def _neighbour(cand: Candidate, by_chunk: dict[str, list[Candidate]], step: int) -> Candidate | None:
    """The unit just before (step -1) or after (step +1) in the same chunk; None past its ends (or for a line a
    lead-in brought from the next chunk)."""
    group = by_chunk[cand.hit.chunk.chunk_id]
    at = next((i for i, c in enumerate(group) if c.key == cand.key), None)
    if at is None or not 0 <= at + step < len(group):
        return None
    return group[at + step]


def announced(cand: Candidate, index: Index, limit: int) -> list[Candidate]:
    """The units a line ending with a colon announces ("To list them, run:" brings `apt list`, "Their meanings
    are:" its items), in document order, read on into the next chunk when its own ends there: at most `limit`,
    one unless they are items, rows, definitions or code lines of one kind, and only under the same headings."""
    if limit < 1 or not opens_list(unit_text(index, cand)):
        return []
    chunk = cand.hit.chunk
    following = [u for u in chunk.units if u.start >= cand.unit.end]
    after = index.next_chunk(chunk)
    if after is not None:
        end = following[-1].end if following else cand.unit.end
        following += [u for u in after.units if u.start >= end]
    out: list[Candidate] = []
    for unit in following:
        if not _same_section(cand.unit, unit):
            break
        if out and (unit.kind != out[0].unit.kind or unit.kind not in STRUCTURED_KINDS):
            break
        out.append(Candidate(cand.rank, cand.hit, unit, cand.score))
        if len(out) == limit:
            break
    return out


def _same_section(a: Unit, b: Unit) -> bool:
    """Whether two units stand under the same headings (b may add a table head or defined term of its own)."""
    shorter = min(len(a.context), len(b.context))
    return a.context[:shorter] == b.context[:shorter] and abs(len(a.context) - len(b.context)) <= 1


class _Selection:
    """The units chosen so far and the tokens they cost, against the budget."""

    def __init__(self, index: Index, budget: int, count_tokens: Callable[[str], int], lead_in_lines: int) -> None:
        self.index, self.budget, self.count, self.lead_in_lines = index, budget, count_tokens, lead_in_lines
        self.chosen: dict[tuple[str, int], Candidate] = {}
        self.used = 0
        self.costs: dict[tuple[str, int], int] = {}  # a unit is weighed when tried and again when added

    def cost(self, cand: Candidate) -> int:
        if cand.key not in self.costs:
            self.costs[cand.key] = self.count(unit_text(self.index, cand))
        return self.costs[cand.key]

    def add(self, cand: Candidate) -> None:
        self.chosen[cand.key] = cand
        self.used += self.cost(cand)

    def take(self, cand: Candidate, over_budget: bool = False, announced_lines: int = 1) -> None:
        """Choose the unit if it fits (or `over_budget`); a lead-in comes with the first `announced_lines` lines
        it announces that fit, and not at all when the first does not: alone, it announces what the model cannot
        see."""
        lines = [line for line in announced(cand, self.index, self.lead_in_lines) if line.key not in self.chosen]
        first = self.cost(cand) + (self.cost(lines[0]) if lines else 0)
        if cand.key not in self.chosen and self.used + first > self.budget and not over_budget:
            return
        if cand.key not in self.chosen:
            self.add(cand)
        for line in lines[:announced_lines]:
            if self.used + self.cost(line) > self.budget:
                break
            self.add(line)


def select_passages(
    scored: list[Candidate],
    index: Index,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    min_score_gap: float,
    must_keep: list[Candidate] | None = None,
    lead_in_lines: int = 0,
) -> list[Passage]:
    """Each retrieved chunk's best unit first, in retrieval order (retrieval read whole chunks, with BM25, and a
    chunk in another language than the question scores lower on e5 alone); then the best units until the budget
    is spent, leaving out those far below the best one. With the budget left over, each chosen unit brings the
    unit before it, then the one after it (best chosen first): a sentence opening with "It" or "This" is
    understood, and quoted, with the one before. A line ending with a colon comes with what it announces
    (`announced`, from the next chunk if need be) or not at all: "run:" alone invites the model to write a
    command of its own.
    """
    if not scored:
        return []
    by_chunk: dict[str, list[Candidate]] = {}
    for cand in sorted(scored, key=lambda c: (c.hit.chunk.chunk_id, c.unit.start)):
        by_chunk.setdefault(cand.hit.chunk.chunk_id, []).append(cand)
    best = max(c.score for c in scored)
    picked = _Selection(index, budget_tokens, count_tokens, lead_in_lines)
    for cand in must_keep or []:
        picked.add(cand)
    ranked = sorted(scored, key=lambda c: -c.score)
    leaders = {}
    for cand in ranked:
        leaders.setdefault(cand.hit.chunk.chunk_id, cand)
    for cand in sorted(leaders.values(), key=lambda c: c.rank):
        if cand.key not in picked.chosen:
            picked.take(cand)
    for cand in ranked:
        if cand.key in picked.chosen:
            continue
        if picked.chosen and cand.score < best - min_score_gap:
            break
        picked.take(cand, over_budget=not picked.chosen)
    for step in (-1, 1):
        for cand in [c for c in ranked if c.key in picked.chosen]:
            near = _neighbour(cand, by_chunk, step)
            if step == 1 and announced(cand, index, lead_in_lines):
                picked.take(cand, announced_lines=lead_in_lines)  # the rest of what it announces, in place of its next unit
            elif near is not None and near.key not in picked.chosen:
                picked.take(near, announced_lines=lead_in_lines)
    return _as_passages(list(picked.chosen.values()), index)


def _as_passages(chosen: list[Candidate], index: Index) -> list[Passage]:
    """Group chosen units by chunk, chunks in retrieval order, units in document order."""
    by_chunk: dict[str, list[Candidate]] = {}
    for cand in chosen:
        by_chunk.setdefault(cand.hit.chunk.chunk_id, []).append(cand)
    groups = sorted(by_chunk.values(), key=lambda g: g[0].rank)
    passages = []
    for n, group in enumerate(groups, start=1):
        hit = group[0].hit
        units = sorted({c.unit for c in group}, key=lambda u: u.start)
        passages.append(Passage(n, index.documents[hit.chunk.doc_id], hit.chunk.chunk_id, hit.score, units, hit.chunk.label))
    return passages
