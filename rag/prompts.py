"""The prompt: a fixed system prefix (cached by llama.cpp), then the numbered sources, the last exchange, the question.

Every unit the model reads (a sentence, a table row) carries its own number, and the model cites those numbers:
which sentence an answer rests on is read from the answer, not guessed. "[0]" alone is the fixed decline line,
turned into the refusal sentence of the question's language by the code.
"""
from __future__ import annotations

from pathlib import Path

from rag import languages
from rag.languages import tomllib
from rag.history import last_said
from rag.text import head_cells, record_line
from rag.types import Passage, Source, publisher_name

DECLINE_MARK = "[0]"
_PROMPTS = tomllib.loads((Path(__file__).parent / "data" / "prompts.toml").read_text(encoding="utf-8"))
JUDGE_YES, JUDGE_NO = _PROMPTS["judge_yes"], _PROMPTS["judge_no"]
JUDGE = _PROMPTS["judge"].replace("{yes}", JUDGE_YES).replace("{no}", JUDGE_NO)
YES_NO_GRAMMAR = f'root ::= "{JUDGE_YES}" | "{JUDGE_NO}"'  # GBNF: the judge's reply is one of its two words


def judged_yes(reply: str) -> bool:
    """Whether the judge's reply is its yes."""
    return reply.strip().lower().startswith(JUDGE_YES)


# Fixed for every question (rag/data/prompts.toml), so llama.cpp evaluates it once and keeps it cached.
SYSTEM = _PROMPTS["system"].strip()


def source_name(metadata: dict, title: str) -> str:
    """A short name for a document: the publisher's first words, else the title (every token costs time)."""
    name = publisher_name(metadata)
    if name:
        return name
    return title if len(title) <= 60 else title[:57] + "…"


def number_sources(passages: list[Passage]) -> list[Source]:
    """Number every unit of the passages, 1 upwards, in the order the model reads them."""
    sources: list[Source] = []
    for passage in passages:
        for unit in passage.units:
            sources.append(Source(len(sources) + 1, unit, passage))
    return sources


def passage_header(passage: Passage, lang: str) -> str:
    """'(Publisher · heading › subheading · reader's comment)' above a passage's numbered lines."""
    parts = [source_name(passage.doc.metadata, passage.doc.title)]
    context = passage.context_text()
    if context:
        parts.append(context)
    label = languages.get(lang).text.get(passage.label, "") if passage.label != "article" else ""
    if label:
        parts.append(label)
    return "(" + " · ".join(parts) + ")"


# A term longer than this (a signature: "json.dumps(obj, *, skipkeys=False, ...)") stands once above its
# definition's lines instead of before each: repeated, it filled the prompt (about 60 tokens a line).
TERM_BESIDE_CHARS = 60


def sources_block(passages: list[Passage], sources: list[Source], lang: str) -> str:
    lines: list[str] = []
    for passage in passages:
        lines.append(passage_header(passage, lang))
        shown = ""  # the table head already above these rows
        for source in sources:
            if source.passage is passage:
                term = passage.term_of(source.unit)
                said = source_lines(source, term, shown)
                lines.extend(said)
                shown = term if term in (shown, *said) else ""
    return "\n".join(lines)


def source_lines(source: Source, term: str, head_shown: str) -> list[str]:
    """A numbered unit as the model reads it: a definition beside its term ("[7] nofail: ..."), or under it when
    the term is long (a function's signature, once for its consecutive lines), a row with each value after its
    column's name ("[3] Version: 8 | Code name: jessie"), or under its table head (unnumbered, once for
    consecutive rows) when the cells do not match the head's: neither means much alone; neither is quoted."""
    text = " ".join(source.text.split())
    if not term:
        return [f"[{source.k}] {text}"]
    if source.unit.kind == "definition" and len(term) <= TERM_BESIDE_CHARS:
        return [f"[{source.k}] {term.rstrip(':')}: {text}"]
    if source.unit.kind == "definition":
        return ([] if term == head_shown else [term]) + [f"[{source.k}] {text}"]
    record = named_cells(term, text)
    if record:
        return [f"[{source.k}] {record}"]
    return ([] if term == head_shown else [term]) + [f"[{source.k}] {text}"]


def named_cells(head: str, row: str) -> str:
    """The row as 'name: value | ...' when the head names as many cells as the row has (two or more), else ''.

    A value beside its column's name is read right by a small model, which takes a value from the wrong column
    when the names stand a line or more above (measured on CSV records, MEASUREMENTS.md)."""
    matched = head_cells(head, row)
    return record_line(*matched) if matched else ""


def user_parts(question: str, passages: list[Passage], sources: list[Source], lang: str, history: list[dict] | None = None) -> dict[str, str]:
    """The user message, part by part in reading order (what each question pays for is counted per part)."""
    words = languages.get(lang).text
    block = sources_block(passages, sources, lang) if passages else words["no_source"]
    return {
        "sources": f"{words['sources']}\n{block}\n",
        "history": previous_exchange(history or [], lang),
        "instruction": f"{words['answer_in']}\n",
        "question": f"{words['question']}{words['colon']} {question}",
    }


def build_messages(question: str, passages: list[Passage], sources: list[Source], lang: str, history: list[dict] | None = None) -> list[dict]:
    """Chat messages: the fixed system prefix, then one user message with sources, last exchange and question.

    The last exchange goes in the user message, next to the question it explains ("And which file does it
    read?"): a small model resolves "it" far better there than from chat turns.
    """
    user = "".join(user_parts(question, passages, sources, lang, history).values())
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def previous_exchange(history: list[dict], lang: str, limit: int = 300) -> str:
    """The last question and answer of the conversation, shortened, one line each."""
    last_q, last_a = last_said(history, "user"), last_said(history, "assistant")
    if not last_q:
        return ""
    words = languages.get(lang).text
    colon = words["colon"]
    return f"{words['previous_question']}{colon} {last_q[:limit]}\n{words['previous_answer']}{colon} {last_a[:limit]}\n"
