"""From retrieved chunks to the passages the model reads: the sentences that matter, within a token budget."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from rag.chunking import sentence_spans
from rag.citations import Passage
from rag.embeddings import Embedder
from rag.index import Index, fold, stop_words
from rag.retrieval import Hit


@dataclass(frozen=True)
class Candidate:
    rank: int  # rank of its chunk in retrieval, 0 = best
    hit: Hit
    start: int
    end: int
    score: float = 0.0


def is_heading(sentence: str) -> bool:
    """A short line without final punctuation: a title or section heading, which answers nothing by itself."""
    return len(sentence.split()) <= 16 and not sentence.rstrip("»”\"' )").endswith((".", "!", "?", "…", ":"))


def candidates(hits: list[Hit], index: Index) -> list[Candidate]:
    """Every sentence of every retrieved chunk, headings left out."""
    out = []
    for rank, hit in enumerate(hits):
        doc = index.documents[hit.chunk.doc_id]
        for s, e in sentence_spans(doc.text, hit.chunk.start, hit.chunk.end):
            if not is_heading(doc.text[s:e]):
                out.append(Candidate(rank, hit, s, e))
    return out


def score_sentences(queries: list[str], cands: list[Candidate], index: Index, embedder: Embedder) -> list[Candidate]:
    """Mean cosine of each sentence with the query variants, plus a small bonus for the chunk's retrieval rank.

    The variants are the question and its focused form (ubiquitous words removed): the first keeps the
    subject ("LeCun works in..."), the second the point ("...company wants to understand").
    """
    if not cands:
        return []
    texts = [index.documents[c.hit.chunk.doc_id].text[c.start : c.end] for c in cands]
    vectors = embedder.embed_passages(texts)
    sims = (vectors @ np.stack([embedder.embed_query(q) for q in queries]).T).mean(axis=1)
    # Retrieval saw the whole chunk (and BM25): keep a trace of its opinion so a strong chunk is not emptied.
    return [
        Candidate(c.rank, c.hit, c.start, c.end, float(sim) + 0.02 / (1 + c.rank)) for c, sim in zip(cands, sims)
    ]


_ANAPHORA = re.compile(
    r"^(?:[«\"“]\s*)?(il|elle|ils|elles|ce|cet|cette|ces|ceux|cela|ça|son|sa|ses|leur|leurs|les deux|les trois|"
    r"en conséquence|de plus|cependant|néanmoins|toutefois|he|she|it|they|this|these|those|his|her|their|its|"
    r"however|moreover|the two|the three)\b",
    re.IGNORECASE,
)


def _key(cand: Candidate) -> tuple[str, int]:
    """Sentences are the same when their document offsets are: overlapping chunks share one."""
    return cand.hit.chunk.doc_id, cand.start


def _previous(cand: Candidate, scored: list[Candidate]) -> Candidate | None:
    """The sentence just before, in the same chunk."""
    same = [c for c in scored if c.hit.chunk.chunk_id == cand.hit.chunk.chunk_id and c.end <= cand.start]
    return max(same, key=lambda c: c.end) if same else None


def _next(cand: Candidate, scored: list[Candidate]) -> Candidate | None:
    """The sentence just after, in the same chunk."""
    same = [c for c in scored if c.hit.chunk.chunk_id == cand.hit.chunk.chunk_id and c.start >= cand.end]
    return min(same, key=lambda c: c.start) if same else None


# Function words that bm25s's lists lack (accents folded): sharing them does not make two sentences one statement.
_FUNCTION_WORDS = frozenset(
    "cette selon aussi ainsi alors leurs depuis entre avant apres encore toujours toutes autres autre comme "
    "dont lorsque puisque parce quand quelque notre votre while where there those other since".split()
)


@lru_cache(maxsize=1)
def _skipped_words() -> frozenset[str]:
    return _FUNCTION_WORDS | stop_words()


def _common_words(text: str) -> set[str]:
    """Lower-case content words of five letters or more."""
    return {w for w in re.findall(r"[^\W\d_]\w{4,}", text) if w[0].islower() and fold(w) not in _skipped_words()}


def continues(sentence: str, before: str, opening_words: int = 4) -> bool:
    """The sentence opens by taking up a word of the one before: "...attirer les talents. Tous les talents
    qui sont venus ont été « LLM-pilled »" is one statement in two sentences.

    Lower-case words only: a name (LeCun, Zuckerberg) opens half the sentences of an article about him.
    """
    return bool(_common_words(" ".join(sentence.split()[:opening_words])) & _common_words(before))


def select_passages(
    scored: list[Candidate],
    index: Index,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    min_score_gap: float,
    must_keep: list[Candidate] | None = None,
) -> list[Passage]:
    """Best sentences first until the budget is spent; sentences far below the best one are left out.

    A sentence that opens with a pronoun ("Les trois hommes...", "He...") brings the sentence before it,
    since it cannot be understood, or cited, alone. With the budget left over, a chosen sentence then brings
    the next one when it continues it (see `continues`).
    """
    if not scored:
        return []
    best = max(c.score for c in scored)
    chosen: dict[tuple[str, int], Candidate] = {_key(c): c for c in must_keep or []}
    used = sum(count_tokens(_text(index, c)) for c in chosen.values())
    merit: list[Candidate] = []
    for cand in sorted(scored, key=lambda c: -c.score):
        if _key(cand) in chosen:
            continue
        if chosen and cand.score < best - min_score_gap:
            break
        unit = [cand]
        before = _previous(cand, scored) if _ANAPHORA.match(_text(index, cand)) else None
        if before is not None and _key(before) not in chosen:
            unit.insert(0, before)
        cost = sum(count_tokens(_text(index, c)) for c in unit)
        if chosen and used + cost > budget_tokens:
            continue
        for c in unit:
            chosen[_key(c)] = c
        used += cost
        merit.append(cand)
    # Continuations come last so that they never push out a sentence chosen on its own score.
    for cand in merit:
        after = _next(cand, scored)
        if after is None or _key(after) in chosen or not continues(_text(index, after), _text(index, cand)):
            continue
        cost = count_tokens(_text(index, after))
        if used + cost <= budget_tokens:
            chosen[_key(after)] = after
            used += cost
    return _as_passages(list(chosen.values()), index)


def _text(index: Index, cand: Candidate) -> str:
    return index.documents[cand.hit.chunk.doc_id].text[cand.start : cand.end]


def _as_passages(chosen: list[Candidate], index: Index) -> list[Passage]:
    """Group chosen sentences by chunk, chunks in retrieval order, sentences in document order."""
    by_chunk: dict[str, list[Candidate]] = {}
    for cand in chosen:
        by_chunk.setdefault(cand.hit.chunk.chunk_id, []).append(cand)
    groups = sorted(by_chunk.values(), key=lambda g: g[0].rank)
    passages = []
    for n, group in enumerate(groups, start=1):
        hit = group[0].hit
        spans = sorted({(c.start, c.end) for c in group})
        passages.append(Passage(n, index.documents[hit.chunk.doc_id], hit.chunk.chunk_id, hit.score, spans, hit.chunk.label))
    return passages


# ---------------------------------------------------------------- conflicting figures

_QUANTITY = re.compile(
    r"(?P<value>\d+(?:[.,]\d+)?)\s*(?P<unit>ans|years?|milliards?|billions?|millions?|%|pour\s?cent|percent)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b[A-Z][\w-]+(?:\s+[A-Z][\w-]+)*")
_UNIT_FAMILY = {"an": "age", "year": "age", "milliard": "billion", "billion": "billion", "million": "million", "%": "percent", "pourcent": "percent", "percent": "percent"}


@dataclass(frozen=True)
class Conflict:
    subject: str
    unit: str
    first: Candidate
    first_value: str
    second: Candidate
    second_value: str


def _unit_family(unit: str) -> str:
    key = unit.lower().replace(" ", "").rstrip("s")
    return _UNIT_FAMILY.get(key, key)


def _figures(text: str) -> list[tuple[str, str, str]]:
    """(subject, unit family, value) for figures tied to the last name written before them."""
    out = []
    for match in _QUANTITY.finditer(text):
        names = [n for n in _NAME.findall(text[: match.start()]) if len(n) > 2]
        if names:
            subject = names[-1].split()[-1]
            out.append((subject, _unit_family(match.group("unit")), match.group("value").replace(",", ".")))
    return out


def find_conflicts(cands: list[Candidate], index: Index) -> list[Conflict]:
    """Same subject and unit, different values, in different documents: e.g. Wang is 28 in one, 29 in the other."""
    seen: dict[tuple[str, str], tuple[Candidate, str]] = {}
    conflicts: list[Conflict] = []
    for cand in cands:
        for subject, unit, value in _figures(_text(index, cand)):
            key = (subject, unit)
            if key not in seen:
                seen[key] = (cand, value)
                continue
            other, other_value = seen[key]
            if other_value != value and other.hit.chunk.doc_id != cand.hit.chunk.doc_id:
                if not any(c.subject == subject and c.unit == unit for c in conflicts):
                    conflicts.append(Conflict(subject, unit, other, other_value, cand, value))
    return conflicts


def relevant_conflicts(conflicts: list[Conflict], question: str, scored: list[Candidate]) -> list[Conflict]:
    """Conflicts about something the question asks: its subject is named in the question or in its best sentences."""
    top = sorted(scored, key=lambda c: -c.score)[:3]
    top_keys = {(c.hit.chunk.chunk_id, c.start) for c in top}
    return [
        c
        for c in conflicts
        if c.subject.lower() in question.lower()
        or (c.first.hit.chunk.chunk_id, c.first.start) in top_keys
        or (c.second.hit.chunk.chunk_id, c.second.start) in top_keys
    ]


def as_candidates(conflict: Conflict, scored: list[Candidate]) -> list[Candidate]:
    """The scored versions of a conflict's two sentences, so both reach the model."""
    keys = {(conflict.first.hit.chunk.chunk_id, conflict.first.start), (conflict.second.hit.chunk.chunk_id, conflict.second.start)}
    return [c for c in scored if (c.hit.chunk.chunk_id, c.start) in keys]

