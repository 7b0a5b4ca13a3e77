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


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def score_answer(q: Question, answer) -> dict:
    """Per-question verdicts for the answer metrics."""
    quotes = " ".join(c.quote for c in answer.citations)
    verbatim = [c.passage.doc.text[c.start : c.end] == c.quote and c.quote.strip() != "" for c in answer.citations]
    return {
        "id": q.id,
        "lang": q.lang,
        "kind": q.kind,
        "answerable": q.answerable,
        "abstained": answer.abstained,
        "correct": (not answer.abstained and contains_all_groups(answer.answer, q.expect)) if q.answerable else answer.abstained,
        "cited_evidence": bool(answer.citations) and contains_all_groups(quotes, q.expect) if q.answerable else None,
        "verbatim": verbatim,
        "first_token_ms": answer.timings_ms.get("first_token", 0.0),
        "total_ms": answer.timings_ms.get("total", 0.0),
        "answer": answer.answer,
        "notes": answer.notes,
    }


def summarize(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    declinable = [r for r in rows if not r["answerable"]]
    answered = [r for r in answerable if not r["abstained"]]
    verbatim = [v for r in rows for v in r["verbatim"]]
    return {
        "n": len(rows),
        "answer_accuracy": _mean(r["correct"] for r in answerable),
        "citation_support": _mean(r["cited_evidence"] for r in answered),
        "abstention_accuracy": _mean(r["correct"] for r in declinable),
        "false_abstention_rate": _mean(r["abstained"] for r in answerable),
        "verbatim_quote_rate": _mean(verbatim) if verbatim else 1.0,
        "median_first_token_ms": _median([r["first_token_ms"] for r in rows]),
        "median_total_ms": _median([r["total_ms"] for r in rows]),
    }


def answer_eval(questions: list[Question], pipeline, progress=None) -> dict:
    """Run every question through the pipeline and score answers, citations, abstentions and speed."""
    rows = []
    for q in questions:
        answer = pipeline.ask(q.question, q.history)
        row = score_answer(q, answer)
        rows.append(row)
        if progress:
            mark = "ok " if row["correct"] else "NO "
            progress(f"{mark}{q.id} [{q.lang} {q.kind}] {row['first_token_ms'] / 1000:.1f}s  {answer.answer[:100]}")
    langs = sorted({r["lang"] for r in rows})
    return {
        "model": pipeline.generator.name,
        "overall": summarize(rows),
        "by_language": {lang: summarize([r for r in rows if r["lang"] == lang]) for lang in langs},
        "questions": rows,
    }


def format_answer_eval(result: dict) -> str:
    keys = [
        ("answer_accuracy", "answer accuracy (answerable)"),
        ("citation_support", "citation support (quotes hold the evidence)"),
        ("abstention_accuracy", "abstention accuracy (must decline)"),
        ("false_abstention_rate", "false-abstention rate (answerable)"),
        ("verbatim_quote_rate", "verbatim quotes"),
        ("median_first_token_ms", "median time to first token (ms)"),
        ("median_total_ms", "median total time (ms)"),
    ]
    langs = list(result["by_language"])
    lines = [f"model: {result['model']}", f"{'metric':46s} {'all':>8s} " + " ".join(f"{lang:>8s}" for lang in langs)]
    for key, label in keys:
        values = [result["overall"][key]] + [result["by_language"][lang][key] for lang in langs]
        lines.append(f"{label:46s} " + " ".join(f"{v:8.3f}" if v < 100 else f"{v:8.0f}" for v in values))
    wrong = [r["id"] for r in result["questions"] if not r["correct"]]
    if wrong:
        lines.append(f"wrong: {', '.join(wrong)}")
    return "\n".join(lines)
