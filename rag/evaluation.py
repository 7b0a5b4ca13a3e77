"""Evaluation on a question set: retrieval recall/MRR and answer quality, per language."""
from __future__ import annotations

import json
import statistics
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from rag.history import standalone_query
from rag.retrieval import Retriever

ANSWERABLE = ("factoid", "multi", "followup")
DECLINE = ("unanswerable", "injection")


def normalize(text: str) -> str:
    """Lower case without accents, typographic apostrophes made plain (the eval set's comparison rule)."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def contains_all_groups(text: str, groups: list[list[str]]) -> bool:
    """True when text holds at least one string of every group."""
    folded = normalize(text)
    return all(any(normalize(s) in folded for s in group) for group in groups)


def contains_any(text: str, groups: list[list[str]]) -> bool:
    folded = normalize(text)
    return any(normalize(s) in folded for group in groups for s in group)


@dataclass
class Question:
    id: str
    lang: str
    kind: str
    question: str
    expect: list[list[str]] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return bool(self.expect) and self.kind not in DECLINE


def load_questions(path: Path) -> list[Question]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ValueError(f"{path}:{number}: not valid JSON") from None
        questions.append(
            Question(
                id=str(row.get("id", number)),
                lang=row.get("lang", "?"),
                kind=row.get("kind", "factoid"),
                question=row["question"],
                expect=row.get("expect") or [],
                history=row.get("history") or [],
            )
        )
    return questions


def is_evidence(chunk_text: str, question: Question) -> bool:
    """A chunk is evidence when it holds an accepted string of every expected group."""
    return contains_all_groups(chunk_text, question.expect)


def retrieval_eval(questions: list[Question], retriever: Retriever, k: int = 4) -> dict:
    """recall@1, recall@k and MRR (over the top 10) per language, on answerable questions."""
    rows = []
    for q in questions:
        if not q.answerable:
            continue
        hits = retriever.search(standalone_query(q.question, q.history), k=max(10, k))
        ranks = [i for i, h in enumerate(hits, start=1) if is_evidence(h.chunk.text, q)]
        first = ranks[0] if ranks else None
        rows.append({"id": q.id, "lang": q.lang, "rank": first, "top": hits[0].chunk.chunk_id if hits else None})
    by_lang: dict[str, dict] = {}
    for lang in sorted({r["lang"] for r in rows}) + ["all"]:
        subset = [r for r in rows if lang == "all" or r["lang"] == lang]
        by_lang[lang] = {
            "n": len(subset),
            "recall@1": _mean(r["rank"] == 1 for r in subset),
            f"recall@{k}": _mean(r["rank"] is not None and r["rank"] <= k for r in subset),
            "mrr": _mean((1.0 / r["rank"]) if r["rank"] else 0.0 for r in subset),
        }
    return {"k": k, "by_language": by_lang, "questions": rows}


def _mean(values) -> float:
    values = [float(v) for v in values]
    return round(statistics.fmean(values), 4) if values else 0.0
