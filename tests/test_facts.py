"""What a sentence states verbatim: quantities with their scale, months, code, quoted strings and names."""
from __future__ import annotations

import pytest

from rag.facts import (
    code_spans, contains_code, contains_quote, contains_word, dates, facts, languages_named, months, names, ordinals, quantities, quoted,
)


@pytest.mark.parametrize(
    "text, lang, values",
    [
        ("Meta a investi 14,3 milliards de dollars", "fr", [14.3e9]),
        ("Meta put $14.3 billion into Scale AI", "en", [14.3e9]),
        ("Meta hat 14,3 Mrd. Dollar investiert", "de", [14.3e9]),
        ("Meta invirtió 14.300 millones de dólares", "es", [14.3e9]),
        ("una quota del 49 % e 3 miliardi", "it", [49, 3e9]),
        ("1,500 packages and 2 mirrors", "en", [1500, 2]),
        ("1.500 Pakete und drei Regeln", "de", [1500, 3]),
        ("three ways to hold a package", "en", [3]),
        ("two hundred million users", "en", [2e8]),
        ("deux cents millions d'utilisateurs", "fr", [2e8]),
        ("several hundred million euros", "en", [1e8]),
        ("plusieurs centaines de millions d'euros", "fr", [1e8]),
        ("Hunderte von Millionen Euro", "de", [1e8]),
        ("cientos de millones de euros", "es", [1e8]),
        ("centinaia di milioni di euro", "it", [1e8]),
        ("ce lot pèse 5 pour mille", "fr", [5]),
    ],
)
def test_quantities_read_with_the_language_s_separators_and_scale_words(text, lang, values):
    assert [q.value for q in quantities(text, lang)] == values


def test_a_version_is_code_not_a_number():
    found = facts("Kernel 2.6.32 is required", "en")
    assert "2.6.32" in found.code and not found.numbers - {2.6, 32.0}
    assert 2.6 not in found.numbers


def test_units_of_quantities_skip_function_words():
    assert [(q.value, q.unit) for q in quantities("Wang, âgé de 29 ans. Il a investi 14 milliards de dollars.", "fr")] == [
        (29, "ans"),
        (14e9, "dollars"),
    ]


def test_a_unit_is_not_read_past_the_end_of_its_clause():
    assert [(q.value, q.unit) for q in quantities("It fell to about 40 of. Users noticed.", "en")] == [(40, "")]
    assert [(q.value, q.unit) for q in quantities("Il a levé 3 millions. Les salariés sont partis.", "fr")] == [(3e6, "")]


def test_months_in_any_language_are_month_numbers():
    assert months("released in November 2022", "en") == {11}
    assert months("sorti en novembre 2022", "fr") == {11}
    assert months("im November 2022 erschienen", "de") == {11}


def test_a_lower_case_month_word_is_no_month_where_months_take_a_capital():
    """English writes its months with a capital: "may" and "march" are verbs. French writes them in lower case."""
    assert months("A package may have the priority Extra.", "en") == set()
    assert months("Released in May, they march on.", "en") == {5}
    assert months("sorti en mai", "fr") == {5}


@pytest.mark.parametrize(
    ("text", "lang", "named"),
    [
        ("The German translation of this page", "en", {"de"}),
        ("La traduzione italiana di questa pagina", "it", {"it"}),
        ("Yann LeCun est franco-américain", "fr", {"fr"}),
        ("die deutschen und englischen Handbuchseiten", "de", {"de", "en"}),
        ("la página en español", "es", {"es"}),
        ("Marco Curreli made it", "en", set()),
    ],
)
def test_the_languages_a_text_names_are_iso_codes(text, lang, named):
    assert languages_named(text, lang) == named


@pytest.mark.parametrize(
    "written, lang",
    [("released on 26 April 2015", "en"), ("publiée le 26 avril 2015", "fr"), ("am 26. April 2015", "de"), ("el 26 de abril de 2015", "es")],
)
def test_a_date_in_words_states_what_the_same_date_in_iso_digits_states(written, lang):
    iso = facts("Released: 2015-04-26", "en")
    assert (iso.numbers, iso.months) == ({2015.0, 26.0}, {4})
    said = facts(written, lang)
    assert (said.numbers, said.months) == (iso.numbers, iso.months)
    assert facts("2015-13-26 and 2015-04-32", "en").months == set()  # not dates: no month taken from them
    assert said.dates == iso.dates == {(2015, 4, 26)}


@pytest.mark.parametrize(
    "text, lang, expected",
    [
        ("le 31 août 2026, puis le 3 mai", "fr", {(2026, 8, 31), (None, 5, 3)}),
        ("April 26, 2015", "en", {(2015, 4, 26)}),
        ("in August 2026", "en", {(2026, 8, None)}),
        ("Version 12 in August", "en", set()),  # a number and a month, not the 12th of August
        ("released on 17 June 2017 and 2019", "en", {(2017, 6, 17)}),
        ("2024-08-14 | 2026-08-31", "en", {(2024, 8, 14), (2026, 8, 31)}),
    ],
)
def test_a_date_is_its_month_with_the_day_and_year_written_next_to_it(text, lang, expected):
    assert dates(text, lang) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Edit /etc/fstab then run `mount -a`.", {"/etc/fstab", "mount -a"}),
        ("Use journalctl -b to see this boot.", {"-b"}),
        ("The file apt.conf and the option Dir::Cache.", {"apt.conf", "Dir::Cache"}),
        ("See ~/.bashrc and ../lib/x.so", {"~/.bashrc", "../lib/x.so"}),
    ],
)
def test_code_and_paths(text, expected):
    assert expected <= set(code_spans(text))


