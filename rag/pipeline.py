"""Question → retrieval → passages → prompt → streamed answer → verified citations."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Iterator

from rag import context as ctx
from rag.answer_type import gives_what_is_asked
from rag.citations import (
    Citation,
    Claim,
    Passage,
    SupportChecker,
    collect_citations,
    is_decline,
    render_answer,
    verify_answer,
)
from rag.generation import Generator
from rag.history import clean_history, resolve_followup, standalone_query, still_leans
from rag.index import Bm25Analyzer, IndexMissing
from rag.language import detect_language
from rag.prompts import DECLINE, build_messages
from rag.retrieval import Retriever
from rag.settings import Settings


EMPTY_INDEX = "the index is empty: add documents with `rag ingest PATH`"


class QuestionError(ValueError):
    """A question the pipeline refuses (empty, too long); the message is for the user."""


def check_question(question: str, settings: Settings) -> str:
    """The question without surrounding spaces; QuestionError when it is empty or too long."""
    question = (question or "").strip()
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > settings.max_question_chars:
        raise QuestionError(f"the question is too long ({len(question)} characters, limit {settings.max_question_chars})")
    if not any(ch.isalnum() for ch in question):
        raise QuestionError("the question has no words (only symbols or emoji)")
    return question


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    lang: str
    citations: list[Citation]
    passages: list[Passage]
    claims: list[Claim]
    notes: list[str]
    model: str
    timings_ms: dict[str, float]
    raw_answer: str = ""
    id: object = None
    query: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def unsupported_claims(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported and c.cited is not None and not is_decline(c.text)]

    def to_dict(self) -> dict:
        """The JSON contract shared by `rag ask --json`, `rag batch` and the web API."""
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [
                {"n": p.n, "doc_id": p.doc.doc_id, "chunk_id": p.chunk_id, "score": round(p.score, 6), "text": p.text}
                for p in self.passages
            ],
            "notes": self.notes,
            "model": self.model,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


@dataclass
class Prepared:
    """Everything decided before the model writes: the passages and the prompt."""

    question: str
    lang: str
    query: str
    passages: list[Passage]
    messages: list[dict]
    notes: list[str] = field(default_factory=list)
    retrieve_ms: float = 0.0
    conflicts: list[ctx.Conflict] = field(default_factory=list)


class Pipeline:
    """Holds the loaded parts (index, embedder, model) and answers questions with them."""

    def __init__(self, settings: Settings, retriever: Retriever, generator: Generator) -> None:
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self.checker = SupportChecker(
            retriever.embedder, Bm25Analyzer(retriever.index.build_info.bm25_language), settings.support_threshold
        )

    def prepare(self, question: str, history: list[dict] | None = None, top_k: int | None = None) -> Prepared:
        """Retrieve, pick the sentences that matter within the token budget, and build the prompt."""
        started = time.perf_counter()
        question = check_question(question, self.settings)
        if not self.retriever.index.chunks:
            raise IndexMissing(EMPTY_INDEX)
        turns = clean_history(history)
        lang = detect_language(question)
        query = standalone_query(question, turns)
        hits = self.retriever.search(query, k=top_k or self.settings.top_k)
        index = self.retriever.index
        focused = self.retriever.focused_query(query)
        variants = [query, focused] if focused else [query]
        scored = ctx.score_sentences(variants, ctx.candidates(hits, index), index, self.retriever.embedder)
        conflicts = ctx.relevant_conflicts(ctx.find_conflicts(scored, index), query, scored)
        keep = [c for conflict in conflicts for c in ctx.as_candidates(conflict, scored)]
        passages = ctx.select_passages(
            scored,
            index,
            self.settings.context_token_budget,
            self.generator.count_tokens,
            self.settings.sentence_score_gap,
            must_keep=keep,
        )
        notes = [_conflict_note(conflict, passages, lang) for conflict in conflicts]
        notes = [n for n in notes if n]
        # A follow-up whose pronoun resolves is asked as a standalone question, without the previous exchange,
        # unless something in it still points back ("y", "there").
        resolved = resolve_followup(question, turns)
        standalone = bool(resolved) and not still_leans(resolved)
        messages = build_messages(resolved or question, passages, lang, [] if standalone else turns, notes)
        elapsed = (time.perf_counter() - started) * 1000
        return Prepared(question, lang, query, passages, messages, notes, elapsed, conflicts)

    def stream(self, question: str, history: list[dict] | None = None, top_k: int | None = None) -> Iterator[str | Answer]:
        """Yield text pieces as the model writes them, then the checked Answer."""
        started = time.perf_counter()
        prepared = self.prepare(question, history, top_k)
        pieces: list[str] = []
        first_token_ms = 0.0
        for piece in self.generator.stream_chat(prepared.messages):
            if not pieces:
                first_token_ms = (time.perf_counter() - started) * 1000
            pieces.append(piece)
            yield piece
        raw = "".join(pieces).strip()
        answer = self.finish(prepared, raw)
        answer.timings_ms = {
            "retrieve": prepared.retrieve_ms,
            "first_token": first_token_ms,
            "total": (time.perf_counter() - started) * 1000,
        }
        yield answer

    def ask(self, question: str, history: list[dict] | None = None, top_k: int | None = None) -> Answer:
        for item in self.stream(question, history, top_k):
            if isinstance(item, Answer):
                return item
        raise RuntimeError("the pipeline produced no answer")  # pragma: no cover

    def finish(self, prepared: Prepared, raw: str) -> Answer:
        """Check the raw answer: declines, citations, support; in strict mode withhold what nothing supports."""
        decline = DECLINE[prepared.lang]
        notes = list(prepared.notes)
        claims, citations, check_notes = verify_answer(raw or decline, prepared.passages, self.checker)
        notes.extend(check_notes)
        declined = [c for c in claims if is_decline(c.text)]
        supported = [c for c in claims if c.supported and not is_decline(c.text)]
        # Sentences that say something: not a decline, not a bare "[1]" left over.
        substantive = [c for c in claims if not is_decline(c.text) and self.checker.content_words(c.text)]
        unsupported = [c for c in substantive if not c.supported]
        off_target = bool(supported) and not gives_what_is_asked(prepared.question, render_answer(supported))
        if off_target:
            # A supported sentence that names nobody new restates a passage instead of answering "who".
            notes.append("off target: the question asks who, and the answer names no one the question does not")
        # The first sentence is the answer; what follows is context. Context supported under an invented answer
        # ("The Cun company is funding AMI Labs. Zuckerberg injected 14 billion into Scale AI.") answers nothing.
        lead_unsupported = bool(supported) and bool(substantive) and not substantive[0].supported
        if self.settings.strict and (off_target or lead_unsupported):
            supported = []
        if not supported and (declined or self.settings.strict):
            if lead_unsupported and not off_target:
                notes.append("withheld: no passage supports the answer's first sentence")
            elif not declined and not off_target:
                # Nothing in the passages backs this text: it comes from the model, not from the documents.
                notes.append("withheld: the model's answer was not supported by any passage")
            text = " ".join(c.text.strip() for c in declined) or decline
            return self._answer(prepared, text, True, [], [Claim(text=text)], notes, raw)
        if not supported:
            notes.append("unsupported: no passage supports this answer; do not rely on it")
        else:
            notes.extend(f"unsupported: « {c.text.strip()} »" for c in unsupported)
        disagreement = _disagreement_claim(prepared, render_answer(claims))
        if disagreement is not None:
            # The small model rarely says so itself: state the disagreement, citing both sources.
            claims = claims + [disagreement]
            citations = collect_citations(claims, {p.n: p for p in prepared.passages})
        return self._answer(prepared, render_answer(claims), False, citations, claims, notes, raw)

    def _answer(self, prepared: Prepared, text: str, abstained: bool, citations, claims, notes, raw: str) -> Answer:
        return Answer(
            question=prepared.question,
            answer=text,
            abstained=abstained,
            lang=prepared.lang,
            citations=citations,
            passages=prepared.passages,
            claims=claims,
            notes=notes,
            model=self.generator.name,
            timings_ms={},
            raw_answer=raw,
            query=prepared.query,
        )

    def warm_up(self) -> None:
        """Put the fixed system prefix in llama.cpp's cache so the first question only pays for its own tokens."""
        self.generator.warm_up(build_messages("?", [], "en")[:1] + [{"role": "user", "content": "?"}])


