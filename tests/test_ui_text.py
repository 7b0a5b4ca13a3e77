"""The web chat's words: the [ui] tables of the language files, the language of a request, the page's translations.

No model and no server: the browser side is in test_ui_browser.py.
"""
from __future__ import annotations

import shutil

import pytest

import ui.i18n
from rag import languages
from rag.types import Answer
from ui import render
from ui.i18n import page_i18n, page_languages, preferred_language, request_language, words


@pytest.mark.parametrize(
    "header, expected",
    [
        ("de-DE", "de"),
        ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"),
        ("en-US,en;q=0.9", "en"),  # Playwright's Chromium by default
        ("it-IT", "it"),
        ("es-419,es;q=0.9", "es"),
        ("pt-BR,fr;q=0.8", "fr"),  # the first language the chat speaks, not the first asked
        ("pt-BR,pt;q=0.9", "en"),  # none spoken: the fallback
        ("en;q=0.5,de;q=0.9", "de"),  # by weight, then by order
        ("de;q=0,fr", "fr"),  # q=0 means "not this one"
        ("DE-ch", "de"),
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("de;q=abc,es", "es"),  # a malformed weight counts as 0
    ],
)
def test_the_language_of_a_request_is_the_first_of_its_accept_language_the_chat_speaks(header, expected):
    assert preferred_language(header) == expected


def test_the_language_of_a_request_comes_from_its_header():
    class Request:
        headers = {"accept-language": "it-IT,it;q=0.9"}

    assert request_language(Request()) == "it"
    assert request_language(None) == "en"  # a handler called directly, not through the page


def test_the_page_speaks_every_language_with_a_ui_table_english_first():
    assert page_languages()[0] == "en"
    assert set(page_languages()) == {lang.code for lang in languages.all_languages() if lang.ui}
    assert {"en", "fr", "de", "es", "it"} <= set(page_languages())
    translations = page_i18n(types=".txt .md", model="tiny-model").translations_dict
    assert set(translations) == set(page_languages())
    assert translations["de"]["send"] == "Senden"
    assert translations["fr"]["add_files"] == "Ajouter des fichiers (.txt .md)"  # {types} filled
    assert 'model="tiny-model"' in translations["it"]["api_help"]  # {model} filled, the code's own braces kept
    assert '{"role": "user"' in translations["it"]["api_help"]


def test_a_new_language_file_is_a_new_language_of_the_page(tmp_path, monkeypatch):
    """Nothing in the code lists the languages: a file with a [ui] table is enough."""
    folder = tmp_path / "languages"
    shutil.copytree(languages.FOLDER, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dutch = (folder / "en.toml").read_text(encoding="utf-8").replace('code = "en"', 'code = "nl"', 1)
    (folder / "nl.toml").write_text(dutch.replace('send = "Send"', 'send = "Verzenden"', 1), encoding="utf-8")
    caches = [languages.available, languages.get, page_languages, ui.i18n.words]
    monkeypatch.setattr(languages, "FOLDER", folder)
    for cache in caches:
        cache.cache_clear()
    try:
        assert "nl" in page_languages()
        assert page_i18n().translations_dict["nl"]["send"] == "Verzenden"
        assert preferred_language("nl-BE,nl;q=0.9") == "nl"
        assert words("nl")("send") == "Verzenden"
    finally:
        monkeypatch.undo()
        for cache in caches:
            cache.cache_clear()
    assert "nl" not in page_languages()


def test_handler_text_is_filled_in_and_numbers_are_written_as_the_language_writes_them():
    values = {"documents": 2, "models": "qwen", "seconds": 12.34}
    assert words("en")("status_ready", **values) == "Ready · 2 documents · models: qwen · loaded in 12.3 s"
    assert words("de")("status_ready", **values) == "Bereit · 2 Dokumente · Modelle: qwen · geladen in 12,3 s"
    assert words("fr")("unsupported_type", name="a.exe", types=".txt") == "a.exe : type non pris en charge (acceptés : .txt)"
    assert words("nl")("send") == "Send"  # a language without a file: the fallback's words


def test_the_sources_panel_and_the_answer_are_in_the_readers_language():
    assert "Hier erscheinen die zitierten Passagen." in render.sources_panel([], words("de"))
    assert "Les passages cités apparaîtront ici." in render.sources_panel([], words("fr"))
    answer = Answer(
        question="q", answer="Je ne trouve pas la réponse dans les documents.", abstained=True, lang="fr", citations=[],
        passages=[], claims=[], notes=[], model="m", timings_ms={"evidence": 1500.0, "first_token": 2500.0, "total": 4000.0},
    )
    timing = render.answer_markdown(answer, 1, words("it"))
    assert "fonti 1,5 s · prima parola 2,5 s · totale 4,0 s" in timing
    assert "Stesura della risposta…" in render.evidence_panel([], words("it"))
    assert "Nessun passaggio trovato." in render.evidence_panel([], words("it"))