def test_quoted_strings_in_every_quotation_style():
    assert quoted('described as "completely LLM-pilled" and « une impasse » or „sehr gut“ and “fine”') == [
        "completely llm-pilled",
        "une impasse",
        "sehr gut",
        "fine",
    ]


def test_names_depend_on_the_language_s_capitalisation():
    assert set(names("Le rapport dit que Yann LeCun a rejoint Meta en novembre.", "fr")) == {"Yann", "LeCun", "Meta"}
    # German capitalises every noun: only inner capitals and acronyms mark a name there.
    assert set(names("Der Kernel verwaltet den Rechnernamen, sagt LeCun über GRUB.", "de")) == {"LeCun", "GRUB"}
    # Words English capitalises without being names are listed in its resource file.
    assert names("He moved to a French-American lab in November.", "en") == []


def test_whole_words_only():
    from rag import languages

    en, fr = languages.get("en").name_endings, languages.get("fr").name_endings
    assert contains_word("LeCun", "yann lecun a dit")
    assert not contains_word("Cun", "yann lecun a dit")
    assert contains_word("LLMs", "les llm actuels", en) and contains_word("LLMs", "les llm actuels", fr)
    # The endings are the language's (rag/languages): an English possessive leaves the name it follows...
    assert contains_word("LeCun's", "yann lecun a dit", en) and contains_word("LeCun’s", "yann lecun a dit", en)
    assert not contains_word("LeCun's", "yann lecunx a dit", en) and not contains_word("Cun's", "yann lecun a dit", en)
    assert not contains_word("l'IA", "l'entreprise a dit", fr) and not contains_word("qu'il", "qu'elle", fr)
    # ...and a language without endings (no resource file) strips none: "LLMs" is then a word of its own.
    assert not contains_word("LLMs", "les llm actuels", languages.get("xx").name_endings)


def test_code_must_stand_exactly():
    assert contains_code("/etc/fstab", "Edit the file  /etc/fstab now")
    assert not contains_code("journalctl -b", "run journalctl -k")


@pytest.mark.parametrize(
    "token, text, stands",
    [
        ("-i", "crontab -i asks first", True),
        ("-i", "see --ignore-missing", False),
        ("-i", "crontab -is", False),
        ("/etc/fs", "edit /etc/fstab", False),
        ("/etc/fstab", "Edit /etc/fstab.", True),
        ("/etc/apt", "in /etc/apt/sources.list", True),
        ("apt.conf", "see /etc/apt/apt.conf.d", True),
        ("-b", "journalctl -b1", False),
    ],
)
def test_code_stands_as_a_whole_token(token, text, stands):
    assert contains_code(token, text) is stands


def test_a_quoted_string_stands_as_whole_words():
    assert contains_quote("ro", "contiene el tipo de montaje (ro o rw)")
    assert not contains_quote("ro", "cualquier otro error")
    assert contains_quote("do not edit this file", "affiche l'en-tete « do not edit this file » au debut")
    assert not contains_quote("do not edit", "do not editorialise")


def test_a_one_letter_quote_does_not_shift_the_pairs_of_quotation_marks():
    from rag.facts import quoted

    text = 'Set CRONTAB_NOHEADER to "N" so that crontab -l shows "DO NOT EDIT THIS FILE" again.'
    assert quoted(text) == ["do not edit this file"]


@pytest.mark.parametrize(
    "text, lang, found",
    [
        ("the second field", "en", {2}),
        ("le premier champ et la deuxième colonne", "fr", {1, 2}),
        ("attendre une seconde", "fr", set()),  # a duration
        ("die zweite Spalte", "de", {2}),
        ("erst nach dem Neustart", "de", set()),  # "only after"
        ("el segundo campo, 30 segundos", "es", {2}),
        ("secondo la documentazione, prima del riavvio", "it", set()),  # "according to", "before"
        ("il terzo campo", "it", {3}),
    ],
)
def test_ordinal_words_per_language(text, lang, found):
    assert ordinals(text, lang) == found


def test_a_manual_page_s_section_is_code_not_a_number():
    """"FSTAB(5)" in a man page's footer is the page, not five of anything: "5 file systems" is not stated by it."""
    found = facts("util-linux 2.38.1 11 Mayo 2022 FSTAB(5)", "es")
    assert 5.0 not in found.numbers and "FSTAB(5)" in found.code
    assert code_spans("siehe fstab(5), resolv.conf(5) und crontab(1p).") == ["fstab(5)", "resolv.conf(5)", "crontab(1p)"]
    assert [q.value for q in quantities("items (5) et 3 (10 %)", "fr")] == [5, 3, 10]  # a number in brackets stays one
    assert contains_code("hosts(5)", "Voir hosts(5).") and not contains_code("hosts(5)", "Voir hosts(8).")
