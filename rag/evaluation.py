"""Evaluation on a question set: retrieval recall/MRR and answer quality, per language and per kind of question."""
from __future__ import annotations

import json
import statistics
import time
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rag.claims import strip_markers
from rag.history import clean_history, retrieval_context
from rag.language import detect
from rag.retrieval import Hit, Retriever
from rag.types import Chunk

DECLINE = ("unanswerable", "injection")


def normalize(text: str) -> str:
    """Lower case without accents, typographic apostrophes made plain (the eval set's comparison rule)."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def contains_all_groups(text: str, groups: list[list[str]]) -> bool:
    """True when text holds at least one string of every group."""
    folded = normalize(text)
    return all(any(normalize(s) in folded for s in group) for group in groups)


def contains_any(text: str, strings: list[str]) -> bool:
    folded = normalize(text)
    return any(normalize(s) in folded for s in strings)


@dataclass
class Question:
    id: str
    lang: str
    kind: str
    question: str
    expect: list[list[str]] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    must_not: list[str] = field(default_factory=list)
    source: str = ""
    evidence: str = ""  # a verbatim excerpt of the document that answers; several are separated by " … "

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
                must_not=row.get("must_not") or [],
                source=row.get("source") or "",
                evidence=row.get("evidence") or "",
            )
        )
    return questions


def is_evidence(chunk_text: str, question: Question) -> bool:
    """A chunk is evidence when it holds an accepted string of every expected group."""
    return contains_all_groups(chunk_text, question.expect)


@lru_cache(maxsize=1 << 16)
def _flat(text: str) -> str:
    """normalize() with the spaces collapsed, remembered: every question's evidence is looked for in every chunk."""
    return " ".join(normalize(text).split())


def _excerpt(evidence: str, chars: int = 50) -> str:
    """The start of the evidence's first excerpt, flattened: what a chunk holding it holds whatever the extraction
    did to line breaks."""
    return _flat(evidence.split(" … ")[0])[:chars]


def holds_excerpt(chunk_text: str, excerpt: str) -> bool:
    """The chunk holds the excerpt, compared as `_excerpt` made it."""
    return bool(excerpt) and excerpt in _flat(chunk_text)


def evidence_rank(q: Question, hits: list[Hit], chunks: list[Chunk]) -> tuple[int | None, str | None]:
    """Where the chunk holding the question's evidence sentence ranks among the hits (None when not there), and the
    language of the first chunk of the index holding it (None when no chunk does): a question is cross-language when
    that language is not the question's. Stricter than the expected strings, which a chunk in another language or
    about something else may hold too."""
    excerpt = _excerpt(q.evidence)
    home = next((c.lang for c in chunks if holds_excerpt(c.text, excerpt)), None)
    rank = next((i for i, h in enumerate(hits, start=1) if holds_excerpt(h.chunk.text, excerpt)), None)
    return rank, home


def retrieval_eval(questions: list[Question], retriever: Retriever, k: int = 4) -> dict:
    """recall@1, recall@k and MRR (over the top 10) per language, on answerable questions; `given`: the evidence is
    among the chunks the model is given for k (the top k, and a follow-up's own best chunks). Where the questions
    quote their evidence, `by_reach` gives how often the chunk holding that sentence is in the top k, for questions
    in the language of their evidence and across languages."""
    rows = []
    for q in questions:
        if not q.answerable:
            continue
        context = retrieval_context(clean_history(q.history))
        hits = retriever.search(q.question, k=max(10, k), lang=q.lang, context=context)
        ranks = [i for i, h in enumerate(hits, start=1) if is_evidence(h.chunk.text, q)]
        first = ranks[0] if ranks else None
        # Without a conversation the top k are the first k of the same search; a follow-up's search for k differs.
        given = first is not None and first <= k
        if context:
            given = any(is_evidence(h.chunk.text, q) for h in retriever.search(q.question, k=k, lang=q.lang, context=context))
        sentence, home = evidence_rank(q, hits, retriever.index.chunks) if q.evidence else (None, None)
        rows.append(
            {
                "id": q.id, "lang": q.lang, "kind": q.kind, "rank": first, "given": given,
                "top": hits[0].chunk.chunk_id if hits else None, "evidence_rank": sentence, "evidence_lang": home,
            }
        )
    by_lang: dict[str, dict] = {}
    for lang in sorted({r["lang"] for r in rows}) + ["all"]:
        subset = [r for r in rows if lang == "all" or r["lang"] == lang]
        by_lang[lang] = {
            "n": len(subset),
            "recall@1": _mean(r["rank"] == 1 for r in subset),
            f"recall@{k}": _mean(r["rank"] is not None and r["rank"] <= k for r in subset),
            "mrr": _mean((1.0 / r["rank"]) if r["rank"] else 0.0 for r in subset),
            "given": _mean(r["given"] for r in subset),
        }
    return {"k": k, "by_language": by_lang, "by_reach": _by_reach(rows, k), "questions": rows}


