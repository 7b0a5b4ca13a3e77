"""The web chat's text in the reader's language.

The text is the [ui] table of the language files (rag/languages/<code>.toml): every language whose file has one is
a language of the page, with no change here. What the page shows from the start (labels, buttons, tabs, the API
help) is translated in the browser by Gradio from `page_i18n()`, in the browser's language. What a handler writes
(the status line, upload results, warnings, the sources panel) is in the language `request_language()` reads from
the request's Accept-Language header. Both fall back to the registry's fallback language (English).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from rag import languages
from rag.languages import Words, words

if TYPE_CHECKING:  # imported where the page is built: `rag serve` reads its model while Gradio imports
    import gradio as gr

FALLBACK = languages.FALLBACK
__all__ = ["FALLBACK", "Words", "words", "page_languages", "preferred_language", "request_language", "page_i18n", "page_titles"]


@lru_cache(maxsize=None)
def page_languages() -> tuple[str, ...]:
    """Codes of the languages the web chat speaks (those whose file has a [ui] table), the fallback first."""
    codes = [lang.code for lang in languages.all_languages() if lang.ui]
    return tuple(sorted(codes, key=lambda code: (code != FALLBACK, code)))


def preferred_language(accept_language: str | None) -> str:
    """The language of an Accept-Language header the web chat speaks: the first by weight (q), then by order;
    a region is ignored (de-CH is de). The fallback when none is spoken. Hand-written: no installed library parses
    the header, and babel would be a new dependency for these few lines."""
    ranked = []
    for order, part in enumerate((accept_language or "").split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, order, tag.lower().replace("_", "-").split("-")[0]))
    spoken = page_languages()
    return next((code for _, _, code in sorted(ranked) if code in spoken), FALLBACK)


def request_language(request: gr.Request | None) -> str:
    """The language of the text a handler writes for this request (from its Accept-Language header)."""
    headers = getattr(request, "headers", None) or {}
    return preferred_language(headers.get("accept-language"))


def page_i18n(**values: str) -> gr.I18n:
    """The page's text in every language it speaks, for Gradio to show in the browser's language; `{name}` is
    replaced by values[name] (see Words.fill)."""
    import gradio as gr

    tables = {}
    for code in page_languages():
        text = words(code)
        tables[code] = {key: text.fill(key, **values) for key in text.table}
    return gr.I18n(**tables)


def page_titles() -> dict[str, str]:
    """The title of the browser tab in every language the page speaks (Gradio does not translate it)."""
    return {code: words(code)("title") for code in page_languages()}
