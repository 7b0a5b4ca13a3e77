"""Question → retrieval → numbered units → prompt → streamed answer → checked claims → citations and typed notes."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rag import context as ctx
from rag import conflicts as cf
from rag import languages
from rag.citations import collect_citations, render_answer, render_claim
from rag.claims import StreamView, is_decline, parse_markers, split_claims
from rag.facts import Quantity, code_spans, facts, quantities, unquoted
from rag.generation import Generator, OpeningOdds, common_prefix
from rag.history import clean_history, last_said, retrieval_context
from rag.index import IndexMissing
from rag.judges import EmbeddingJudge, ModelJudge
from rag.language import detect, function_word_vote
from rag.prompts import DECLINE_MARK, build_messages, number_sources
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.support import DOUBTED, JUDGED_YES, SupportChecker, filler_terms, has_negation
from rag.text import analyzer, fold, written_words
from rag.types import Answer, Claim, Note, Passage, Source

EMPTY_INDEX = "the index is empty: add documents with `rag ingest PATH`"


class QuestionError(ValueError):
    """A question the pipeline refuses (empty, too long); `key` names the reader's sentence in rag/languages, the
    message is for API clients and logs."""

    def __init__(self, message: str, key: str, **values: object) -> None:
        super().__init__(message)
        self.key, self.values = key, values

    def text(self, lang: str) -> str:
        """The refusal in the reader's language."""
        return languages.words(lang)(self.key, **self.values)


def check_question(question: str, settings: Settings) -> str:
    """The question without surrounding spaces; QuestionError when it is empty, too long or says nothing."""
    question = (question or "").strip()
    if not question:
        raise QuestionError("the question is empty", "question_empty")
    if len(question) > settings.max_question_chars:
        length, limit = len(question), settings.max_question_chars
        raise QuestionError(f"the question is too long ({length} characters, limit {limit})", "question_too_long", length=length, limit=limit)
    if not any(ch.isalnum() for ch in question):
        raise QuestionError("the question has no words (only symbols or emoji)", "question_no_words")
    return question


def question_language(question: str, turns: list[dict], min_score: float = 0.5) -> str:
    """The language to answer in: the question's, by the detector, else by its function words; or the conversation's
    when the question is too short to tell."""
    found = detect(question)
    if found is not None and found.score >= min_score:
        return found.lang
    voted = function_word_vote(question)
    if voted:
        return voted
    previous = last_said(turns, "user")
    if previous:
        earlier = detect(previous)
        if earlier is not None and earlier.score >= min_score:
            return earlier.lang
    return found.lang if found is not None else languages.FALLBACK


@dataclass
class Prepared:
    """Everything decided before the model writes: the passages, their numbered units and the prompt."""

    question: str
    lang: str
    passages: list[Passage]
    sources: list[Source]
    messages: list[dict]
    turns: list[dict] = field(default_factory=list)
    conflicts: list[cf.Conflict] = field(default_factory=list)
    retrieve_ms: float = 0.0
    ready: float = 0.0  # time.perf_counter() when prepare() finished: the evidence can be shown from then on

    @property
    def by_k(self) -> dict[int, Source]:
        return {s.k: s for s in self.sources}

    def number_of(self, cand: ctx.Candidate) -> int | None:
        return next((s.k for s in self.sources if s.passage.doc.doc_id == cand.hit.chunk.doc_id and s.unit.start == cand.unit.start), None)


