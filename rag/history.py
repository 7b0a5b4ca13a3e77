"""Conversation history: clean earlier turns and turn a follow-up into a standalone retrieval query."""
from __future__ import annotations

import re

_CITATION = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
# Words that make a question lean on the previous turn (pronouns, "and", "that"...).
_DEPENDENT = re.compile(
    r"\b(il|elle|ils|elles|lui|leur|leurs|son|sa|ses|celui|celle|ceux|cela|ça|ce|cette|et|y|en|"
    r"he|she|it|they|him|her|them|his|its|their|this|that|these|those|and|also|there)\b",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"\b[A-ZÀ-Ö][\w’'-]+(?:\s+[A-ZÀ-Ö][\w’'-]+)*")
_NOT_ENTITIES = {
    "qui", "que", "quel", "quelle", "quels", "quelles", "quand", "comment", "pourquoi", "où", "combien",
    "what", "who", "when", "where", "why", "how", "which", "le", "la", "les", "un", "une", "the", "selon",
    "according", "oui", "non", "yes", "no", "je", "i",
}


def strip_citations(text: str) -> str:
    """Remove [n] markers so the model does not copy numbers that point at old passages."""
    return _CITATION.sub("", text)


def clean_history(history: list[dict] | None, max_turns: int = 4) -> list[dict]:
    """Valid user/assistant turns, the last few only, without citation markers."""
    turns = []
    for turn in history or []:
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            continue
        content = strip_citations(str(turn.get("content") or "")).strip()
        if content:
            turns.append({"role": turn["role"], "content": content})
    return turns[-max_turns:]


def last_said(turns: list[dict], role: str) -> str:
    """The content of the last turn of `role` ("user" or "assistant"), or ""."""
    return next((t["content"] for t in reversed(turns) if t["role"] == role), "")


# French inversion: "Combien Meta a-t-il investi ?" repeats its own subject; "Quel âge a-t-il ?" leans on the last turn.
_INVERSION = re.compile(r"-(?:t-)?(?:il|elle|ils|elles)\b", re.IGNORECASE)


def _names(text: str) -> list[str]:
    """Capitalised names in a question, not counting the capital of its first word ("Combien", "Depuis")."""
    names = []
    for match in _ENTITY.finditer(text):
        name = match.group(0)
        if match.start() == 0 or not text[: match.start()].strip(" «\"“¿¡"):
            name = " ".join(name.split()[1:])
        if len(name) > 2 and name.lower() not in _NOT_ENTITIES and not _DEPENDENT.fullmatch(name):
            names.append(name)
    return names


def is_followup(question: str, history: list[dict]) -> bool:
    """A question that cannot stand alone: short and leaning on a pronoun or a connective.

    A question that names its subject stands alone even when short ("When was ChatGPT released?") or
    inverted ("Pourquoi Yann LeCun a-t-il quitté Meta ?": the "-il" repeats the name written before it).
    """
    if not history:
        return False
    words = question.split()
    inversion = _INVERSION.search(question)
    if inversion and _names(question[: inversion.start()]):
        question = _INVERSION.sub("", question)
    return len(words) <= 12 and bool(_DEPENDENT.search(question)) or (len(words) <= 4 and not _names(question))


def standalone_query(question: str, history: list[dict] | None) -> str:
    """Retrieval query for a follow-up: the question plus the subject of the previous exchange.

    "Et quel âge a-t-il ?" after "Qui dirige les Superintelligence Labs ?" / "Alexandr Wang dirige..."
    becomes "Et quel âge a-t-il ? (Alexandr Wang; Superintelligence Labs; Qui dirige les Superintelligence Labs ?)".
    """
    turns = clean_history(history)
    if not is_followup(question, turns):
        return question
    last_user, last_answer = last_said(turns, "user"), last_said(turns, "assistant")
    entities: list[str] = []
    for name in _ENTITY.findall(last_answer + " " + last_user):
        if len(name) > 2 and name not in entities and name.lower() not in _NOT_ENTITIES and not _DEPENDENT.fullmatch(name):
            entities.append(name)
    context = "; ".join(entities[:4] + [last_user])
    return f"{question} ({context})" if context else question


