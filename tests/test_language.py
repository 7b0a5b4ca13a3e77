"""The language layer: resource files behind one registry, detection, per-language analysis and sentence offsets."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rag import languages
from rag.language import detect, detect_language, function_word_vote
from rag.text import analyzer, fold, interrogative_terms, sentence_spans

CORE = Path(__file__).resolve().parent.parent / "rag"


def test_every_language_file_has_the_same_keys_as_the_fallback():
    base = languages.get(languages.FALLBACK)
    for lang in languages.all_languages():
        assert set(lang.notes) == set(base.notes), lang.code
        assert set(base.text) - {"answer_in_question_language"} <= set(lang.text), lang.code
        assert len(lang.months) == 12, lang.code
        assert lang.stop_words and lang.negations and lang.question_words, lang.code


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_language_file_has_the_web_chats_text_with_the_same_keys_and_placeholders_as_english():
    """The [ui] table of each file names the same texts as en.toml's (a missing translation fails here, not as an
    English word on a German page) and fills the same {placeholders}."""
    english = languages.get("en").ui
    assert english, "en.toml has no [ui] table"
    for lang in languages.all_languages():
        assert set(lang.ui) == set(english), (lang.code, sorted(set(lang.ui) ^ set(english)))
        for key, text in lang.ui.items():
            assert text.strip(), (lang.code, key)
            assert _placeholders(text) == _placeholders(english[key]), (lang.code, key, text)


def test_at_least_the_five_answer_languages_are_registered():
    assert {"en", "fr", "de", "es", "it"} <= set(languages.available())


def test_a_language_without_a_file_answers_in_its_own_language_with_the_fallback_sentences():
    dutch = languages.get("nl")
    assert not dutch.has_file
    assert dutch.stemmer == "dutch"
    assert "language of the question" in dutch.text["answer_in"]
    assert dutch.text["decline"] == languages.get("en").text["decline"]


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Who maintains the list of installed packages?", "en"),
        ("Qui tient à jour la liste des paquets installés ?", "fr"),
        ("Welches Programm verwaltet die installierten Pakete?", "de"),
        ("¿Qué programa gestiona los paquetes instalados?", "es"),
        ("Quale programma gestisce i pacchetti installati?", "it"),
        ("Und warum?", "de"),
        ("Y a-t-il une garantie ?", "fr"),
    ],
)
def test_detection_of_short_questions(text, lang):
    assert detect_language(text) == lang


def test_detection_without_letters_falls_back():
    assert detect("1234 5678") is None
    assert detect_language("", default="fr") == "fr"


def test_analyzers_stem_and_drop_stop_words_per_language():
    assert analyzer("en")("The packages were installed") == ["packag", "instal"]
    assert analyzer("fr")("Les paquets ont été installés") == ["paquet", "install"]
    assert analyzer("de")("Die Pakete") == analyzer("de")("das Paket") and analyzer("de")("das Paket")
    assert analyzer("es")("Los paquetes fueron instalados") == ["paquet", "instal"]
    assert "nicht" in analyzer("de")("Das Paket ist nicht installiert"), "negations are kept: they change the meaning"


@pytest.mark.parametrize(
    "lang, question, asked",
    [
        ("de", "Welches Programm verwaltet die Pakete?", {"programm", "verwalt", "pak"}),
        ("fr", "Quel outil gère les paquets ?", {"outil", "ger", "paquet"}),
        ("it", "Quale strumento gestisce i pacchetti?", {"strument", "gest", "pacchett"}),
    ],
)
def test_interrogatives_are_the_analysed_question_words_of_each_language(lang, question, asked):
    """Retrieval and the support check leave them out alike: they ask, they say nothing of what is asked about."""
    assert analyzer(lang).terms(question) - interrogative_terms(lang) == asked


def test_sentence_offsets_are_exact_in_each_language():
    texts = {
        "en": "Edit /etc/fstab first. Then run e.g. mount -a to check it. Mr. Smith agrees.",
        "fr": "M. Dupont a payé 14,3 milliards. Il a 28 ans. Voir la p. 12 pour le détail.",
        "de": "Das ist z. B. ein Test von Dr. Müller. Die Datei /etc/hosts bleibt. Version 3.5 ist neu!",
        "es": "El Sr. García llegó tarde. ¿Dónde está? No lo sé.",
    }
    for lang, text in texts.items():
        spans = sentence_spans(text, lang=lang)
        assert len(spans) >= 3, (lang, [text[s:e] for s, e in spans])
        for start, end in spans:
            piece = text[start:end]
            assert piece == piece.strip() and piece, lang
        assert "".join(text[s:e] for s, e in spans).replace(" ", "") == text.replace(" ", "")


def test_a_line_break_always_ends_a_sentence():
    text = "Operating temperature: 0 to 40 °C\nStorage: -20 to 60 °C"
    assert [text[s:e] for s, e in sentence_spans(text, lang="en")] == ["Operating temperature: 0 to 40 °C", "Storage: -20 to 60 °C"]


def test_fold_removes_accents_and_case():
    assert fold("Équipe Größe") == "equipe große"


# The answer engine, from the file to the checked answer, and the model's side of it. (Command-line and log
# messages are elsewhere.)
ENGINE = [
    "documents", "extractors/__init__", "extractors/docx", "extractors/html", "extractors/markdown", "extractors/pdf",
    "extractors/plain", "language", "text", "chunking", "ingest", "store/postgres", "retrieval", "context", "conflicts",
    "facts", "prompts", "generation", "remote", "claims", "support", "citations", "pipeline", "history",
]


def _literals(tree: ast.AST) -> list[str]:
    """String constants of a module, docstrings and the messages of raised errors (operator messages) aside."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and ast.get_docstring(node):
            skip.add(id(node.body[0].value))
        if isinstance(node, ast.Raise):
            skip.update(id(n) for n in ast.walk(node))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


