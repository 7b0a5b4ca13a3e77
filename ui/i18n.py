"""The web chat's text in the reader's language.

The text is the [ui] table of the language files (rag/languages/<code>.toml): every language whose file has one is
a language of the page, with no change here. What the page shows from the start (labels, buttons, tabs, the API
help) is translated in the browser by Gradio from `page_i18n()`, in the browser's language. What a handler writes
(the status line, upload results, warnings, the sources panel) is in the language `request_language()` reads from
the request's Accept-Language header. Both fall back to the registry's fallback language (English).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rag import languages

if TYPE_CHECKING:  # imported where the page is built: `rag serve` reads its model while Gradio imports
    import gradio as gr

FALLBACK = languages.FALLBACK


@lru_cache(maxsize=None)
def page_languages() -> tuple[str, ...]:
    """Codes of the languages the web chat speaks (those whose file has a [ui] table), the fallback first."""
    codes = [lang.code for lang in languages.all_languages() if lang.ui]
    return tuple(sorted(codes, key=lambda code: (code != FALLBACK, code)))


@dataclass(frozen=True)
class Words:
    """The web chat's text in one language: `words(key, name=value)` is the template `key` filled in."""

    code: str
    table: dict[str, str]
    decimal_separator: str = "."

    def __call__(self, key: str, **values: object) -> str:
        return self.table[key].format(**{k: self.number(v) if isinstance(v, float) else v for k, v in values.items()})

    def fill(self, key: str, **values: str) -> str:
        """Text `key` with only the named `{placeholders}` replaced: the page's text is not formatted when shown, and
        other braces (the API help's code) stay as they are."""
        text = self.table[key]
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text

    def number(self, value: float, digits: int = 1) -> str:
        """A decimal number written as this language writes it (2.5 s, 2,5 s)."""
        return f"{value:.{digits}f}".replace(".", self.decimal_separator)


@lru_cache(maxsize=None)
def words(code: str) -> Words:
    """The text in language `code`; the fallback's where its table lacks a key (or the language has no file)."""
    lang, base = languages.get(code), languages.get(FALLBACK)
    return Words(lang.code, {**base.ui, **lang.ui}, lang.decimal_separator)


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
