"""From a generated answer to verified citations: parse [n], find the exact supporting sentences, flag the rest.

Support score of an answer sentence against a source sentence = max(lexical, semantic):
  lexical  = share of the claim's content words (stemmed, accent-folded, stop words removed) found in the source;
  semantic = e5 cosine rescaled so that 0 is "unrelated" (cosine 0.78) and 1 is "paraphrase" (cosine 0.92),
             which lets an English answer be checked against a French source.
A claim is supported when its score reaches Settings.support_threshold (0.5 by default, chosen on the public set).
Facts a sentence cannot paraphrase cap the score below the threshold, whatever the overlap elsewhere:
  - a number of the claim that the source sentence does not contain, or written with another scale
    ("3 million" against "3 milliards");
  - when claim and source share a language, a name of the claim (a capitalised word) that the source's
    passage and document title do not contain ("né à Paris" against a passage that never says Paris);
  - across languages, a lone capitalised word that neither appears in the passage nor shares a 5-letter stem
    with one of its words, unless English capitalises it where French does not or it is an acronym ("born in
    Paris" is caught, "the Turing Award", "November", "French-American" and "CEO" are not).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.chunking import sentence_spans
from rag.documents import Document
from rag.embeddings import Embedder
from rag.index import Bm25Analyzer, fold
from rag.language import detect_language

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SCALED = re.compile(r"(\d+(?:[.,]\d+)?)\s*(thousand|mille|millions?|billions?|milliards?|bn)\b", re.IGNORECASE)
_SCALE = {"thousand": "k", "mille": "k", "million": "m", "billion": "g", "milliard": "g", "bn": "g"}
_CAPITALISED = re.compile(r"\b[A-ZÀ-Ö][\w-]*[\w]")
SEMANTIC_FLOOR, SEMANTIC_CEILING = 0.78, 0.92

DECLINE_PATTERNS = [
    r"je ne trouve pas (la|de) reponse",
    r"ne (contiennent|contient|mentionnent|mentionne|precisent|precise|indiquent|indique|disent|dit) pas",
    r"(aucune |pas d')information",
    r"cannot find the answer",
    r"can't find the answer",
    r"could not find the answer",
    r"(do|does) not (contain|mention|say|state|provide|specify|include)",
    r"no information",
    r"not (mentioned|stated|specified|provided) in the (passages|documents)",
]
_DECLINE = re.compile("|".join(DECLINE_PATTERNS))


@dataclass
class Passage:
    """A numbered passage given to the model: selected sentences (document offsets) of one chunk."""

    n: int
    doc: Document
    chunk_id: str
    score: float
    spans: list[tuple[int, int]]
    label: str = "article"

    @property
    def text(self) -> str:
        """The text shown to the model: the selected sentences, '…' where sentences were left out."""
        parts: list[str] = []
        for i, (start, end) in enumerate(self.spans):
            if i and start > self.spans[i - 1][1] + 2:
                parts.append("…")
            parts.append(self.doc.text[start:end])
        return " ".join(parts)


@dataclass
class Citation:
    n: int
    passage: Passage
    start: int
    end: int
    supported: bool

    @property
    def quote(self) -> str:
        return self.passage.doc.text[self.start : self.end]

    def to_dict(self) -> dict:
        doc = self.passage.doc
        return {
            "n": self.n,
            "doc_id": doc.doc_id,
            "title": doc.title,
            "source": doc.source,
            "chunk_id": self.passage.chunk_id,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "supported": self.supported,
        }


@dataclass
class Claim:
    """One sentence of the answer with the passages it cites after checking."""

    text: str
    cited: list[int] = field(default_factory=list)
    supported: bool = False
    score: float = 0.0
    support: list[tuple[int, int, int]] = field(default_factory=list)  # (n, start, end) in the document
    markers_inline: bool = False  # written by the pipeline with its markers in place


def parse_markers(text: str) -> list[int]:
    """All citation numbers in a text, in order of appearance, without repeats."""
    numbers: list[int] = []
    for match in MARKER.finditer(text):
        for piece in re.split(r"[,;]", match.group(1)):
            value = int(piece)
            if value not in numbers:
                numbers.append(value)
    return numbers


def strip_markers(text: str) -> str:
    # The spaces before a marker go with it ("ChatGPT [2] est sorti" keeps one space); a period or comma left
    # after a space closes up, while French spacing before ! ? : ; » stays as written.
    return re.sub(r"[ \t]+([.,])", r"\1", re.sub(r"[ \t]*" + MARKER.pattern, "", text)).strip()


def is_decline(answer: str) -> bool:
    """True when the answer says the documents do not hold the answer."""
    return bool(_DECLINE.search(fold(answer.replace("’", "'"))))


_META = re.compile(
    r"^\W*(this|that|it|these|cela|ceci|c'est|ce)?\W*(is|are|est|sont)?\W*(supported|stated|mentioned|cited|indiqu\w*|"
    r"mentionn\w*|cit\w*|justifi\w*|confirm\w*|support\w*)?\W*(by|in|dans|par|selon|according to|voir|see)?\W*"
    r"(the )?(le |les )?(passages?|sources?|documents?)\W*(\[\d+\]|\d+)?(\s*(and|et|,)\s*(\[\d+\]|\d+))*\W*$",
    re.IGNORECASE,
)


def is_meta(claim: str) -> bool:
    """A sentence about the passages rather than about the question ('This is supported by passage [2].')."""
    return bool(_META.match(MARKER.sub(lambda m: " " + m.group(1) + " ", claim).strip()))


_LEADING_MARKERS = re.compile(r"^(?:\s*" + MARKER.pattern + r")+")


def split_claims(answer: str) -> list[str]:
    """Answer sentences, each keeping the markers that follow it ('... in 2022. [1]' stays one claim)."""
    spans = sentence_spans(answer)
    claims: list[str] = []
    for start, end in spans:
        piece = answer[start:end]
        lead = _LEADING_MARKERS.match(piece)
        if claims and lead and lead.end() < len(piece):
            # "... 28 ans. [1] ChatGPT ..." is split before the marker: it closes the previous sentence.
            claims[-1] += " " + lead.group(0).strip()
            piece = piece[lead.end() :].strip()
        if claims and (not any(ch.isalnum() for ch in MARKER.sub("", piece)) or is_meta(piece)):
            # "... 2022. [1]" and "... 2022. This is supported by passage [1]." both cite the previous sentence.
            claims[-1] += " " + " ".join(f"[{n}]" for n in parse_markers(piece))
        else:
            claims.append(piece)
    return claims


class SupportChecker:
    """Scores answer sentences against passage sentences; the embedder is the one already loaded."""

    def __init__(self, embedder: Embedder | None, analyzer: Bm25Analyzer, threshold: float) -> None:
        self.embedder = embedder
        self.analyzer = analyzer
        self.threshold = threshold

    def content_words(self, text: str) -> set[str]:
        return {t for t in self.analyzer(text) if len(t) > 1 or t.isdigit()}

    def lexical(self, claim: str, source: str) -> float:
        words = self.content_words(claim)
        if not words:
            return 0.0
        return len(words & self.content_words(source)) / len(words)

    def semantic(self, claims: list[str], sources: list[str]) -> np.ndarray:
        """Rescaled cosine between each claim and each source sentence (claims x sources)."""
        if self.embedder is None or not claims or not sources:
            return np.zeros((len(claims), len(sources)), dtype=np.float32)
        vectors = self.embedder._encode(claims + sources, self.embedder.query_prompt, False)
        cos = vectors[: len(claims)] @ vectors[len(claims) :].T
        return np.clip((cos - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR), 0.0, 1.0)

    def score_matrix(self, claims: list[str], sources: list[str], contexts: list[str] | None = None) -> np.ndarray:
        """Support of each claim by each source sentence (claims x sources); contexts: each sentence's passage."""
        pieces, owner = [], []
        for j, source in enumerate(sources):
            for piece in [source, *clause_windows(source)]:
                pieces.append(piece)
                owner.append(j)
        # A short claim ("Wang is 29") matches the clause that says it better than the long sentence around it.
        by_piece = self.semantic(claims, pieces)
        semantic = np.zeros((len(claims), len(sources)), dtype=np.float32)
        for k, j in enumerate(owner):
            semantic[:, j] = np.maximum(semantic[:, j], by_piece[:, k])
        scores = np.zeros_like(semantic)
        contexts = contexts or sources
        for i, claim in enumerate(claims):
            for j, source in enumerate(sources):
                score = max(self.lexical(claim, source), float(semantic[i, j]))
                if not self.facts_match(claim, source, contexts[j]):
                    score = min(score, self.threshold * 0.8)
                scores[i, j] = score
        return scores

    def facts_match(self, claim: str, source: str, context: str) -> bool:
        """Numbers (with their scale) and, within one language, names of the claim are all in the source."""
        source_numbers = {n.replace(",", ".") for n in _NUMBER.findall(source)}
        if any(n.replace(",", ".") not in source_numbers for n in _NUMBER.findall(claim)):
            return False
        if not scaled_numbers(claim) <= scaled_numbers(source):
            return False
        folded = fold(context)
        if detect_language(claim) == detect_language(source):
            return all(_present(name, folded) for name in self.names(claim))
        # Across languages a name may be translated: only a lone proper name that nothing in the passage
        # resembles counts as invented ("born in Paris"), not "Turing Award" or "November".
        words = set(re.findall(r"\w+", folded))
        return all(_translated_or_present(name, words, folded) for name in self.names(claim, lone=True))

    @staticmethod
    def names(text: str, lone: bool = False) -> list[str]:
        """Capitalised words of a sentence except its first one, which any word may be ("Selon", "Les").

        lone=True keeps only words without a capitalised neighbour: a run like "Fundamental AI Research" is
        the translated title of something the passage names in its own language.
        """
        matches = list(_CAPITALISED.finditer(text))
        opens = [not text[: m.start()].strip(" «\"“") for m in matches]
        in_run = [False] * len(matches)
        for i in range(len(matches) - 1):
            # The sentence's first word is capitalised anyway: "The Cun company" is no run.
            if not opens[i] and not text[matches[i].end() : matches[i + 1].start()].strip(" -"):
                in_run[i] = in_run[i + 1] = True
        return [
            m.group(0)
            for i, m in enumerate(matches)
            if len(m.group(0)) >= 3 and not opens[i] and not (lone and in_run[i])
        ]


