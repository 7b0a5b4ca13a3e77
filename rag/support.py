"""Does the cited source state what a claim adds to the question? The check behind every "supported".

For each claim, in this order:
1. Facts (rag.facts): the claim's numbers with their scale, months, code and paths, and quoted strings must be in
   the cited units (or the headings above them); its names in the passage the model read. Otherwise: unsupported.
2. Same language: the words the claim adds to the question (stemmed, stop words aside) must all be in the cited
   units, with the same polarity (a negation on one side only is a different statement); a claim naming two or
   more things must also hold the words that relate them. Then: supported, at no cost.
3. Otherwise (a paraphrase, another language, a relation to check) a judge decides: the loaded model asked whether
   the source line states the sentence (read from llama.cpp's cache), or e5 similarity (`Settings.support_judge`).
When the cited units fail, the other numbered units are tried, best first: the model's number may be off by one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from rag import facts as F
from rag import languages
from rag.embeddings import Embedder
from rag.text import WORD, analyzer, fold
from rag.types import Claim, Source

SEMANTIC_FLOOR, SEMANTIC_CEILING = 0.78, 0.92  # e5 cosines read as "unrelated" and "paraphrase"


class Judge(Protocol):
    """Decides whether each (claim, evidence sources) pair is stated by the evidence."""

    def __call__(self, items: list[tuple[Claim, list[Source]]]) -> list[bool]: ...


@dataclass
class Evidence:
    """What a claim is checked against: the units it cites, the headings above them, and the passage around them."""

    sources: list[Source]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sources)

    @property
    def context(self) -> str:
        """Headings above the units: read by the model beside them, so their words count."""
        doc = self.sources[0].passage.doc
        spans = dict.fromkeys(span for s in self.sources for span in s.unit.context)
        return " ".join(doc.text[a:b] for a, b in spans)

    @property
    def surroundings(self) -> str:
        """Where a claim's names may come from: the passages of the units, their headings and their document's title."""
        passages = dict.fromkeys(id(s.passage) for s in self.sources)
        parts = [s.passage.text for s in self.sources if passages.pop(id(s.passage), None) is not None]
        doc = self.sources[0].passage.doc
        return " ".join([*parts, self.context, doc.title, str(doc.metadata.get("publisher") or "")])

    @property
    def lang(self) -> str:
        return self.sources[0].unit.lang


def has_negation(text: str, lang: str) -> bool:
    """The text holds one of its language's negations ("not", "doesn't", "n'" of "n'est", "kein")."""
    negations = languages.get(lang).negations
    for token in re.findall(r"[\w']+", text.lower().replace("’", "'")):
        if token in negations or any(part in negations for part in token.split("'")):
            return True
    return False