def test_the_answer_engine_holds_no_word_of_a_human_language():
    """Words of a language live in rag/languages/*.toml and rag/data/prompts.toml: none of their negations, month
    names, question words or yes/no answers appears in a string literal of the engine's modules."""
    words = set()
    for lang in languages.all_languages():
        words |= {w for w in (*lang.negations, *lang.months, *lang.question_words, *lang.answers) if len(w) >= 3}
    offenders = []
    for path in (CORE / f"{name}.py" for name in ENGINE):
        for text in _literals(ast.parse(path.read_text(encoding="utf-8"))):
            if not re.search(r"\s", text):
                continue  # an identifier, a key or a style ("reader_comment", "display:none"), not prose
            # Prose words are lower case; SQL's NOT and WHERE and a type's None are not.
            hits = {w for w in re.findall(r"[^\W\d_]+", text) if w.islower() and w in words}
            if hits:
                offenders.append(f"{path.name}: {text!r} ({', '.join(sorted(hits))})")
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Welche Firma bietet Debian-Support per Telefon an?", "de"),  # English to the detector, at 0.28
        ("Quale comando firma un pacchetto .deb?", "it"),  # Spanish to it, at 0.42
        ("Was kostet das?", "de"),
        ("Where is the file?", "en"),
        ("Où est le fichier ?", "fr"),
        ("¿Dónde está el archivo?", "es"),
    ],
)
def test_function_words_tell_the_language_of_a_short_question(text, lang):
    assert function_word_vote(text) == lang


def test_function_words_decide_only_when_they_tell_one_language():
    assert function_word_vote("Combien ça coûte ?") is None  # one function word: too few
    assert function_word_vote("VMS?") is None


def test_an_unsure_detection_yields_to_the_question_s_function_words():
    from rag.pipeline import question_language

    assert question_language("Welche Firma bietet Debian-Support per Telefon an?", []) == "de"
    assert question_language("Quale comando firma un pacchetto .deb?", []) == "it"
    assert question_language("And for VMS?", [{"role": "user", "content": "Welche Architekturen gibt es für OS X?"}]) == "en"