def _by_reach(rows: list[dict], k: int) -> dict[str, dict]:
    """The evidence sentence's chunk in the top k, for questions in their evidence's language and across languages
    (only questions whose evidence some chunk of the index holds)."""
    located = [r for r in rows if r["evidence_lang"]]
    groups = {"same": [r for r in located if r["evidence_lang"] == r["lang"]], "across": [r for r in located if r["evidence_lang"] != r["lang"]]}
    return {
        name: {"n": len(group), f"evidence@{k}": _mean(r["evidence_rank"] is not None and r["evidence_rank"] <= k for r in group)}
        for name, group in groups.items()
        if group
    }


def _mean(values) -> float | None:
    values = [float(v) for v in values]
    return round(statistics.fmean(values), 4) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def answer_language(answer) -> str:
    """The language an answer is written in: detected from its text, else the language it was asked to use."""
    found = detect(strip_markers(answer.answer))
    return found.lang if found is not None and found.score >= 0.5 and len(answer.answer.split()) >= 4 else answer.lang


def support_basis(answer) -> str:
    """What let the first sentence be shown: the check's reason without its detail ("words", "judge:yes",
    "paraphrase"), "across languages" added when every line it cites is from a document in another language (by
    the document's language, not the line's); "unsupported" when shown unchecked (strict mode off); "" when withheld."""
    if answer.abstained or not answer.claims:
        return ""
    if not answer.claims[0].supported:
        return "unsupported"
    reason = answer.claims[0].reason
    basis = reason if reason.startswith("judge") else reason.split(":")[0]
    numbers = answer.claim_citations[0].values() if answer.claim_citations else []
    langs = {answer.citations[n - 1].passage.doc.lang for n in numbers if 0 < n <= len(answer.citations)}
    return f"{basis}, across languages" if langs and answer.lang not in langs else basis