class SupportChecker:
    """Checks claims against the numbered units the model read; the embedder and judge are already loaded."""

    def __init__(self, embedder: Embedder | None, threshold: float = 0.5) -> None:
        self.embedder = embedder
        self.threshold = threshold

    # ---------------------------------------------------------------- the three tests

    def facts_hold(self, claim: Claim, lang: str, evidence: Evidence) -> str:
        """'' when every fact of the claim is in the evidence, else what is missing."""
        mine = F.facts(claim.text, lang)
        if mine.empty:
            return ""
        stated = F.facts(evidence.text + " " + evidence.context, evidence.lang)
        text = evidence.text + " " + evidence.context
        if not mine.numbers <= stated.numbers:
            return f"number {sorted(mine.numbers - stated.numbers)[0]:g} not in the source"
        if not mine.months <= stated.months:
            return "month not in the source"
        for token in mine.code:
            if not F.contains_code(token, text):
                return f"'{token}' not in the source"
        folded = fold(text)
        for quote in mine.quotes:
            if quote not in " ".join(folded.split()):
                return f"quoted '{quote}' not in the source"
        around = fold(evidence.surroundings)
        words = set(WORD.findall(around))
        for name in mine.names:
            if F.contains_word(name, around):
                continue
            if lang != evidence.lang and (name.isupper() or _resembles(name, words)):
                continue  # acronyms and names are translated too: CEO/PDG, AI/IA, Fundamental/fondamentale
            return f"name '{name}' not in the source"
        return ""

    def added_words(self, claim: Claim, lang: str, question: str) -> set[str]:
        """The claim's words that the question does not already hold: what the claim answers."""
        words = analyzer(lang)
        return words.terms(claim.text) - words.terms(question)

    def words_hold(self, claim: Claim, lang: str, question: str, evidence: Evidence) -> bool:
        """Same language: every added word (every word, when the claim relates two names) is in the evidence."""
        if lang != evidence.lang:
            return False
        words = analyzer(lang)
        stated = words.terms(evidence.text + " " + evidence.context)
        needed = self.added_words(claim, lang, question)
        if len(set(F.names(claim.text, lang))) >= 2:
            needed = words.terms(claim.text)
        if not needed <= stated:
            return False
        return has_negation(claim.text, lang) == has_negation(evidence.text, evidence.lang)

    # ---------------------------------------------------------------- one answer

    def check(self, claims: list[Claim], lang: str, question: str, sources: dict[int, Source], judge: Judge | None) -> None:
        """Decide every claim: supported (with the units that state it) or not, and why."""
        pending: list[tuple[Claim, list[list[Source]]]] = []
        for claim in claims:
            viable = []
            for evidence in self._options(claim, lang, sources):
                missing = self.facts_hold(claim, lang, Evidence(evidence))
                if missing:
                    claim.reason = claim.reason or missing
                elif self.words_hold(claim, lang, question, Evidence(evidence)):
                    _accept(claim, evidence, "words and facts in the source")
                    break
                else:
                    viable.append(evidence)
            if claim.supported:
                continue
            if viable:
                pending.append((claim, viable[:2]))
            else:
                claim.reason = claim.reason or "no source"
        _judge(pending, judge)

    def _options(self, claim: Claim, lang: str, sources: dict[int, Source]) -> list[list[Source]]:
        """Evidence to try, best first: the units the claim cites together, then each other unit by similarity."""
        cited = [sources[k] for k in claim.cited if k in sources]
        others = [s for k, s in sorted(sources.items()) if s not in cited]
        if others:
            order = np.argsort(-self.similarity([claim.text], [s.text for s in others])[0], kind="stable")
            others = [others[i] for i in order]
        return ([cited] if cited else []) + [[s] for s in others[:3]]


    # ---------------------------------------------------------------- similarity

    def similarity(self, claims: list[str], texts: list[str]) -> np.ndarray:
        """e5 cosine between each claim and each text (claims x texts), rescaled to 0 (unrelated) .. 1 (paraphrase)."""
        if self.embedder is None or not claims or not texts:
            return np.zeros((len(claims), len(texts)), dtype=np.float32)
        vectors = self.embedder.embed_queries(claims + texts)  # one prompt on both sides: a symmetric comparison
        cos = vectors[: len(claims)] @ vectors[len(claims) :].T
        return np.clip((cos - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR), 0.0, 1.0)


def _accept(claim: Claim, evidence: list[Source], reason: str) -> None:
    claim.supported = True
    claim.support = [s.k for s in evidence]
    claim.reason = reason


def _judge(pending: list[tuple[Claim, list[list[Source]]]], judge: Judge | None) -> None:
    """Let the judge settle the claims the words could not; without a judge they stay unsupported."""
    if not pending or judge is None:
        for claim, _ in pending:
            claim.reason = claim.reason or "words not in the source"
        return
    items = [(claim, evidence) for claim, options in pending for evidence in options]
    for (claim, evidence), yes in zip(items, judge(items)):
        if yes and not claim.supported:
            _accept(claim, evidence, "judged stated by the source")
    for claim, _ in pending:
        if not claim.supported:
            claim.reason = "judged not stated by the source"


def _resembles(name: str, words: set[str]) -> bool:
    """A translated name shares its first five letters with a word of the source ("Fundamental", "fondamentale" no;
    "Americain", "américain" yes)."""
    key = fold(name)
    return len(key) >= 5 and any(w.startswith(key[:5]) for w in words)


class EmbeddingJudge:
    """Stated when the e5 similarity of claim and evidence reaches the threshold (cheap, blind to relations)."""

    def __init__(self, checker_similarity: Callable[[list[str], list[str]], np.ndarray], threshold: float) -> None:
        self.similarity = checker_similarity
        self.threshold = threshold

    def __call__(self, items: list[tuple[Claim, list[Source]]]) -> list[bool]:
        if not items:
            return []
        claims = [c.text for c, _ in items]
        texts = [" ".join(s.text for s in ev) for _, ev in items]
        scores = self.similarity(claims, texts)
        return [bool(scores[i, i] >= self.threshold) for i in range(len(items))]
