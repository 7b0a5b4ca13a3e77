"""HTML for the chat: answers with clickable [n], and source cards with the quote highlighted.

Everything that comes from a document or from the model is escaped here; only the tags written in this
module reach the page. The words are the reader's: every function that writes some takes them (ui.i18n.Words).
"""
from __future__ import annotations

import html
import json
import re

from rag.citations import render_claim
from rag.claims import MARKER
from rag.prompts import source_name
from rag.types import Answer, Citation, Passage
from ui.i18n import Words

# Markdown would turn "![x](http://...)" written by a model into an image fetched from the network.
_MARKDOWN_SPECIALS = "\\`*_{}[]()#+!|~"


def escape_text(text: str) -> str:
    """Escape HTML and Markdown so untrusted text is shown as typed, never interpreted."""
    escaped = html.escape(text, quote=True)
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIALS else ch for ch in escaped)


def cite_id(turn: int, n: int) -> str:
    return f"cite-{turn}-{n}"


def cite_link(turn: int, n: int) -> str:
    return f'<a class="cite" href="#{cite_id(turn, n)}" data-turn="{turn}" data-n="{n}">[{n}]</a>'


def streaming_text(partial: str) -> str:
    """The answer while it is written: plain escaped text (citations are checked at the end)."""
    return escape_text(partial) + " ▍"


def answer_markdown(answer: Answer, turn: int, words: Words) -> str:
    """The checked answer: [n] as links to source cards, unsupported sentences flagged, notes by kind, timings."""
    if answer.abstained:
        body = f'<span class="declined">{escape_text(answer.answer)}</span>'
    else:
        cards = {c.n for c in answer.citations}
        parts = []
        for claim, mapping in zip(answer.claims, answer.claim_citations):
            if claim.inline:
                parts.append(_inline_links(render_claim(claim, mapping), turn, cards))
                continue
            numbers = list(dict.fromkeys(mapping.values()))
            text = escape_text(claim.text)
            links = "".join(cite_link(turn, n) for n in numbers if n in cards)
            if claim.supported:
                parts.append(f"{text} {links}".strip())
            else:
                title = html.escape(words("sentence_unsupported"))
                parts.append(f'<span class="unsupported" title="{title}">⚠ {text}</span> {links}'.strip())
        body = " ".join(parts)
    notes = "".join(
        f'<div class="note note-{n.kind}">{n.icon} {escape_text(n.text)}</div>' for n in answer.notes
    )
    t = answer.timings_ms
    seconds = {key: t.get(key, 0) / 1000 for key in ("evidence", "first_token", "total")}
    timing = f'<div class="timing">{html.escape(words("timing", model=answer.model, **seconds))}</div>'
    return f"{body}{notes}{timing}"


def _inline_links(text: str, turn: int, cited: set[int]) -> str:
    """Escape a sentence and turn its [n] markers into links where they stand (only to existing cards)."""
    pieces, pos = [], 0
    for match in MARKER.finditer(text):
        pieces.append(escape_text(text[pos : match.start()]))
        numbers = [int(n) for n in re.split(r"[,;]\s*", match.group(1))]
        pieces.append("".join(cite_link(turn, n) for n in numbers if n in cited))
        pos = match.end()
    pieces.append(escape_text(text[pos:]))
    return "".join(pieces)


def _context_window(text: str, start: int, end: int, margin: int = 280) -> tuple[str, str, str]:
    """Text before the quote, the quote, and text after, cut at word boundaries."""
    left = max(0, start - margin)
    right = min(len(text), end + margin)
    while left > 0 and not text[left - 1].isspace():
        left += 1
    while right < len(text) and not text[right].isspace():
        right += 1
    before = ("… " if left > 0 else "") + text[left:start]
    after = text[end:right] + (" …" if right < len(text) else "")
    return before, text[start:end], after


def source_card(citation: Citation, turn: int, current: bool, words: Words) -> str:
    """One cited passage: title, publisher, the quote highlighted in its context, the whole article on demand."""
    doc = citation.passage.doc
    before, quote, after = _context_window(doc.text, citation.start, citation.end)
    article = (
        html.escape(doc.text[: citation.start])
        + f'<mark class="quote">{html.escape(quote)}</mark>'
        + html.escape(doc.text[citation.end :])
    )
    publisher = html.escape(str(doc.metadata.get("publisher") or source_name(doc.metadata, doc.title)))
    flag = "" if citation.supported else f'<div class="unsupported-flag">⚠ {html.escape(words("passage_unsupported"))}</div>'
    classes = "cite-card current" if current else "cite-card"
    return (
        f'<div class="{classes}" id="{cite_id(turn, citation.n)}" data-turn="{turn}" data-n="{citation.n}">'
        f'<div class="cite-head"><span class="cite-n">[{citation.n}]</span> <strong>{html.escape(doc.title)}</strong></div>'
        f'<div class="cite-pub">{publisher} · <code>{html.escape(doc.source)}</code> · {citation.start}–{citation.end}</div>'
        f"{flag}"
        f'<blockquote class="cite-context">{html.escape(before)}<mark class="quote">{html.escape(quote)}</mark>{html.escape(after)}</blockquote>'
        f'<details class="article"><summary>{html.escape(words("whole_article"))}</summary><div class="article-text">{article}</div></details>'
        "</div>"
    )