class Pipeline:
    """Holds the loaded parts (index, embedder, model) and answers questions with them."""

    def __init__(self, settings: Settings, retriever: Retriever, generator: Generator) -> None:
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self.checker = SupportChecker(
            retriever.embedder,
            settings.support_paraphrase_words,
            settings.support_max_cited,
            settings.support_align_similarity,
            settings.support_align_share,
            settings.support_column_margin,
            settings.support_near_words,
            settings.support_near_similarity,
            retriever.term_weight,
            settings.support_question_share,
        )

    def prepare(self, question: str, history: list[dict] | None = None, top_k: int | None = None) -> Prepared:
        """Retrieve, pick the units that matter within the token budget, and build the prompt."""
        started = time.perf_counter()
        question = check_question(question, self.settings)
        index = self.retriever.index
        if not index.chunks:
            raise IndexMissing(EMPTY_INDEX)
        turns = clean_history(history)
        lang = question_language(question, turns)
        context = retrieval_context(turns)
        hits = self.retriever.search(question, k=top_k or self.settings.top_k, lang=lang, context=context)
        focused = self.retriever.focused_query(question, lang)
        variants = [question] + ([focused] if focused else []) + ([f"{context} {question}"] if context else [])
        scored, _ = ctx.score_units(variants, ctx.candidates(hits), index, self.retriever.embedder)
        conflicts = cf.relevant_conflicts(cf.find_conflicts(scored, index), scored)
        keep = [c for conflict in conflicts for c in cf.as_candidates(conflict, scored)]
        keep += ctx.holding(scored, code_spans(question), index)
        passages = ctx.select_passages(
            scored,
            index,
            self.settings.context_token_budget,
            self.generator.count_tokens,
            self.settings.sentence_score_gap,
            must_keep=keep,
            lead_in_lines=self.settings.lead_in_lines,
        )
        sources = number_sources(passages)
        messages = build_messages(question, passages, sources, lang, turns)
        ready = time.perf_counter()
        return Prepared(question, lang, passages, sources, messages, turns, conflicts, (ready - started) * 1000, ready)

    def stream(self, question: str, history: list[dict] | None = None, top_k: int | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text as the reader sees it while the model writes, then the checked Answer."""
        started = time.perf_counter()
        prepared = self.prepare(question, history, top_k)
        yield from self.write(prepared, started)

    def write(self, prepared: Prepared, started: float | None = None) -> Iterator[str | Answer]:
        """The model reads the prepared prompt and writes: its text as the reader sees it, then the checked Answer.

        `started` is when the question arrived (time.perf_counter()); by default, when prepare() began. Callers
        that show the evidence first call prepare() themselves, show it, then this.
        """
        if started is None:
            started = prepared.ready - prepared.retrieve_ms / 1000
        view = StreamView(languages.get(prepared.lang).text["decline"])
        pieces: list[str] = []
        first_token_ms = 0.0
        odds = OpeningOdds(DECLINE_MARK)
        for piece in self.generator.stream_chat(prepared.messages, odds=odds):
            if not pieces:
                first_token_ms = (time.perf_counter() - started) * 1000
            pieces.append(piece)
            shown = view.feed(piece)
            if shown:
                yield shown
        rest = view.finish()
        if rest:
            yield rest
        generated = time.perf_counter()
        answer = self.finish(prepared, "".join(pieces).strip(), odds.probability)
        answer.timings_ms = {
            "retrieve": prepared.retrieve_ms,
            "evidence": (prepared.ready - started) * 1000,
            "first_token": first_token_ms,
            "check": (time.perf_counter() - generated) * 1000,
            "total": (time.perf_counter() - started) * 1000,
        }
        yield answer

    def prompt_prefix(self, prepared: Prepared) -> list[int]:
        """The prompt's tokens that come before the question's own words (system, sources, last exchange)."""
        a, b = (
            self.generator.prompt_tokens(build_messages(q, prepared.passages, prepared.sources, prepared.lang, prepared.turns))
            for q in ("A", "B")
        )
        return a[: common_prefix(a, b)]

    def prefill(
        self, partial: str, history: list[dict] | None = None, top_k: int | None = None, stop: Callable[[], bool] = lambda: False
    ) -> tuple[Prepared, int]:
        """For a question still being typed: prepare() it and have the model read its prompt up to the question,
        so that if the sent question finds the same passages, only its own words remain to read.

        The caller holds the model; stop() is asked between slices of the prompt (someone else wants the model).
        Returns the Prepared and the number of prompt tokens now in the model's cache (0 where the model cannot).
        """
        prepared = self.prepare(partial, history, top_k)
        if not hasattr(self.generator, "prefill"):
            return prepared, 0
        return prepared, self.generator.prefill(self.prompt_prefix(prepared), stop)

    def ask(self, question: str, history: list[dict] | None = None, top_k: int | None = None) -> Answer:
        for item in self.stream(question, history, top_k):
            if isinstance(item, Answer):
                return item
        raise RuntimeError("the pipeline produced no answer")  # pragma: no cover

    def judge_for(self, prepared: Prepared, raw: str):
        """The judge of claims the words alone cannot settle (Settings.support_judge)."""
        if self.settings.support_judge == "model":
            return ModelJudge(self.generator, prepared.messages, raw)
        if self.settings.support_judge == "embedding":
            return EmbeddingJudge(self.checker.similarity, self.settings.support_threshold)
        return None

    def finish(self, prepared: Prepared, raw: str, decline_probability: float | None = None) -> Answer:
        """Check the raw answer: decline line, citations, support; in strict mode withhold what nothing supports.

        `decline_probability` is how near the model came to declining before it wrote (OpeningOdds), if known.
        """
        words = languages.get(prepared.lang)
        decline = words.text["decline"]
        if is_decline(raw):
            return self._answer(prepared, decline, True, [], [], raw, decline_probability)
        claims = [c for c in split_claims(raw, prepared.lang) if says_something(c.text, prepared.lang)]
        notes: list[Note] = []
        by_k = prepared.by_k
        invalid = sorted({k for k in parse_markers(raw) if k not in by_k and k != 0})
        if invalid:
            notes.append(Note("invalid_citation", words.note("invalid_citation", numbers=", ".join(f"[{k}]" for k in invalid))))
        self.checker.check(claims, prepared.lang, _with_last_question(prepared), by_k, self.judge_for(prepared, raw))
        lead = claims[0] if claims else None
        if lead is not None and self._doubted(lead, decline_probability):
            lead.supported, lead.support, lead.reason = False, [], DOUBTED
        off_target = self._off_target(lead, prepared) if lead is not None and lead.supported else ""
        if self.settings.strict and (lead is None or not lead.supported or off_target):
            if off_target:
                notes.append(Note("off_target", words.note(off_target)))
            elif lead is not None and lead.reason == DOUBTED:
                notes.append(Note("withheld", words.note("withheld_doubt")))
            else:
                notes.append(Note("withheld", words.note("withheld_lead" if any(c.supported for c in claims) else "withheld")))
            return self._answer(prepared, decline, True, claims, notes, raw, decline_probability)  # claims kept for the trace
        if off_target:
            notes.append(Note("off_target", words.note(off_target)))
        if not any(c.supported for c in claims):
            notes.append(Note("unsupported", words.note("shown_unsupported")))
        else:
            notes.extend(Note("unsupported", words.note("unsupported", claim=c.text)) for c in claims if not c.supported)
        claims = claims + self._state_conflicts(prepared, claims)
        citations, per_claim = collect_citations(claims, by_k)
        notes.extend(Note("conflict", render_claim(c, numbers)) for c, numbers in zip(claims, per_claim) if c.reason == "conflict")
        answer = self._answer(prepared, render_answer(claims, per_claim), False, claims, notes, raw, decline_probability)
        answer.citations, answer.claim_citations = citations, per_claim
        return answer

    def _doubted(self, lead: Claim, decline_probability: float | None) -> bool:
        """The first sentence rests on the judge alone while the model nearly declined: two weak signals, each
        passed by right answers, that together marked only wrong ones on the tuned sets (MEASUREMENTS.md)."""
        if decline_probability is None or lead.reason != JUDGED_YES:  # the judge's yes is always a supported claim
            return False
        return decline_probability >= self.settings.support_decline_doubt

    def _off_target(self, lead: Claim, prepared: Prepared) -> str:
        """Why a supported first sentence does not answer the question, as the key of its note, or "": it only
        restates the question or the last answer, or it speaks of something else than the question (or the
        conversation a short follow-up continues) asks, or it gives no count for "how many"."""
        if not self._adds_anything(lead, prepared):
            return "off_target"
        lines = " ".join(prepared.by_k[k].text for k in lead.support if k in prepared.by_k)
        checker, lang, question = self.checker, prepared.lang, prepared.question
        if checker.leaves_the_question(lead, lang, question, lines) or checker.gives_no_count(lead, lang, question):
            return "off_question"
        if checker.leaves_the_conversation(lead, lang, question, prepared.turns, lines):
            return "off_question"
        if self._misses_a_name(lead, prepared):
            return "off_question"
        return ""

    def _misses_a_name(self, lead: Claim, prepared: Prepared) -> bool:
        """The question names what documents in several languages name (a program, a file: "crontab"), and neither
        the claim nor a document stating it does: it is about another one ("the Italian translator of this page",
        read in the hosts manual, for "Who translated the crontab manual into Italian?")."""
        names = self.retriever.names_across_languages
        docs = [prepared.by_k[k].passage.doc for k in lead.support if k in prepared.by_k]
        if not docs or any(doc.lang != prepared.lang for doc in docs):
            return False  # across languages a name may be written otherwise ("Konfiguration")
        cited = {doc.doc_id for doc in docs}
        asked = written_words(prepared.question) - written_words(lead.text)
        return any(not (names[w] & cited) for w in asked if w in names)

    def _adds_anything(self, claim: Claim, prepared: Prepared) -> bool:
        """The claim says something that neither the question nor the last exchange said: a word, a number or a
        negation ("No, it does not"), else it only restates them (a follow-up answered with the last answer, in
        the words of the last question)."""
        said = f"{_with_last_question(prepared)} {last_said(prepared.turns, 'assistant')}"
        if self.checker.added_words(claim, prepared.lang, said):
            return True
        negated = [has_negation(unquoted(text), prepared.lang) for text in (claim.text, prepared.question)]
        if negated == [True, False]:
            return True
        if set(code_spans(claim.text)) - set(code_spans(said)):
            return True  # "crontab -l" after "crontab -e": the option is the answer, the words are not
        given = {q.value for q in quantities(said, prepared.lang)}
        return any(q.value not in given for q in quantities(claim.text, prepared.lang))

    def _state_conflicts(self, prepared: Prepared, claims: list[Claim]) -> list[Claim]:
        """Sentences stating that sources disagree about a value the answer gives, citing both (a small model
        rarely says so itself)."""
        words = languages.get(prepared.lang)
        given = {q.value for c in claims if c.supported for q in quantities(c.text, prepared.lang)}
        added: list[Claim] = []
        for conflict in prepared.conflicts:
            a, b = prepared.number_of(conflict.first), prepared.number_of(conflict.second)
            if a is None or b is None or not (set(conflict.values) & given):
                continue
            if any({a, b} <= set(c.support) for c in claims):
                continue  # the answer already cites both sides
            if conflict.second_value.value in given and conflict.first_value.value not in given:
                conflict, a, b = cf.Conflict(conflict.second, conflict.second_value, conflict.first, conflict.first_value), b, a
            first = _as_written(prepared.by_k[a], conflict.first_value)
            second = _as_written(prepared.by_k[b], conflict.second_value)
            text = words.note("conflict", first=first, first_ref=f"[{a}]", second=second, second_ref=f"[{b}]")
            added.append(Claim(text=text, cited=[a, b], support=[a, b], supported=True, reason="conflict", inline=True))
        return added

    def _answer(
        self, prepared: Prepared, text: str, abstained: bool, claims: list[Claim], notes: list[Note], raw: str,
        decline_probability: float | None = None,
    ) -> Answer:
        return Answer(
            question=prepared.question,
            answer=text,
            abstained=abstained,
            lang=prepared.lang,
            citations=[],
            passages=prepared.passages,
            claims=claims,
            notes=notes,
            model=self.generator.name,
            timings_ms={},
            raw_answer=raw,
            decline_probability=decline_probability,
        )

    def warm_up(self) -> None:
        """Put the fixed system prefix in llama.cpp's cache so the first question only pays for its own tokens."""
        messages = build_messages("?", [], [], languages.FALLBACK)
        self.retriever.warm_up()
        self.generator.warm_up(messages[:1] + [{"role": "user", "content": "?"}])


def _with_last_question(prepared: Prepared) -> str:
    """The question with the conversation's last one: what the conversation already asked is not what an answer
    adds."""
    return f"{last_said(prepared.turns, 'user')} {prepared.question}"


def says_something(text: str, lang: str) -> bool:
    """A sentence with a word or a figure in it, not a list's bare number ("7.") or a code fence."""
    if text.lstrip().startswith("```") or re.fullmatch(r"\W*\d{1,2}\W*", text):
        return False
    return bool(analyzer(lang).terms(text) - filler_terms(lang)) or not facts(text, lang).empty


def _as_written(source: Source, quantity: Quantity) -> str:
    """A value as its source writes it, up to its unit ("28 ans", "49 %", "14,3 milliards de dollars")."""
    text = source.text
    end = quantity.end
    for token in list(re.finditer(r"\S+", text[end:]))[:3]:
        if quantity.unit and fold(token.group(0)).strip(".,;:)»”\"'").startswith(quantity.unit):
            end += token.end()
            break
    return text[quantity.start : end].rstrip(".,;:")


def load_pipeline(settings: Settings, model: str | None = None) -> Pipeline:
    """Load index, embedder and model once; every later question reuses them."""
    from rag.generation import load_generator
    from rag.gguf import check_gguf_header, resolve_gguf
    from rag.retrieval import load_retriever

    # Cheap checks first: a bad model name or file and an empty index are reported before the model loads.
    if not settings.llm_url:  # a remote generation server has the model, not this machine
        check_gguf_header(resolve_gguf(model or settings.llm_model, settings.cache_dir))
    retriever = load_retriever(settings)
    if not retriever.index.chunks:
        raise IndexMissing(EMPTY_INDEX)
    generator = load_generator(settings, model)
    return Pipeline(settings, retriever, generator)