def by_basis(rows: list[dict]) -> dict[str, dict[str, int]]:
    """The answers shown, grouped by what supported their first sentence: how many, right, invented (the two
    ways of checking a claim compared on the same answers)."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.get("basis"):
            group = out.setdefault(r["basis"], {"shown": 0, "right": 0, "invented": 0})
            group["shown"] += 1
            group["right"] += bool(r["correct"])
            group["invented"] += bool(r["wrong_shown"])
    return dict(sorted(out.items(), key=lambda item: -item[1]["shown"]))


def score_answer(q: Question, answer) -> dict:
    """Per-question verdicts for the answer metrics."""
    quotes = " ".join(c.quote for c in answer.citations)
    verbatim = [c.passage.doc.text[c.start : c.end] == c.quote and c.quote.strip() != "" for c in answer.citations]
    shown = "" if answer.abstained else answer.answer
    correct = (not answer.abstained and contains_all_groups(answer.answer, q.expect)) if q.answerable else answer.abstained
    must_not = bool(q.must_not) and contains_any(shown, q.must_not)
    return {
        "id": q.id,
        "lang": q.lang,
        "kind": q.kind,
        "answerable": q.answerable,
        "abstained": answer.abstained,
        "correct": correct and not must_not,
        "cited_evidence": (bool(answer.citations) and contains_all_groups(quotes, q.expect)) if q.answerable else None,
        "verbatim": verbatim,
        "language_ok": answer_language(answer) == q.lang,
        # Invented content shown as supported: an answer to a question that must be declined, one holding a string
        # the question set marks as invented, or one holding none of the expected strings (an incomplete list is
        # not invented; it counts against accuracy only).
        "wrong_shown": bool(shown) and (not q.answerable or must_not or not any(contains_any(shown, g) for g in q.expect)),
        "must_not_hit": must_not,
        "basis": support_basis(answer),
        "first_token_ms": answer.timings_ms.get("first_token", 0.0),
        "check_ms": answer.timings_ms.get("check", 0.0),
        "total_ms": answer.timings_ms.get("total", 0.0),
        "answer": answer.answer,
        "raw": answer.raw_answer,
        "decline_probability": answer.decline_probability,
        "notes": [n.to_dict() for n in answer.notes],
    }


METRICS = [
    ("answer_accuracy", "answer accuracy (answerable)"),
    ("false_decline_rate", "false declines (answerable)"),
    ("decline_accuracy", "decline accuracy (must decline)"),
    ("citation_support", "citation support (quotes hold the evidence)"),
    ("verbatim_quote_rate", "verbatim quotes"),
    ("language_match", "answer language = question language"),
    ("wrong_shown_rate", "invented answers shown as supported"),
    ("median_first_token_ms", "median time to first token (ms)"),
    ("median_check_ms", "median support check (ms)"),
    ("median_total_ms", "median total time (ms)"),
]


def summarize(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    declinable = [r for r in rows if not r["answerable"]]
    answered = [r for r in answerable if not r["abstained"]]
    verbatim = [v for r in rows for v in r["verbatim"]]
    return {
        "n": len(rows),
        "answer_accuracy": _mean(r["correct"] for r in answerable),
        "false_decline_rate": _mean(r["abstained"] for r in answerable),
        "decline_accuracy": _mean(r["correct"] for r in declinable),
        "citation_support": _mean(r["cited_evidence"] for r in answered),
        "verbatim_quote_rate": _mean(verbatim) if verbatim else 1.0,
        "language_match": _mean(r["language_ok"] for r in rows),
        "wrong_shown_rate": _mean(r["wrong_shown"] for r in rows),
        "median_first_token_ms": _median([r["first_token_ms"] for r in rows]),
        "median_check_ms": _median([r["check_ms"] for r in rows if not r["abstained"] or r["check_ms"]]),
        "median_total_ms": _median([r["total_ms"] for r in rows]),
    }


def answer_eval(questions: list[Question], pipeline, progress=None) -> dict:
    """Run every question through the pipeline and score answers, citations, declines, language and speed."""
    rows = []
    for q in questions:
        answer = pipeline.ask(q.question, q.history)
        rows.append(score_answer(q, answer))
        _report_progress(progress, q, rows[-1], answer)
    return _result(rows, pipeline)


def replay_eval(questions: list[Question], pipeline, recorded: dict, progress=None) -> dict:
    """Check again the raw answers of a recorded run (`rag eval --json`) with the engine as it is, writing nothing:
    what a change to retrieval or to the check does to the same answers, in seconds rather than a model's minutes.
    Questions the run did not record are left out; "changed" lists the decisions that differ from the record."""
    raw = {r["id"]: r for r in recorded.get("questions", []) if isinstance(r, dict) and "id" in r and "raw" in r}
    rows, changed = [], []
    for q in questions:
        before = raw.get(q.id)
        if before is None:
            continue
        prepared = pipeline.prepare(q.question, q.history)
        started = time.perf_counter()
        answer = pipeline.finish(prepared, before["raw"], before.get("decline_probability"))
        answer.timings_ms = {"check": (time.perf_counter() - started) * 1000}
        row = score_answer(q, answer)
        rows.append(row)
        was = {"abstained": before.get("abstained"), "correct": before.get("correct")}
        now = {"abstained": row["abstained"], "correct": row["correct"]}
        if was != now:
            changed.append({"id": q.id, "was": was, "now": now})
        _report_progress(progress, q, row, answer)
    return {**_result(rows, pipeline), "recorded_model": recorded.get("model", ""), "not_recorded": len(questions) - len(rows), "changed": changed}


def _report_progress(progress, q: Question, row: dict, answer) -> None:
    if progress:
        mark = "ok " if row["correct"] else "NO "
        progress(f"{mark}{q.id} [{q.lang} {q.kind}] {row['first_token_ms'] / 1000:.1f}s  {answer.answer[:110]}")


def _result(rows: list[dict], pipeline) -> dict:
    return {
        "model": pipeline.generator.name,
        "judge": pipeline.settings.support_judge,
        "overall": summarize(rows),
        "by_language": {lang: summarize([r for r in rows if r["lang"] == lang]) for lang in sorted({r["lang"] for r in rows})},
        "by_kind": {kind: summarize([r for r in rows if r["kind"] == kind]) for kind in sorted({r["kind"] for r in rows})},
        "by_basis": by_basis(rows),
        "questions": rows,
    }


def _cell(value: float | None) -> str:
    if value is None:
        return f"{'-':>7s}"
    return f"{value:7.3f}" if value < 100 else f"{value:7.0f}"


def format_table(groups: dict[str, dict], title: str) -> list[str]:
    names = list(groups)
    lines = [f"{title:44s} " + " ".join(f"{n[:7]:>7s}" for n in names), f"{'n':44s} " + " ".join(f"{groups[n]['n']:7d}" for n in names)]
    for key, label in METRICS:
        lines.append(f"{label:44s} " + " ".join(_cell(groups[n][key]) for n in names))
    return lines


def format_answer_eval(result: dict) -> str:
    lines = [f"model: {result['model']}, support judge: {result['judge']}"]
    lines += format_table({"all": result["overall"], **result["by_language"]}, "by language")
    lines.append("")
    lines += format_table(result["by_kind"], "by kind")
    if result.get("by_basis"):
        lines.append("")
        lines.append("answers shown, by what supported the first sentence (shown / right / invented):")
        lines += [f"  {basis:42s} {g['shown']:4d} {g['right']:4d} {g['invented']:4d}" for basis, g in result["by_basis"].items()]
    wrong = [r["id"] for r in result["questions"] if not r["correct"]]
    if wrong:
        lines.append(f"wrong: {', '.join(wrong)}")
    shown = [r["id"] for r in result["questions"] if r["wrong_shown"]]
    if shown:
        lines.append(f"invented and shown as supported: {', '.join(shown)}")
    if "changed" in result:
        lines.append(f"replayed the recorded answers ({result['not_recorded']} questions not recorded); decisions changed: "
                     + (", ".join(_change(c) for c in result["changed"]) or "none"))
    return "\n".join(lines)


def _change(change: dict) -> str:
    """How one replayed decision differs from the record: "dd18 shown, wrong → withheld, wrong"."""
    def state(d: dict) -> str:
        return f"{'withheld' if d['abstained'] else 'shown'}, {'right' if d['correct'] else 'wrong'}"
    return f"{change['id']} {state(change['was'])} → {state(change['now'])}"