def _passage_number(cand: ctx.Candidate, passages: list[Passage]) -> int | None:
    for p in passages:
        if p.chunk_id == cand.hit.chunk.chunk_id and any(s <= cand.start < e for s, e in p.spans):
            return p.n
    return None


_UNIT_WORDS = {"fr": {"age": "ans", "billion": "milliards", "million": "millions", "percent": "%"},
               "en": {"age": "years", "billion": "billion", "million": "million", "percent": "%"}}


def _disagreement_claim(prepared: Prepared, answer: str) -> Claim | None:
    """A sentence stating a conflict the answer touches (it gives one of the figures) without naming both."""
    for conflict in prepared.conflicts:
        values = (conflict.first_value, conflict.second_value)
        mentioned = [v for v in values if re.search(rf"(?<![\d.,]){re.escape(v)}(?![\d])", answer.replace(",", "."))]
        a, b = _passage_number(conflict.first, prepared.passages), _passage_number(conflict.second, prepared.passages)
        if not mentioned or len(mentioned) == 2 or a is None or b is None:
            continue
        unit = _UNIT_WORDS[prepared.lang].get(conflict.unit, conflict.unit)
        if prepared.lang == "fr":
            text = f"Les sources divergent sur {conflict.subject} : {values[0]} {unit} selon [{a}], {values[1]} {unit} selon [{b}]."
        else:
            text = f"The sources disagree about {conflict.subject}: {values[0]} {unit} according to [{a}], {values[1]} {unit} according to [{b}]."
        support = [(a, conflict.first.start, conflict.first.end), (b, conflict.second.start, conflict.second.end)]
        return Claim(text=text, cited=[a, b], supported=True, score=1.0, support=support, markers_inline=True)
    return None


def _conflict_note(conflict: ctx.Conflict, passages: list[Passage], lang: str) -> str:
    a, b = _passage_number(conflict.first, passages), _passage_number(conflict.second, passages)
    if a is None or b is None:
        return ""
    if lang == "fr":
        return f"Attention : les passages [{a}] et [{b}] se contredisent sur {conflict.subject} ({conflict.first_value} contre {conflict.second_value})."
    return f"Note: passages [{a}] and [{b}] disagree about {conflict.subject} ({conflict.first_value} versus {conflict.second_value})."


def load_pipeline(settings: Settings, model: str | None = None) -> Pipeline:
    """Load index, embedder and model once; every later question reuses them."""
    from rag.generation import load_generator
    from rag.gguf import check_gguf_header, resolve_gguf
    from rag.retrieval import load_retriever

    # Cheap checks first: a bad model name or file and an empty index are reported before the model loads.
    check_gguf_header(resolve_gguf(model or settings.llm_model, settings.cache_dir))
    retriever = load_retriever(settings)
    if not retriever.index.chunks:
        raise IndexMissing(EMPTY_INDEX)
    generator = load_generator(settings, model)
    return Pipeline(settings, retriever, generator)
