"""Which language a text is written in: French or English, the two the product answers in."""
from __future__ import annotations

import re

_FRENCH = set(
    "le la les des du de un une est sont était quel quelle quels quelles qui que quoi pourquoi comment combien où "
    "il elle ils elles et dans pour sur avec son sa ses ce cette au aux à a-t-il a-t-elle est-ce selon quand "
    "depuis leur lui y en ne pas".split()
)
_ENGLISH = set(
    "the is are was were what who whom which how why when where did does do of in to and a an for with his her "
    "their its according much many has have had that this from about".split()
)


def detect_language(text: str) -> str:
    """'fr' or 'en' from function words, accents as a tie-breaker."""
    words = re.findall(r"[a-zàâäéèêëîïôöùûüç'-]+", text.lower())
    fr = sum(w in _FRENCH for w in words)
    en = sum(w in _ENGLISH for w in words)
    if fr == en:
        return "fr" if re.search(r"[àâéèêëîïôùûç]", text.lower()) else "en"
    return "fr" if fr > en else "en"
