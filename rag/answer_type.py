"""Whether an answer gives the kind of thing its question asks for: a "who" question wants someone named.

A small model handed passages about the right subject often restates one of them instead of answering
("Qui remplacera LeCun ?" → "LeCun serait sur le point de démissionner"). The sentence is supported, so the
citation check passes it; only the question shows that nobody was named.
"""
from __future__ import annotations

import re

from rag.citations import MARKER
from rag.index import fold

# "Selon developpez.com, qui ..." and "According to the FT, who ..." ask the same as "Qui ...".
_WHO = re.compile(r"^(?:(?:selon|d'apres|according to)\b[^,]*,\s*)?(who|whom|qui)\b", re.IGNORECASE)
# "Who is Alexandr Wang?" asks for a description of a named person, not for a name. The verb is matched in any
# case, the name only with its capital: "Qui est le PDG ?" wants a name.
_DESCRIBE = re.compile(
    r"^(?i:who|qui)\s+(?i:is|are|was|were|est|sont|était|étaient|c'est)\s+(?:vraiment\s+|really\s+)?[A-ZÀ-Ö]",
)
_NAME_RUN = re.compile(r"[A-ZÀ-Ö][\w'’-]*(?:\s+[A-ZÀ-Ö][\w'’-]*)*")
# Capitalised only because they open a sentence or a clause.
_NOT_NAMES = set(
    "il elle ils elles on le la les l un une des du de au aux ce cet cette ces c selon d apres son sa ses leur "
    "leurs mais et en dans pour je nous vous oui non he she they it the a an this that these those his her their "
    "its according in on and but yes no i we you".split()
)


def asks_for_person(question: str) -> bool:
    """A who-question that is not "who is <Name>?"."""
    text = question.replace("’", "'").strip(" «\"“")
    return bool(_WHO.match(fold(text))) and not _DESCRIBE.match(text)


def new_names(question: str, answer: str) -> list[str]:
    """Names in the answer none of whose words is in the question ("Yann LeCun" is not new after "LeCun")."""
    asked = set(re.findall(r"\w+", fold(question)))
    names = []
    for run in _NAME_RUN.findall(MARKER.sub(" ", answer)):
        words = [w for w in re.findall(r"\w+", fold(run)) if w not in _NOT_NAMES]
        if words and not any(w in asked for w in words):
            names.append(run)
    return names


def gives_what_is_asked(question: str, answer: str) -> bool:
    """False only when a who-question is answered without naming anyone it does not already name."""
    return not asks_for_person(question) or bool(new_names(question, answer))