# Capitalised in English but not in French, so never found as written in a French passage.
_ENGLISH_CAPITALISED = set(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday french english british dutch swiss irish scottish welsh spanish "
    "danish swedish finnish polish turkish greek thai".split()
)


def _present(name: str, folded_context: str) -> bool:
    """The name is a word of the passage, as written or without a plural s ("LLMs" for "LLM").

    A whole word: "The Cun company" is not supported by "LeCun".
    """
    key = fold(name)
    keys = [key, key[:-1]] if key.endswith("s") else [key]
    return any(re.search(rf"(?<!\w){re.escape(k)}(?!\w)", folded_context) for k in keys)


def _translated_or_present(name: str, words: set[str], folded_context: str) -> bool:
    """The name is in the passage, shares a long stem with one of its words, or is a translatable word."""
    key = fold(name)
    if _present(name, folded_context) or any(part in _ENGLISH_CAPITALISED for part in key.split("-")):
        return True
    if name.rstrip("s").isupper():  # acronyms are translated too: CEO/PDG, AI/IA
        return True
    if re.search(r"(an|ian|ese|ean)$", key.split("-")[-1]):  # American, Canadian, Chinese, European
        return True
    stem = key[:5]
    return len(key) >= 5 and any(w.startswith(stem) for w in words)