def sources_panel(turns: list[tuple[int, Answer]], words: Words) -> str:
    """Cards for every answer of the conversation; the latest answer's cards are visible."""
    if not turns:
        return f'<div class="sources-empty">{html.escape(words("sources_empty"))}</div>'
    latest = turns[-1][0]
    cards = [source_card(c, turn, turn == latest, words) for turn, answer in turns for c in answer.citations]
    if not any(answer.citations for turn, answer in turns if turn == latest):
        cards.append(f'<div class="sources-empty current">{html.escape(words("no_cited_passage"))}</div>')
    return "".join(cards)


def writing(words: Words) -> str:
    """What the chat shows in the answer's place while the model reads its prompt."""
    return escape_text(words("writing"))


def evidence_card(passage: Passage, margin: int = 200) -> str:
    """A passage the model is about to read: title, publisher, its text around the units it will read, marked."""
    doc = passage.doc
    spans = sorted(passage.spans)
    before, _, _ = _context_window(doc.text, spans[0][0], spans[0][0], margin)
    _, _, after = _context_window(doc.text, spans[-1][1], spans[-1][1], margin)
    body, pos = [html.escape(before)], spans[0][0]
    for start, end in spans:
        body.append(html.escape(doc.text[pos:start]) + f'<mark class="unit">{html.escape(doc.text[start:end])}</mark>')
        pos = end
    body.append(html.escape(after))
    publisher = html.escape(str(doc.metadata.get("publisher") or source_name(doc.metadata, doc.title)))
    return (
        f'<div class="evidence-card" data-doc="{html.escape(doc.doc_id)}">'
        f'<div class="cite-head"><strong>{html.escape(doc.title)}</strong></div>'
        f'<div class="cite-pub">{publisher} · <code>{html.escape(doc.source)}</code></div>'
        f'<blockquote class="cite-context">{"".join(body)}</blockquote>'
        "</div>"
    )


def evidence_panel(passages: list[Passage], words: Words) -> str:
    """The passages chosen for the question, shown while the model reads them and writes (replaced by the
    citations once the answer is checked)."""
    head = f'<div class="writing" role="status">{html.escape(words("writing"))}</div>'
    if not passages:
        return head + f'<div class="sources-empty current">{html.escape(words("no_passage_found"))}</div>'
    return head + "".join(evidence_card(p) for p in passages if p.units)


CSS = """
#sources { max-height: 70vh; overflow-y: auto; }
.cite-card { display: none; border: 1px solid #ccc; border-radius: 8px; padding: 10px; margin-bottom: 10px; }
.cite-card.current, .cite-card.active, .cite-card:target { display: block; }
.cite-card.active { border-color: #d97706; box-shadow: 0 0 0 2px #fcd34d; }
.cite-head { font-size: 0.95em; }
.cite-pub { font-size: 0.8em; opacity: 0.75; margin: 2px 0 6px; }
.cite-context { margin: 0; font-size: 0.9em; line-height: 1.45; }
mark.quote { background: #fde68a; color: inherit; padding: 0 2px; }
.article-text { white-space: pre-wrap; font-size: 0.85em; max-height: 40vh; overflow-y: auto; }
a.cite { font-weight: 600; text-decoration: none; cursor: pointer; }
.unsupported { background: #fee2e2; border-bottom: 1px dashed #b91c1c; }
.unsupported-flag { color: #b91c1c; font-size: 0.85em; }
.note { font-size: 0.85em; margin-top: 6px; }
.timing { font-size: 0.75em; opacity: 0.6; margin-top: 6px; }
.declined { font-style: italic; }
.writing { font-style: italic; margin-bottom: 8px; animation: pulse 1.5s ease-in-out infinite; }
@keyframes pulse { 50% { opacity: 0.45; } }
.evidence-card { border: 1px dashed #bbb; border-radius: 8px; padding: 10px; margin-bottom: 10px; }
mark.unit { background: #dbeafe; color: inherit; padding: 0 2px; }
"""

# Clicking [n] in an answer shows its card; without this the link would open a new tab (chat links do).
_CLICKS = """
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a.cite, a[href^="#cite-"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const card = document.getElementById(link.getAttribute('href').slice(1));
    if (!card) return;
    document.querySelectorAll('.cite-card').forEach((c) => c.classList.remove('active', 'current'));
    card.classList.add('active');
    card.scrollIntoView({block: 'nearest'});
  }, true);
"""


def page_js(titles: dict[str, str], fallback: str) -> str:
    """The page's script: clicks on [n], and the page's language as the server picks it from Accept-Language (the
    first of the browser's languages the page speaks, else the fallback), for the browser tab's title, which
    Gradio does not translate, and the page's lang attribute."""
    pick = (
        f"const titles = {json.dumps(titles, ensure_ascii=False)};\n"
        "  const spoken = (navigator.languages || [navigator.language]).map((tag) => (tag || '').toLowerCase().split('-')[0]);\n"
        f"  const lang = spoken.find((code) => Object.hasOwn(titles, code)) || {json.dumps(fallback)};\n"
        "  document.title = titles[lang];\n"
        "  document.documentElement.lang = lang;\n"
    )
    return "() => {\n  " + pick + _CLICKS + "}\n"