def referent(history: list[dict] | None, pronoun: str | None = None) -> str | None:
    """What a singular pronoun of a follow-up most likely points to: the first name of the last answer, else of the last question.

    "Alexandr Wang dirige les Superintelligence Labs." → "Alexandr Wang"; "Il a lancé Advanced Machine
    Intelligence Labs." → "Advanced Machine Intelligence Labs" (the answer's own "Il" names nothing). When the
    answer opens with the follow-up's own pronoun ("Il a lancé…", then "Quel rôle y occupera-t-il ?"), both
    point to the same antecedent: the name in the last question ("Quelle startup LeCun a-t-il lancée ?").
    """
    turns = clean_history(history)
    first_word = (last_said(turns, "assistant").split() or [""])[0].lower()
    roles = ("user",) if pronoun and first_word == pronoun.lower() else ("assistant", "user")
    for role in roles:
        for match in _ENTITY.finditer(last_said(turns, role)):
            words = match.group(0).split()
            # A capitalised first word of a sentence is a name unless it is a pronoun or a function word.
            while words and (words[0].lower() in _NOT_ENTITIES or _DEPENDENT.fullmatch(words[0])):
                words = words[1:]
            name = " ".join(words)
            if len(name) > 2:
                return name
    return None


# Singular pronouns only: "ils"/"they" may point to several names, and a wrong guess misleads more than none.
# The verb with its clitics: "Qu'a-t-il" → "Qu'X a-t-il", "Quel rôle y occupera-t-il" → "Quel rôle X y occupera-t-il".
_FR_INVERSION = re.compile(
    r"(?<![\w-])(?:(?:y|en|lui|leur|se|le|la|les)\s+|[ls]['’])*\w+-(?:t-)?(?P<pronoun>il|elle)\b", re.IGNORECASE
)
_FR_SUBJECT = re.compile(r"\b(il|elle)\b", re.IGNORECASE)
_FR_POSSESSIVE = re.compile(r"\b(son|sa|ses)\s+([\w’'-]+)", re.IGNORECASE)
_EN_SUBJECT = re.compile(r"\b(he|she|it|him)\b", re.IGNORECASE)
_EN_POSSESSIVE = re.compile(r"\b(his|its|her)\s+(?=[a-z])", re.IGNORECASE)
_FR_ARTICLE = {"son": "le", "sa": "la", "ses": "les"}


def _french_article(possessive: str, noun: str) -> str:
    article = _FR_ARTICLE[possessive.lower()]
    return "l’" if article != "les" and noun[:1].lower() in "aeiouéèêàâîôûh" else article + " "


def _subject_pronoun(question: str) -> str | None:
    """The singular subject pronoun of a follow-up ("il" in "Quel rôle y occupera-t-il ?"), if any."""
    inversion = _FR_INVERSION.search(question)
    if inversion:
        return inversion.group("pronoun")
    subject = _FR_SUBJECT.search(question) or _EN_SUBJECT.search(question)
    return subject.group(1) if subject else None


def resolve_followup(question: str, history: list[dict] | None) -> str | None:
    """The follow-up with its pronoun replaced by what it points to, or None when there is nothing to resolve.

    "Quelle entreprise a-t-il fondée ?" → "Quelle entreprise Alexandr Wang a-t-il fondée ?";
    "How old is he?" → "How old is Alexandr Wang?". The small model answers the rewritten question far more
    reliably than the original one next to the previous exchange.
    """
    turns = clean_history(history)
    if not is_followup(question, turns):
        return None
    name = referent(turns, _subject_pronoun(question))
    if not name or name.lower() in question.lower():
        return None
    rewritten = _FR_INVERSION.sub(lambda m: f"{name} {m.group(0)}", question, count=1)
    if rewritten == question:
        rewritten = _FR_SUBJECT.sub(name, question, count=1)
    if rewritten == question:
        rewritten = _FR_POSSESSIVE.sub(
            lambda m: f"{_french_article(m.group(1), m.group(2))}{m.group(2)} de {name}", question, count=1
        )
    if rewritten == question:
        rewritten = _EN_SUBJECT.sub(name, question, count=1)
    if rewritten == question:
        rewritten = _EN_POSSESSIVE.sub(f"{name}’s ", question, count=1)
    return rewritten if rewritten != question else None


# After the pronoun is resolved, "y" ("Quel rôle LeCun y occupera-t-il ?") and a final "there" still point back.
_STILL_LEANING = re.compile(r"\by\b|\bthere\s*[?.!]*\s*$", re.IGNORECASE)


def still_leans(question: str) -> bool:
    """A rewritten follow-up that still needs the previous exchange to be understood."""
    return bool(_STILL_LEANING.search(question))