def scaled_numbers(text: str) -> set[tuple[str, str]]:
    """(value, scale) of the numbers written with a scale word: "14 milliards" and "14 billion" are the same."""
    return {
        (value.replace(",", "."), _SCALE[unit.lower().rstrip("s")])
        for value, unit in _SCALED.findall(text)
    }


_CLAUSE = re.compile(r"[^,;:—–()]+")


def clause_windows(sentence: str, min_words: int = 3) -> list[str]:
    """Runs of one or two consecutive clauses of a long sentence (split at , ; : — and brackets)."""
    clauses = [m.group(0).strip() for m in _CLAUSE.finditer(sentence) if m.group(0).strip()]
    if len(clauses) < 2:
        return []
    windows = clauses + [f"{a}, {b}" for a, b in zip(clauses, clauses[1:])]
    return [w for w in windows if len(w.split()) >= min_words and w != sentence]


def _source_sentences(passages: list[Passage]) -> list[tuple[int, int, int]]:
    """(passage n, start, end) of every sentence inside the passages' selected spans."""
    out = []
    for p in passages:
        for span_start, span_end in p.spans:
            out.extend((p.n, s, e) for s, e in sentence_spans(p.doc.text, span_start, span_end))
    return out


def verify_answer(answer: str, passages: list[Passage], checker: SupportChecker) -> tuple[list[Claim], list[Citation], list[str]]:
    """Check every cited claim against its passages; re-point or flag what the sources do not support."""
    notes: list[str] = []
    by_n = {p.n: p for p in passages}
    claim_texts = split_claims(answer)
    claims = [Claim(text=t) for t in claim_texts]
    invalid = sorted({n for t in claim_texts for n in parse_markers(t) if n not in by_n})
    if invalid:
        notes.append(f"dropped citation numbers that match no passage: {', '.join(f'[{n}]' for n in invalid)}")
    sources = _source_sentences(passages)
    bare = [strip_markers(t) for t in claim_texts]
    claim_words = [checker.content_words(text) for text in bare]
    checkable = [i for i, words in enumerate(claim_words) if words]
    contexts = [_passage_context(by_n[n]) for n, _, _ in sources]
    source_texts = [answer_source_text(passages, s) for s in sources]
    scores = checker.score_matrix([bare[i] for i in checkable], source_texts, contexts)
    all_words = [(detect_language(text), checker.content_words(text)) for text in source_texts]
    for row, i in enumerate(checkable):
        cited = [n for n in parse_markers(claim_texts[i]) if n in by_n]
        # Shared words only mean something within one language: across languages they are the names alone.
        lang = detect_language(bare[i])
        source_words = [words if source_lang == lang else set() for source_lang, words in all_words]
        coverage = np.array([len(claim_words[i] & w) for w in source_words], dtype=np.float32)
        _resolve_claim(claims[i], cited, scores[row], sources, checker.threshold, coverage)
        if claims[i].supported:
            _complete_support(claims[i], claim_words[i], sources, source_words)
            _quote_support(claims[i], quoted_phrases(bare[i]), sources, source_texts)
    return claims, collect_citations(claims, by_n), notes


