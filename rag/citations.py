"""From checked claims to what the reader gets: citations numbered in order of appearance, each an exact span of a
document, and the answer text with those numbers."""
from __future__ import annotations

from rag.claims import MARKER
from rag.types import Citation, Claim, Source


def _spans(claim: Claim, sources: dict[int, Source]) -> list[list[Source]]:
    """The claim's evidence as runs of adjacent units of one passage: each run is one quote."""
    numbers = claim.support if claim.supported else [k for k in claim.cited if k in sources]
    runs: list[list[Source]] = []
    for k in sorted(numbers):
        source = sources[k]
        if runs and runs[-1][-1].passage is source.passage and runs[-1][-1].k == k - 1:
            runs[-1].append(source)
        else:
            runs.append([source])
    return runs


def collect_citations(claims: list[Claim], sources: dict[int, Source]) -> tuple[list[Citation], list[dict[int, int]]]:
    """One citation per distinct quote, numbered 1.. in the order claims cite them; and for each claim, the citation
    number of each source number it rests on."""
    citations: list[Citation] = []
    by_span: dict[tuple[str, int, int], Citation] = {}
    per_claim: list[dict[int, int]] = []
    for claim in claims:
        numbers: dict[int, int] = {}
        for run in _spans(claim, sources):
            passage = run[0].passage
            key = (passage.doc.doc_id, run[0].unit.start, run[-1].unit.end)
            citation = by_span.get(key)
            if citation is None:
                citation = Citation(len(citations) + 1, passage, key[1], key[2], claim.supported)
                citations.append(citation)
                by_span[key] = citation
            citation.supported = citation.supported or claim.supported
            numbers.update({source.k: citation.n for source in run})
        per_claim.append(numbers)
    return citations, per_claim


def with_markers(text: str, numbers: list[int]) -> str:
    """The sentence with its citation numbers before its final punctuation: 'It is 330 m tall [1].'"""
    if not numbers:
        return text
    marks = "".join(f"[{n}]" for n in numbers)
    if text and text[-1] in ".!?…":
        return f"{text[:-1]} {marks}{text[-1]}"
    return f"{text} {marks}"


def render_claim(claim: Claim, numbers: dict[int, int]) -> str:
    """A claim with citation numbers: where the pipeline wrote them (inline), else at its end."""
    if claim.inline:
        return MARKER.sub(lambda m: "".join(f"[{numbers[int(k)]}]" for k in m.group(1).replace(";", ",").split(",") if int(k) in numbers), claim.text)
    return with_markers(claim.text, list(dict.fromkeys(numbers.values())))


def render_answer(claims: list[Claim], per_claim: list[dict[int, int]]) -> str:
    return " ".join(render_claim(c, numbers) for c, numbers in zip(claims, per_claim) if c.text)