def _passage_context(passage: Passage) -> str:
    """Where a claim's names may come from: the passage shown to the model and its document's title and source."""
    return " ".join([passage.text, passage.doc.title, str(passage.doc.metadata.get("publisher") or "")])


def answer_source_text(passages: list[Passage], sentence: tuple[int, int, int]) -> str:
    n, start, end = sentence
    doc = next(p.doc for p in passages if p.n == n)
    return doc.text[start:end]


def _resolve_claim(
    claim: Claim, cited: list[int], scores: np.ndarray, sources: list, threshold: float, coverage: np.ndarray
) -> None:
    """Keep the model's citation when its passage supports the claim, else take the best supporting passage.

    coverage (claim words found in each sentence) overrules the model's number when another supporting sentence
    holds more of the claim's words: "Yann LeCun est franco-américain [1]" is said by the passage that has
    "franco-américain", whichever number the model wrote.
    """
    order = np.argsort(-scores) if len(scores) else []
    in_cited = [j for j in order if sources[j][0] in cited]
    best_cited = in_cited[0] if in_cited else None
    best_any = order[0] if len(order) else None
    if best_cited is not None and scores[best_cited] >= threshold:
        wider = [j for j in order if scores[j] >= threshold and coverage[j] > coverage[best_cited]]
        chosen = max(wider, key=lambda j: (coverage[j], scores[j])) if wider else best_cited
    elif best_any is not None and scores[best_any] >= threshold:
        chosen = best_any
    else:
        claim.cited = cited
        claim.score = float(scores[best_cited]) if best_cited is not None else (float(scores[best_any]) if best_any is not None else 0.0)
        claim.support = [sources[best_cited]] if best_cited is not None else []
        return
    claim.supported = True
    claim.score = float(scores[chosen])
    n = sources[chosen][0]
    claim.cited = [n]
    claim.support = [sources[chosen]]
    # A second sentence of the same passage often carries the rest of the claim: keep it when close behind.
    runner = next((j for j in order if j != chosen and sources[j][0] == n), None)
    if runner is not None and scores[runner] >= max(threshold, scores[chosen] - 0.1):
        claim.support.append(sources[runner])


def _complete_support(claim: Claim, words: set[str], sources: list, source_words: list[set[str]], least: int = 2) -> None:
    """Add the sentence that holds the claim's words its support lacks, so the quotes hold the whole claim.

    "LeCun occupera le rôle de président exécutif de Advanced Machine Intelligence Labs" takes the startup's
    name from one sentence and the role from the next; a claim whose number came from the sentence before
    keeps both.
    """
    missing = words - _support_words(claim, sources, source_words)
    if len(missing) < least:
        return
    gains = [(len(missing & source_words[j]), j) for j in range(len(sources)) if sources[j] not in claim.support]
    gain, best = max(gains, default=(0, -1))
    if gain < least:
        return
    _add_support(claim, sources[best])


_QUOTED = re.compile(r'"([^"]+)"|«([^»]+)»|“([^”]+)”')


def quoted_phrases(text: str) -> list[str]:
    """What the sentence puts between quotation marks: « antenne de radiodiffusion », "LLM-pilled"."""
    return [next(g for g in m.groups() if g is not None).strip() for m in _QUOTED.finditer(text)]


def _quote_words(text: str) -> set[str]:
    """Words of three letters or more, accents and case aside, hyphenated words whole ("llm-pilled")."""
    return {w for w in re.findall(r"\w+(?:-\w+)*", fold(text)) if len(w) >= 3}


def _quote_support(claim: Claim, phrases: list[str], sources: list, source_texts: list[str]) -> None:
    """Add the sentence that holds the words of a phrase the claim quotes, when its support holds fewer of them.

    Quotation marks promise the reader those words, so the quote shown must contain them: in 'described as
    "completely LLM-pilled"', "LLM-pilled" is in the sentence after "attirer les talents", which the claim's
    other words match best.
    """
    if not phrases:
        return
    words = [_quote_words(t) for t in source_texts]
    for phrase in map(_quote_words, phrases):
        have = len(phrase & _support_words(claim, sources, words))
        others = [j for j, s in enumerate(sources) if s not in claim.support]
        best = max(others, key=lambda j: len(phrase & words[j]), default=None)  # the first in document order
        if best is not None and len(phrase & words[best]) > have:
            _add_support(claim, sources[best])


def _support_words(claim: Claim, sources: list, per_source: list[set[str]]) -> set[str]:
    """The words of all the sentences that already support the claim."""
    return set().union(*(per_source[sources.index(s)] for s in claim.support))


def _add_support(claim: Claim, source: tuple[int, int, int]) -> None:
    claim.support.append(source)
    if source[0] not in claim.cited:
        claim.cited.append(source[0])


def collect_citations(claims: list[Claim], by_n: dict[int, Passage]) -> list[Citation]:
    """One citation per cited passage, quoting the span of its supporting sentences."""
    spans: dict[int, list[tuple[int, int, bool]]] = {}
    for claim in claims:
        for n in claim.cited:
            support = [(s, e) for pn, s, e in claim.support if pn == n]
            for start, end in support or [by_n[n].spans[0]]:
                spans.setdefault(n, []).append((start, end, claim.supported and bool(support)))
    citations = []
    for n in sorted(spans):
        items = spans[n]
        supported_items = [it for it in items if it[2]] or items
        start = min(s for s, _, _ in supported_items)
        end = max(e for _, e, _ in supported_items)
        citations.append(Citation(n, by_n[n], start, end, any(it[2] for it in items)))
    return citations


def render_answer(claims: list[Claim]) -> str:
    """The answer text with the verified citation markers."""
    parts = []
    for claim in claims:
        if claim.markers_inline:
            parts.append(claim.text)
            continue
        text = strip_markers(claim.text)
        if claim.cited:
            marks = "".join(f"[{n}]" for n in claim.cited)
            if text and text[-1] in ".!?…":
                text = f"{text[:-1]} {marks}{text[-1]}"
            else:
                text = f"{text} {marks}"
        parts.append(text)
    return " ".join(p for p in parts if p)
