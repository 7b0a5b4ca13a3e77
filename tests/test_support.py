"""The support check on the failures it must catch (and the answers it must not refuse).

Fast tests decide on facts and words alone (no judge: what words cannot settle stays unsupported); the tests
marked slow let the real model judge, from the cache of a real answer's conversation.
"""
from __future__ import annotations

import dataclasses
import hashlib

import pytest

from rag.claims import split_claims
from rag.prompts import build_messages, number_sources
from rag.judges import EmbeddingJudge, ModelJudge
from rag.support import Evidence, SupportChecker, has_negation
from rag.text import clauses
from rag.types import Block, Claim, Document, Passage, Source, Unit


def passages_of(*docs: tuple[str, str]) -> list[Passage]:
    """One passage per (text, lang), every sentence of the text a unit (sentences split on '. ')."""
    out = []
    for n, (text, lang) in enumerate(docs, start=1):
        doc = Document(f"doc{n}", f"doc{n}.txt", f"Document {n}", text, "0" * 64)
        units, pos = [], 0
        for sentence in text.split("\n"):
            units.append(Unit(pos, pos + len(sentence), "paragraph", lang))
            pos += len(sentence) + 1
        out.append(Passage(n, doc, f"doc{n}#0", 0.0, units))
    return out


def sources_of(*docs: tuple[str, str]) -> dict[int, Source]:
    return {s.k: s for s in number_sources(passages_of(*docs))}


def check(answer: str, question: str, lang: str, sources: dict[int, Source], judge=None) -> list[Claim]:
    claims = split_claims(answer, lang)
    SupportChecker(None).check(claims, lang, question, sources, judge)
    return claims


MANUAL = (
    "The kernel maintains the system hostname.\n"
    "The warranty does not include water damage.\n"
    "Run journalctl -b to see the messages of the current boot.\n"
    "Operating temperature: 0 to 40 °C",
    "en",
)


def test_a_role_answers_a_who_question():
    [claim] = check("The kernel maintains the system hostname [1].", "Who maintains the system hostname?", "en", sources_of(MANUAL))
    assert claim.supported and claim.support == [1]


def test_a_question_s_word_in_another_form_is_the_question_s_not_what_the_claim_adds():
    """"connu" of "ont-ils connus": the stemmer leaves the two forms apart, but the claim only repeats the question's
    verb; what it adds is the figure, which the line states with its own verb ("subi"). A figure the line does not
    give is still missing."""
    line = sources_of(("Les serveurs ont subi des dizaines de pannes l'an dernier.", "fr"))
    question = "Combien de pannes les serveurs ont-ils connus l'an dernier ?"
    [stated] = check("Les serveurs ont connu des dizaines de pannes l'an dernier [1].", question, "fr", line)
    assert stated.supported and stated.reason == "words", stated.reason
    [invented] = check("Les serveurs ont connu des centaines de pannes l'an dernier [1].", question, "fr", line)
    assert not invented.supported


def test_a_claim_copying_a_passage_s_header_states_nothing():
    """The model read "(crontab - Tabellen zum Betrieb von Cron · BESCHREIBUNG)" above the lines and wrote it back
    as its answer: every word stands in the header, none is said by a line. A manual's name line, quoted as a line,
    is content and states it."""
    title, heading = "crontab - Tabellen zum Betrieb von Cron", "BESCHREIBUNG"
    line = "Eine crontab-Datei enthält Anweisungen für den Daemon cron."
    text = f"{title}\n{heading}\n{line}"
    doc = Document("man", "crontab.5.de.txt", title, text, "0" * 64)
    under = ((0, len(title)), (len(title) + 1, len(title) + 1 + len(heading)))
    body = Unit(len(title) + len(heading) + 2, len(text), "paragraph", "de", under)
    sources = {s.k: s for s in number_sources([Passage(1, doc, "man#0", 0.0, [body])])}
    question = "Wie lange speichert cron die Ausgabe eines Befehls?"
    [copied] = split_claims(f"[{title} · {heading}] [1]", "de")
    SupportChecker(None).check([copied], "de", question, sources, None)
    assert not copied.supported and copied.reason == "header"
    named = Unit(0, len(title), "paragraph", "de")
    sources = {s.k: s for s in number_sources([Passage(1, doc, "man#0", 0.0, [named, body])])}
    [stated] = split_claims(f"{title} [1].", "de")
    SupportChecker(None).check([stated], "de", "Was ist crontab?", sources, None)
    assert stated.supported and stated.support == [1], stated.reason


def test_a_negative_answer_is_an_answer_not_a_refusal():
    [claim] = check("The warranty does not include water damage [2].", "Does the warranty cover water damage?", "en", sources_of(MANUAL))
    assert claim.supported


def test_a_sentence_the_model_marks_with_the_decline_marker_is_not_supported():
    # Its words stand in line [1], but the model said with [0] that no source states it.
    [claim] = check("The kernel maintains the system hostname [0].", "Who maintains the system hostname?", "en", sources_of(MANUAL))
    assert not claim.supported and claim.reason == "unsourced"
    [claim] = check("The kernel maintains the system hostname [1].", "Who maintains the system hostname?", "en", sources_of(MANUAL))
    assert claim.supported


def test_the_opposite_polarity_is_not_supported_by_words_alone():
    [claim] = check("The warranty includes water damage [2].", "Does the warranty cover water damage?", "en", sources_of(MANUAL))
    assert not claim.supported
    assert has_negation("The warranty does not include it.", "en") and has_negation("Das ist nicht so.", "de")
    assert has_negation("Ce n'est pas couvert.", "fr") and not has_negation("Notes on the kernel.", "en")
    # every apostrophe a text may be typed with reads as one: "doesnʼt" (U+02BC) and "doesn‘t" are "doesn't"
    assert all(has_negation(f"The warranty doesn{mark}t include it.", "en") for mark in "'’‘ʼ＇")


CRON = (
    "Each entry of a crontab must end with a newline.\n"
    "If the last entry does not end with a newline, cron rejects the crontab.\n"
    "Manual pages are not available until you install the man-db package.\n"
    "The warranty does not cover the battery unless the product is registered.",
    "en",
)


def test_a_yes_that_only_repeats_the_question_needs_every_word_in_the_source():
    question = "Does cron install a crontab whose last entry does not end with a newline?"
    [claim] = check("Yes, cron installs a crontab whose last entry does not end with a newline [2].", question, "en", sources_of(CRON))
    assert not claim.supported  # the source holds every other word: a yes rests on its verb
    [claim] = check("No, cron rejects a crontab whose last entry does not end with a newline [2].", question, "en", sources_of(CRON))
    assert claim.supported


def test_a_negation_followed_by_its_condition_states_the_requirement():
    [claim] = check("You must install the man-db package to get the manual pages [3].", "What must I install to get the manual pages?", "en", sources_of(CRON))
    assert claim.supported and claim.support == [3]
    # Without the condition's words, the negation stands: the claim is the opposite of the source.
    [claim] = check("The warranty covers the battery [4].", "Does the warranty cover the battery?", "en", sources_of(CRON))
    assert not claim.supported
    [claim] = check("The warranty covers the battery once the product is registered [4].", "Does the warranty cover the battery?", "en", sources_of(CRON))
    assert claim.supported


def test_code_must_be_the_source_s_exactly():
    [claim] = check("Run journalctl -k to see the boot messages [3].", "How do I see the boot messages?", "en", sources_of(MANUAL))
    assert not claim.supported and claim.reason == "code:-k"


def test_an_option_is_not_the_start_of_a_longer_one():
    manual = ("Use --ignore-missing to skip packages that cannot be fetched.", "en")
    [claim] = check("Use -i to skip packages that cannot be fetched [1].", "How do I skip packages that cannot be fetched?", "en", sources_of(manual))
    assert not claim.supported and claim.reason == "code:-i"


OPTIONS = (
    "The -l option displays the current crontab on standard output.\n"
    "The -i option modifies the -r option to prompt the user for a confirmation before removing the crontab.\n"
    "crontab [ -u user ] [ -i ] { -e | -l | -r }",
    "en",
)


def test_code_the_claim_copies_from_the_question_names_what_its_line_must_speak_of():
    """"-i" is anywhere in what the model read, but the cited line speaks of -l: it does not say what -i does."""
    question = "What does the -i option of crontab do?"
    [claim] = check("The -i option displays the current crontab on standard output [1].", question, "en", sources_of(OPTIONS))
    assert not claim.supported and claim.reason == "code:-i"
    [claim] = check("The -i option prompts the user for a confirmation before removing the crontab [2].", question, "en", sources_of(OPTIONS))
    assert claim.supported and claim.support == [2]


def test_an_option_from_the_question_may_stand_in_the_line_before_the_cited_one():
    manual = ("-l:\nDisplays the current crontab on standard output.", "en")
    [claim] = check("-l displays the current crontab [2].", "What does -l do?", "en", sources_of(manual))
    assert claim.supported and claim.support == [2]


def test_a_table_line_answers_with_its_numbers():
    [claim] = check("The operating temperature is 0 to 40 °C [4].", "What is the operating temperature?", "en", sources_of(MANUAL))
    assert claim.supported
    [claim] = check("The operating temperature is 0 to 45 °C [4].", "What is the operating temperature?", "en", sources_of(MANUAL))
    assert not claim.supported and claim.reason == "number:45"


def table_sources(head: str, *rows: str, lang: str = "en", title: str = "Table") -> dict[int, Source]:
    """The rows of a table, numbered, each under the table's head line; with no head, rows alone (a CSV file's
    record lines, "version: 7 | codename: Wheezy")."""
    text = "\n".join([head, *rows]) if head else "\n".join(rows)
    context = ((0, len(head)),) if head else ()
    blocks, units, pos = [Block(0, len(head), "table_head")] if head else [], [], len(head) + 1 if head else 0
    for row in rows:
        blocks.append(Block(pos, pos + len(row), "row"))
        units.append(Unit(pos, pos + len(row), "row", lang, context))
        pos += len(row) + 1
    doc = Document("t", "t.md", title, text, hashlib.sha256(text.encode()).hexdigest(), blocks=blocks)
    return {s.k: s for s in number_sources([Passage(1, doc, "t#0", 0.0, units)])}


def test_a_date_written_in_words_is_supported_by_the_same_date_in_iso_digits_and_no_other():
    releases = table_sources("Version | Code name | Release date", "8 | jessie | 2015-04-26", "9 | stretch | 2017-06-17")
    question = "When was jessie released?"
    [claim] = check("Jessie was released on 26 April 2015 [1].", question, "en", releases)
    assert claim.supported, claim.reason
    [claim] = check("Jessie was released on 26 May 2015 [1].", question, "en", releases)
    assert not claim.supported and claim.reason == "month"
    [claim] = check("Jessie was released on 17 June 2017 [1].", question, "en", releases)
    assert not claim.supported  # the date of another row
    fechas = table_sources("Versión | Nombre | Fecha de publicación", "8 | jessie | 2015-04-26", lang="es")
    [claim] = check("Jessie se publicó el 26 de abril de 2015 [1].", "¿Cuándo se publicó jessie?", "es", fechas)
    assert claim.supported, claim.reason
    [claim] = check("Jessie was released on 2015-04-26 [1].", question, "en", sources_of(("Debian 8 (jessie) was released on 26 April 2015.", "en")))
    assert claim.supported, claim.reason


@pytest.mark.parametrize("layout", ["web page", "csv"])
def test_a_number_from_a_row_stands_in_the_column_the_claim_names(layout):
    """Debian 15 has a created date and no release date yet: "released in 2027" takes the created date's year (the
    model wrote it from a CSV file and from a web page's table; both were shown as supported)."""
    if layout == "csv":
        rows = table_sources(
            "",
            "version: 12 | codename: Bookworm | created: 2021-08-14 | release: 2023-06-10",
            "version: 15 | codename: Duke | created: 2027-08-01",
            title="Debian releases",
        )
    else:
        head = "version | codename | created | release"
        rows = table_sources(head, "12 | Bookworm | 2021-08-14 | 2023-06-10", "15 | Duke | 2027-08-01 |", title="Debian releases")
    [claim] = check("Debian 15 will be released in 2027 [2].", "When will Debian 15 be released?", "en", rows)
    assert not claim.supported and claim.reason == "column:release"
    [claim] = check("Debian 15 was created on 1 August 2027 [2].", "When was Debian 15 created?", "en", rows)
    assert claim.supported, claim.reason
    # The version is the row's key, not a date: a claim naming the release may give it.
    [claim] = check("Debian 12 was released on 10 June 2023 [1].", "When was Bookworm released?", "en", rows)
    assert claim.supported, claim.reason
    [claim] = check("Bookworm has the version number 12 [1].", "Which version is Bookworm?", "en", rows)
    assert claim.supported, claim.reason
    [claim] = check("Debian 12 was released on 14 August 2021 [1].", "When was Bookworm released?", "en", rows)
    assert not claim.supported and claim.reason == "column:release"


DEBIAN_CSV = (
    "version: 9 | codename: Stretch | created: 2015-04-26 | release: 2017-06-17 | eol: 2020-07-18 | eol-lts: 2022-06-30",
    "version: 15 | codename: Duke | created: 2027-08-01",
)


@pytest.mark.parametrize(
    "claim, question, lang, column",
    [
        # Written from the created column, each shown as supported by the e5 judge before (2026-12-06).
        ("Debian 15 sortira en 2027 [2].", "Quand Debian 15 sortira-t-elle ?", "fr", "release"),
        ("Debian 15 erscheint am 1. August 2027 [2].", "Wann erscheint Debian 15?", "de", "release"),
        ("Debian 9 Stretch est sortie le 26 avril 2015 [1].", "Quand Debian 9 Stretch est-elle sortie ?", "fr", "release"),
        pytest.param(
            "Debian 15 will come out in 2027 [2].", "When will Debian 15 come out?", "en", "release",
            marks=pytest.mark.xfail(reason="known limit: e5 puts release 0.009 above created, under the 0.01 margin", strict=True),
        ),
        # Stated by the column they speak of.
        ("Debian 9 fue creada el 26 de abril de 2015 [1].", "¿Cuándo se creó Debian 9?", "es", ""),
        ("Debian 9 wurde am 17. Juni 2017 veröffentlicht [1].", "Wann wurde Debian 9 veröffentlicht?", "de", ""),
        ("Il supporto LTS di Debian 9 è terminato il 30 giugno 2022 [1].", "Quando è terminato il supporto LTS di Debian 9?", "it", ""),
    ],
)
def test_a_claim_naming_no_column_rests_on_the_column_closest_to_its_words(embedder, claim, question, lang, column):
    rows = table_sources("", *DEBIAN_CSV, title="Debian releases")
    [said] = split_claims(claim, lang)
    evidence = Evidence([rows[said.cited[0]]])
    assert SupportChecker(embedder).facts_hold(said, lang, evidence, question) == (f"column:{column}" if column else "")


def test_a_line_announcing_a_command_does_not_state_an_answer_without_it():
    """The model wrote the lead-in and not the command ("... es [2]."); the e5 judge passed it across languages."""
    sources = sources_of(("To list every package for which a newer version is available, run:\napt list --upgradable", "en"))
    question = "Which command lists the packages for which a newer version is available?"
    [claim] = check("To list every package for which a newer version is available, run the following command [1].", question, "en", sources)
    assert not claim.supported
    [claim] = check("Run apt list --upgradable to list every package for which a newer version is available [1][2].", question, "en", sources)
    assert claim.supported, claim.reason


def test_across_languages_a_lead_in_beside_its_command_states_nothing_without_the_command():
    """dd59 of the Debian dev set, 2026-12-06: "El comando ... es [2]." cited the French lead-in and the e5 judge
    passed it with the command's line beside it ("listar" meets the command's "list"). Here a judge says yes to any
    evidence holding the lead-in: only the rule keeps the claim unsupported."""
    [passage] = passages_of(("Pour lister tous les paquets pour lesquels une nouvelle version est disponible, lancez :\napt list --upgradable", "fr"))
    lead, command = passage.units
    passage = dataclasses.replace(passage, units=[lead, dataclasses.replace(command, kind="code")])
    french = {s.k: s for s in number_sources([passage])}
    question = "¿Qué comando muestra todos los paquetes para los que hay una versión más nueva disponible?"
    lead_in_judge = lambda items: [any(s.k == 1 for s in evidence) for _, evidence in items]  # noqa: E731
    [claim] = check("El comando para listar todos los paquetes para los que hay una versión más nueva disponible es [1].", question, "es", french, lead_in_judge)
    assert not claim.supported, claim.support
    [claim] = check("El comando es apt list --upgradable [1].", question, "es", french, lead_in_judge)
    assert claim.supported and 1 in claim.support, claim.reason


@pytest.mark.parametrize(
    "claim, lang, ordinal",
    [
        ("El segundo campo (fs_spec) describe el dispositivo de bloque [1].", "es", True),
        ("El primer campo (fs_spec) describe el dispositivo de bloque [1].", "es", False),
    ],
)
def test_an_ordinal_the_source_gives_otherwise_is_not_stated(claim, lang, ordinal):
    """The model answered an unanswerable question with "the second field (fs_spec)": the man page's heading above
    the line says the first; one word of a long sentence, it passed as a synonym."""
    sources = {s.k: s for s in number_sources(passages_of(("Este campo describe el dispositivo especial de bloque.", "es")))}
    source = sources[1]
    doc = dataclasses.replace(source.passage.doc, text="Primer campo (fs_spec).\n" + source.passage.doc.text)
    shift = len("Primer campo (fs_spec).\n")
    unit = Unit(source.unit.start + shift, source.unit.end + shift, "paragraph", "es", ((0, shift - 1),))
    sources = {s.k: s for s in number_sources([Passage(1, doc, "d#0", 0.0, [unit])])}
    [said] = check(claim, "¿Qué describe el campo fs_spec?", lang, sources)
    assert (said.reason == "ordinal") is ordinal and said.supported is not ordinal, said.reason
    plain = sources_of(("Install the package with apt.", "en"))
    assert SupportChecker(None).facts_hold(split_claims("First, install the package [1].", "en")[0], "en", Evidence([plain[1]])) == ""


def test_a_date_is_stated_whole_not_pieced_together_from_two_dates_of_a_line():
    """The row holds 2024-08-14 (end of support) and 2026-08-31 (end of LTS): "31 August 2024" takes its day and year
    from two dates; the model wrote it for a web page's table, and day, month and year are each in the row."""
    head = "version | codename | created | release | eol | eol-lts"
    row = table_sources(head, "11 | Bullseye | 2019-07-06 | 2021-08-14 | 2024-08-14 | 2026-08-31", title="Debian releases")
    question = "When does the LTS support of Debian 11 Bullseye end?"
    [claim] = check("The LTS support of Debian 11 Bullseye ends on 31 August 2024 [1].", question, "en", row)
    assert not claim.supported and claim.reason == "date"
    [claim] = check("The LTS support of Debian 11 Bullseye ends on 31 August 2026 [1].", question, "en", row)
    assert claim.supported, claim.reason
    prose = sources_of(("Support ended on 14 August 2024; LTS support ends on 31 May 2026.", "en"))
    [claim] = check("LTS support ends on 31 August 2024 [1].", "When does LTS support end?", "en", prose)
    assert not claim.supported and claim.reason == "date"


NEWS = (
    "Meta put 14 billion dollars into Scale AI to buy 49 % of it.\n"
    "LeCun then launched a startup called AMI Labs.\n"
    "LeCun had to report to Alexandr Wang, who is 28.",
    "en",
)


def test_a_figure_moved_to_another_noun_is_invented():
    [claim] = check("Meta put 14 billion dollars into AMI Labs [1].", "How much did Meta invest?", "en", sources_of(NEWS))
    assert not claim.supported


def test_a_relation_the_source_does_not_state_is_invented():
    [claim] = check("Alexandr Wang replaced Yann LeCun [3].", "Who replaced LeCun?", "en", sources_of(NEWS))
    assert not claim.supported
    [claim] = check("LeCun had to report to Alexandr Wang [3].", "Who did LeCun report to?", "en", sources_of(NEWS))
    assert claim.supported


def test_a_relation_may_find_the_question_s_name_in_the_line_before_not_further():
    """"The failure" of the line is Orion's when the line just before names Orion; two lines up, it may be Nova's."""
    question = "What does Dana Smith blame the failure of Orion on?"
    answer = "Dana Smith blames the failure of Orion on Acme [2]."
    [claim] = check(answer, question, "en", sources_of(("Orion shipped in April.\nDana Smith blames the failure on Acme.", "en")))
    assert claim.supported and claim.support == [2]
    farther = ("Orion shipped in April.\nNova shipped in May.\nDana Smith blames the failure on Acme.", "en")
    [claim] = check(answer.replace("[2]", "[3]"), question, "en", sources_of(farther))
    assert not claim.supported


MOUNT = (
    "The basic options are the following.\n"
    "The `defaults` option uses the default options rw, suid, dev, exec and async.\n"
    "The `errors=remount-ro` option remounts the filesystem read-only when errors occur.",
    "en",
)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_bare_answer_needs_its_own_line_to_say_what_the_question_asks(lang):
    """"`defaults` remounts read-only on errors" fills the question's blank with a name from a line that says nothing
    of errors: the other line the model read does, but of another option."""
    manual, question, wrong, right = MOUNT, "Which option remounts the filesystem read-only when errors occur?", "[2]", "[3]"
    if lang == "de":
        manual = (
            "Grundlegende Optionen sind die folgenden.\n"
            "Die Option `defaults` verwendet die voreingestellten Optionen rw, suid, dev, exec und async.\n"
            "Die Option `errors=remount-ro` hängt das Dateisystem bei Fehlern schreibgeschützt wieder ein.",
            "de",
        )
        question = "Welche Option hängt das Dateisystem bei Fehlern schreibgeschützt wieder ein?"
    claim_text = {"en": "The `{}` option remounts the filesystem read-only when errors occur {}.",
                  "de": "Die Option `{}` hängt das Dateisystem bei Fehlern schreibgeschützt wieder ein {}."}[lang]
    [claim] = check(claim_text.format("defaults", wrong), question, lang, sources_of(manual))
    assert not claim.supported
    [claim] = check(claim_text.format("errors=remount-ro", right), question, lang, sources_of(manual))
    assert claim.supported and claim.support == [3]
    # An answer that says more than a name is held to its words, as before: the question's may be read elsewhere.
    [claim] = check("The `defaults` option uses the default options rw, suid, dev, exec and async [2].",
                    "What does the defaults option do?", "en", sources_of(MOUNT))
    assert claim.supported


def test_a_reaction_written_in_the_source_s_vocabulary_is_invented():
    [claim] = check("Meta was furious that LeCun launched a startup [2].", "How did Meta react to AMI Labs?", "en", sources_of(NEWS))
    assert not claim.supported


def test_a_scale_is_part_of_the_number():
    [claim] = check("Meta put 14 million dollars into Scale AI [1].", "How much did Meta invest?", "en", sources_of(NEWS))
    assert not claim.supported and claim.reason.startswith("number:")


def test_a_wrong_citation_number_is_repointed_to_the_line_that_states_it():
    [claim] = check("Alexandr Wang is 28 [1].", "How old is Wang?", "en", sources_of(NEWS))
    assert claim.supported and claim.support == [3]


def test_german_nouns_are_not_names():
    sources = sources_of(("Der Kernel verwaltet den Rechnernamen des Systems.", "de"))
    claim = Claim("Der Kernel verwaltet den Hostnamen des Rechners.")
    checker = SupportChecker(None)
    assert checker.facts_hold(claim, "de", Evidence([sources[1]]), "Wer verwaltet den Rechnernamen?") == ""


def test_a_name_the_passage_never_mentions_is_invented():
    sources = sources_of(("Le noyau gère le nom de la machine.", "fr"))
    claim = Claim("Linus Torvalds gère le nom de la machine.")
    assert SupportChecker(None).facts_hold(claim, "fr", Evidence([sources[1]]), "Qui gère le nom de la machine ?") == "name:Torvalds"


def test_a_fact_copied_from_the_question_need_only_be_in_the_passage():
    sources = sources_of(("Selon un lecteur, les LLM restent utiles pour traduire.\nLe site developpez.com publie des articles.", "fr"))
    claim = Claim("Selon developpez.com, les LLM restent utiles pour traduire.")
    assert SupportChecker(None).facts_hold(claim, "fr", Evidence([sources[1]]), "Selon developpez.com, à quoi servent les LLM ?") == ""


def test_across_languages_words_cannot_settle_so_without_a_judge_nothing_is_supported():
    sources = sources_of(("Zuckerberg a injecté 14 milliards de dollars dans Scale AI.", "fr"))
    [claim] = check("Meta put 14 billion dollars into Scale AI [1].", "How much did Meta invest in Scale AI?", "en", sources)
    assert not claim.supported and claim.reason == "words"


class _Always:
    def __init__(self, verdict: bool) -> None:
        self.verdict = verdict
        self.asked: list = []

    def __call__(self, items):
        self.asked.extend(items)
        return [self.verdict] * len(items)


def test_a_judge_settles_what_words_cannot_and_only_that():
    judge = _Always(True)
    sources = sources_of(("Zuckerberg a injecté 14 milliards de dollars dans Scale AI.", "fr"), MANUAL)
    claims = check(
        "Meta put 14 billion dollars into Scale AI [1]. The kernel maintains the system hostname [2].",
        "How much did Meta invest in Scale AI?",
        "en",
        sources,
        judge,
    )
    assert [c.supported for c in claims] == [True, True]
    assert [c.reason for c in claims] == ["judge:yes", "words"]
    assert len(judge.asked) == 1, "a claim whose words are all in its source costs no judge"


APT_FR = (
    "APT (Advanced Package Tool) est une interface avancée pour le système de gestion des paquets Debian et il "
    "fournit le programme apt-get.",
    "fr",
)
APT_EN = ("apt-get will call dpkg directly after downloading the .deb archives from the configured sources.", "en")
GZIP = "Apt utilise l'algorithme gzip pour compresser les fichiers Packages [1]."
GZIP_QUESTION = "Quel algorithme de compression apt utilise-t-il pour les fichiers Packages ?"


def test_a_claim_citing_lines_of_its_own_language_is_not_judged_against_a_line_of_another_it_does_not_cite():
    """dp50 of the Debian probes, 2026-12-06 (nothing in the corpus names the compression): the French claim cites a
    French line that lacks "gzip", and the e5 judge passed it against an English line of the prompt it never cited."""
    judge = _Always(True)
    [claim] = check(GZIP, GZIP_QUESTION, "fr", sources_of(APT_FR, APT_EN), judge)
    assert not claim.supported and not judge.asked, claim.support
    # Citing the line of the other language, it is that line's judge that decides.
    [claim] = check(GZIP.replace("[1]", "[2]"), GZIP_QUESTION, "fr", sources_of(APT_FR, APT_EN), judge)
    assert claim.supported and claim.support == [2] and claim.reason == "judge:yes"


def test_the_real_check_withholds_a_claim_its_own_language_line_lacks(embedder):
    """The same with e5 as judge, as `rag ask` runs it: before, it was supported by the uncited English line."""
    checker = SupportChecker(embedder)
    claims = split_claims(GZIP, "fr")
    checker.check(claims, "fr", GZIP_QUESTION, sources_of(APT_FR, APT_EN), EmbeddingJudge(checker.similarity, 0.5))
    assert not claims[0].supported, claims[0].reason


def test_across_languages_a_relation_to_the_question_s_name_needs_that_name_where_the_line_is_read():
    """"AMI Labs is funded by Zuckerberg" on a line about Zuckerberg and Scale AI: each name is somewhere in what the model
    read, but the line relates Zuckerberg to something else. A pronoun standing for the name in the line just
    after it still states the relation."""
    question = "Which investors fund Advanced Machine Intelligence Labs?"
    news = (
        "LeCun a lancé une startup appelée Advanced Machine Intelligence Labs.\n"
        "Elle est financée par Nvidia et Temasek.\n"
        "Zuckerberg a injecté 14 milliards de dollars dans Scale AI.",
        "fr",
    )
    invented, stated = check(
        "Advanced Machine Intelligence Labs is funded by Zuckerberg [3]. Advanced Machine Intelligence Labs is funded by Nvidia "
        "and Temasek [2].",
        question,
        "en",
        sources_of(news),
        _Always(True),
    )
    assert not invented.supported and invented.reason.startswith("relation:")
    assert stated.supported and stated.support == [2]


def test_across_languages_the_question_s_name_may_be_translated_but_for_its_proper_part():
    """"the Nobel Prize" is « le prix Nobel »: the question's name is read, though "Prize" is not in the line; a
    name that only shares a word with it ("Superintelligence Labs" for "Advanced Machine Intelligence Labs") is
    another name, and a relation to it stays unstated."""
    line = ("Albert Einstein a reçu le prix Nobel de physique en 1921 pour sa découverte de l'effet photoélectrique.", "fr")
    [claim] = check("The Nobel Prize was received by Albert Einstein in 1921 [1].", "Who received the Nobel Prize in 1921?", "en", sources_of(line), _Always(True))
    assert claim.supported, claim.reason
    other = ("Zuckerberg a injecté 14 milliards de dollars dans Scale AI et Wang dirige le nouveau Superintelligence Labs.", "fr")
    [claim] = check(
        "Advanced Machine Intelligence Labs is funded by Zuckerberg [1].",
        "Which investors fund Advanced Machine Intelligence Labs?",
        "en",
        sources_of(other),
        _Always(True),
    )
    assert not claim.supported


def test_a_claim_naming_a_tool_asserts_what_the_question_asks_of_it():
    """"dpkg-deb" names a value as `dpkg-deb` would: the line naming it must say what the question asks (encrypts)."""
    line = ("To extract the control files of a package, run dpkg-deb --control foo.deb tmp.", "en")
    [claim] = check("The tool that encrypts .deb packages is dpkg-deb [1].", "Which tool encrypts .deb packages?", "en", sources_of(line))
    assert not claim.supported


def test_a_word_the_corpus_seldom_uses_weighs_more_in_the_subject_of_a_named_value():
    """Less than a third of what the question asks of a value may be missing from its line, each word weighed by
    how seldom the corpus uses it: "encrypts" is not made up for by "Debian", "binary" and "packages"."""
    question = "Which Debian tool encrypts binary packages?"
    answer = "The Debian tool that encrypts binary packages is `dpkg-deb` [1]."
    sources = sources_of(("Debian builds binary packages with `dpkg-deb --build`.", "en"))
    [alike] = split_claims(answer, "en")
    SupportChecker(None).check([alike], "en", question, sources, None)
    assert alike.supported, "one word in four, every word alike"
    weights = {"encrypt": 6.8, "debian": 0.2, "binari": 1.5, "packag": 1.0}
    [weighed] = split_claims(answer, "en")
    SupportChecker(None, term_weight=lambda t: weights.get(t, 1.0)).check([weighed], "en", question, sources, None)
    assert not weighed.supported


def test_a_judge_never_rescues_a_claim_whose_facts_are_missing():
    judge = _Always(True)
    [claim] = check("Meta put 15 billion dollars into Scale AI [1].", "How much?", "en", sources_of(("Zuckerberg a injecté 14 milliards de dollars dans Scale AI.", "fr")), judge)
    assert not claim.supported and not judge.asked


def test_a_judge_never_rescues_a_claim_whose_words_the_source_mostly_lacks():
    judge = _Always(True)
    [claim] = check("dpkg-reconfigure asks again every debconf question of an installed package [1].", "What does dpkg-reconfigure do?", "en", sources_of(("Configure a package which already has been unpacked: dpkg --configure foo.", "en")), judge)
    assert not claim.supported and not judge.asked


def test_the_embedding_judge_finds_the_clause_of_a_long_line_that_states_a_claim(embedder):
    line = (
        "La décision a suscité des questions dès le départ, notamment si Wang, âgé de 29 ans, avait l’expérience et le "
        "bagage pour construire des modèles d’IA massifs, ce que son entreprise ne faisait pas, selon plusieurs anciens "
        "chercheurs du laboratoire interrogés par le journal."
    )
    sources = sources_of((line, "fr"))
    checker = SupportChecker(embedder)
    judge = EmbeddingJudge(checker.similarity, 0.5)
    stated, invented = Claim("Wang is 29 years old.", [1]), Claim("Wang is a chief financial officer.", [1])
    assert checker.similarity([stated.text], [line])[0, 0] < 0.5, "the whole line drowns the clause"
    assert judge([(stated, [sources[1]]), (invented, [sources[1]])]) == [True, False]
    # a clause too short to state anything ("notamment si Wang") is not compared on its own
    assert "notamment si Wang" not in clauses(line)


PARAPHRASES = [
    # (language, source line, question, claim, a paraphrase of the line)
    ("de", "Die Datei fstab enthält beschreibende Informationen über die verschiedenen Dateisysteme, die das System einhängen kann.",
     "Was ist die Datei fstab?", "Die Datei fstab ist eine Liste der Dateisysteme, die das Betriebssystem einhängen kann [1].", True),
    ("de", "Die Datei fstab enthält beschreibende Informationen über die verschiedenen Dateisysteme, die das System einhängen kann.",
     "Was ist die Datei fstab?", "Die Datei fstab ist eine Liste der Benutzer, die das Betriebssystem anmelden kann [1].", False),
    ("en", "The fstab file contains descriptive information about the various file systems the system can mount.",
     "What is the fstab file?", "The fstab file lists the file systems that the kernel must encrypt [1].", False),
]


@pytest.mark.parametrize(("lang", "line", "question", "claim", "paraphrase"), PARAPHRASES)
def test_a_paraphrase_in_the_sources_language_rests_on_its_line(embedder, lang, line, question, claim, paraphrase):
    """Most of its words in the line, the rest with counterparts there, and e5 finds the two alike: a paraphrase;
    "the users it can log in" for "the file systems it can mount" is none."""
    [said] = split_claims(claim, lang)
    SupportChecker(embedder).check([said], lang, question, sources_of((line, lang)), None)
    assert said.supported == paraphrase, said.reason
    assert not paraphrase or said.reason == "paraphrase"
    [said] = split_claims(claim, lang)
    SupportChecker(embedder, near_similarity=1.0).check([said], lang, question, sources_of((line, lang)), None)
    assert not said.supported  # the setting turns paraphrases off


ACROSS = [
    # (question, its language, claim, source line, the line's language, stated)
    ("Was macht die Option -l von crontab?", "de", "Die Option -l zeigt die aktuelle Crontab auf der Standardausgabe an.",
     "L'option -l permet d'afficher la crontab en cours sur la sortie standard.", "fr", True),
    ("Was macht die Option -l von crontab?", "de", "Die Option -l löscht die aktuelle Crontab ohne Rückfrage.",
     "L'option -l permet d'afficher la crontab en cours sur la sortie standard.", "fr", False),
    ("Was bewirkt die Option -i von crontab?", "de",
     "Die Option -i von crontab bewirkt, dass die crontab nicht geändert wird, sondern nur gelesen wird.",
     "crontab [ -u utilisateur ] [ -i ] { -e | -l | -r }", "fr", False),
    ("When did the fstab file format first appear?", "en", "The fstab file format first appeared in 4.0 BSD.",
     "El formato del archivo fstab surgió en la version 4.0 de BSD.", "es", True),
    ("Do changes to the hosts file take effect at once?", "en", "Changes to the hosts file usually take effect immediately.",
     "I cambiamenti al file hosts solitamente hanno effetto immediato, tranne nei casi in cui il file viene messo in "
     "cache dalle applicazioni.", "it", True),
    # It adds no word but common ones ("usually", "immediately"): each of its words needs a counterpart, and "this
    # file" names no hosts file (a heading would).
    ("Do changes to the hosts file take effect at once?", "en", "Changes to the hosts file usually take effect immediately.",
     "I cambiamenti a questo file solitamente hanno effetto immediato, tranne nei casi in cui il file viene messo in "
     "cache dalle applicazioni.", "it", False),
    # Adding nothing to the question (the previous one included), it asserts the question itself: every word of it needs
    # a counterpart, not only the words it adds (none).
    ("Was bewirkt die Option noauto in der fstab? Und welche Option verschlüsselt es?", "de",
     "Die Option noauto in der fstab verschlüsselt es.", "L'option -r supprime la crontab en cours.", "fr", False),
    ("Que fait l'option -r de crontab ?", "fr", "L'option -r supprime la crontab en cours.",
     "Die Option -r entfernt die aktuelle Crontab.", "de", True),
    # A claim adding only a number asserts the question of it: "waits before retrying a failed job" needs its
    # counterparts where the number is read, not only the number.
    ("How many seconds does cron wait before retrying a failed job?", "en", "Cron waits 60 seconds before retrying a failed job.",
     "Toutes les 60 secondes, cron examine les crontabs modifiées.", "fr", False),
    ("¿Cada cuántos segundos relee cron las crontabs?", "es", "Cron relee las crontabs cada 60 segundos.",
     "Cron relit les crontabs toutes les 60 secondes.", "fr", True),
    # A counterpart is mutual: e5 finds « danneggiati » 0.8 alike to some word of a line about mounting, but that
    # word is nearer to another word of the claim; a common word of the line ("contained") may be one.
    ("Quale strumento ripara i file system danneggiati?", "it", "Lo strumento che ripara i file system danneggiati è `mount`.",
     "mount attaches the filesystem found on a device to the big file tree.", "en", False),
    ("Con quale comando elenco i file contenuti in un archivio tar?", "it",
     "Con il comando `tar -tf archive.tar` elenco i file contenuti in un archivio.",
     "List the files contained in an archive: tar -tf archive.tar", "en", True),
    ("Welches Programm verwaltet die Pakete?", "de", "Das Programm, das die Pakete verwaltet, ist `dpkg`.",
     "dpkg is the program that manages the packages of the system.", "en", True),
]


@pytest.mark.parametrize("question, lang, answer, line, line_lang, stated", ACROSS)
def test_across_languages_the_words_a_claim_adds_need_counterparts_in_its_line(embedder, question, lang, answer, line, line_lang, stated):
    """A judge that says yes to everything (the e5 judge said yes to 49 of 52 recorded pairs) cannot pass a claim
    whose added words have no counterpart in the line: a synopsis line does not say what -i does."""
    sources = sources_of((line, line_lang))
    [claim] = split_claims(answer.rstrip(".") + " [1].", lang)
    SupportChecker(embedder).check([claim], lang, question, sources, lambda items: [True] * len(items))
    assert claim.supported is stated
    if not stated:
        assert claim.reason == "words"


def test_across_languages_a_claim_and_the_lines_it_may_rest_on_are_encoded_in_one_pass(embedder):
    """Every line of another language a claim is tried on needs its word vectors: one batch, not one pass per line."""
    passes: list[int] = []

    class Counting:
        def token_vectors(self, texts):
            passes.append(len(texts))
            return embedder.token_vectors(texts)

    sources = sources_of(
        (
            "L'option -l affiche la crontab courante.\n"
            "L'option -r supprime la crontab courante.\n"
            "L'option -e modifie la crontab courante.",
            "fr",
        )
    )
    [claim] = split_claims("The -r option removes the current crontab [2].", "en")
    SupportChecker(Counting()).check([claim], "en", "What does crontab -r do?", sources, lambda items: [True] * len(items))
    assert claim.supported and claim.support == [2]
    assert len(passes) == 1 and passes[0] >= 2, "the claim and the lines holding its option ([2], and [3] after it), together"


def test_token_vectors_map_back_to_the_text(embedder):
    text = "L'option -l permet d'afficher la crontab."
    [(offsets, vectors)] = embedder.token_vectors([text])
    assert len(offsets) == len(vectors) > 5
    pieces = [text[a:b] for a, b in offsets if b > a]
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert abs(float((vectors[1] ** 2).sum()) - 1) < 1e-4


# ---------------------------------------------------------------- the real model as judge


@pytest.fixture(scope="module")
def judged(generator):
    """Check claims with the loaded model judging, as the pipeline does after a real answer."""

    def run(answer: str, question: str, lang: str, docs: list[tuple[str, str]]) -> list[Claim]:
        passages = passages_of(*docs)
        sources = number_sources(passages)
        messages = build_messages(question, passages, sources, lang)
        claims = split_claims(answer, lang)
        SupportChecker(None).check(claims, lang, question, {s.k: s for s in sources}, ModelJudge(generator, messages, answer))
        return claims

    return run


FR_NEWS = [
    (
        "Zuckerberg a injecté 14 milliards de dollars dans Scale AI pour acquérir une participation de 49 %.\n"
        "LeCun a été contraint de commencer à rendre des comptes à Wang.\n"
        "LeCun a lancé une nouvelle startup appelée Advanced Machine Intelligence Labs.",
        "fr",
    )
]


@pytest.mark.slow
def test_the_model_judge_accepts_a_faithful_translation(judged):
    [claim] = judged("Meta put 14 billion dollars into Scale AI [1].", "How much did Meta invest in Scale AI?", "en", FR_NEWS)
    assert claim.supported, claim.reason


@pytest.mark.slow
def test_the_model_judge_rejects_a_relation_the_source_does_not_state(judged):
    [claim] = judged("Alexandr Wang replaced Yann LeCun [2].", "Who replaced LeCun?", "en", FR_NEWS)
    assert not claim.supported, claim.reason


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known limit (MEASUREMENTS.md): across languages the 1.5B judge says yes to a figure moved "
                   "to another noun named in the same passage; when it starts to say no, this test says so")
def test_the_model_judge_rejects_a_figure_moved_to_another_noun(judged):
    [claim] = judged("Meta put 14 billion dollars into Advanced Machine Intelligence Labs [1].", "How much did Meta invest?", "en", FR_NEWS)
    assert not claim.supported, claim.reason


def test_a_list_introduction_and_its_code_line_state_a_claim_together():
    sources = sources_of(("There are two ways of holding back packages, with apt or aptitude.\napt-mark hold package_name", "en"))
    sources[2].unit = dataclasses.replace(sources[2].unit, kind="code")
    [claim] = check("You can hold a package with apt or aptitude, using `apt-mark hold package_name`.", "How do I hold a package?", "en", sources)
    assert claim.supported and claim.support == [1, 2]
    # Two sentences of prose are never joined: each may speak of something else.
    sources[2].unit = dataclasses.replace(sources[2].unit, kind="paragraph")
    [claim] = check("You can hold a package with apt or aptitude, using `apt-mark hold package_name`.", "How do I hold a package?", "en", sources)
    assert not claim.supported


def test_a_negation_counts_only_in_the_clause_that_states_the_claim():
    sources = sources_of(("Wang is the founder of Scale AI, which labels data but does not build models.", "en"))
    [claim] = check("Wang founded Scale AI [1].", "Which company did Wang found?", "en", sources)
    assert claim.supported, claim.reason  # "founded" / "founder": one stem begins the other
    [claim] = check("Scale AI builds models [1].", "What does Scale AI do?", "en", sources)
    assert not claim.supported  # the clause holding "build models" says it does not


def test_a_negation_beside_the_answer_does_not_deny_it():
    """The clause that holds what the claim adds decides its polarity, not another clause of the line."""
    line = "The old registry is no longer kept, though copies can still be found: three of them, from 1992, 1994 and 1995."
    question = "From which years are the copies of the old registry?"
    [claim] = check("The copies of the old registry are from 1992, 1994 and 1995 [1].", question, "en", sources_of((line, "en")))
    assert claim.supported, claim.reason
    riga = "Il registro non è più curato, anche se se ne trovano copie: tre, del 1992, 1994 e 1995."
    [claim] = check("Le copie del registro sono del 1992, 1994 e 1995 [1].", "Di quali anni sono le copie del registro?", "it", sources_of((riga, "it")))
    assert claim.supported, claim.reason
    # A negation in the clause of the answer still denies it, and a claim's own negation may be the question's.
    denied = "The registry is kept up to date, though not since 1995."
    [claim] = check("The registry has been kept since 1995 [1].", "Since when is the registry kept?", "en", sources_of((denied, "en")))
    assert not claim.supported
    none = "If no year is given, the tool reads the registry of 1995."
    [claim] = check("When no year is given, the tool reads the registry of 1995 [1].", "Which registry does the tool read when no year is given?", "en", sources_of((none, "en")))
    assert claim.supported, claim.reason


def test_a_line_cut_mid_sentence_reads_on_into_the_next_one():
    # A manual page wraps: the unit boundary falls inside one sentence.
    text = "You can restore the old header by setting the variable CRONTAB_NOHEADER to N, which makes\ncrontab -l print DO NOT EDIT THIS FILE again."
    claim_text = 'Set CRONTAB_NOHEADER to N so that crontab -l prints "DO NOT EDIT THIS FILE" again [1].'
    [claim] = check(claim_text, "Which variable brings back the header of crontab -l?", "en", sources_of((text, "en")))
    assert claim.supported and claim.support == [1, 2], claim.reason
    # A whole sentence does not read on into the next: "It prints it" could be about anything.
    text = "You can restore the old header by setting the variable CRONTAB_NOHEADER to N.\ncrontab -l prints DO NOT EDIT THIS FILE again."
    [claim] = check(claim_text, "Which variable brings back the header of crontab -l?", "en", sources_of((text, "en")))
    assert not claim.supported


def test_a_list_is_read_whole_with_the_line_that_opens_it():
    text = "New users should install these packages to get the manual pages:\nman-db\nmanpages\nmanpages-dev\nThe rest is optional."
    sources = sources_of((text, "en"))
    for k in (2, 3, 4):
        sources[k].unit = dataclasses.replace(sources[k].unit, kind="item")
    question = "Which packages must new users install to get the manual pages?"
    [claim] = check("New users should install man-db and manpages [1].", question, "en", sources)
    assert claim.supported and claim.support == [1, 2, 3, 4], claim.reason
    [claim] = check("New users should install man-db and groff [1].", question, "en", sources)
    assert not claim.supported  # an item the list does not hold
    # A list inside a list: the line that opens it is an item itself.
    sources[1].unit = dataclasses.replace(sources[1].unit, kind="item")
    [claim] = check("New users should install man-db and manpages [1].", question, "en", sources)
    assert claim.supported and claim.support == [1, 2, 3, 4], claim.reason


def test_two_items_of_a_list_are_two_records_a_claim_does_not_join():
    """"dpkg --info" of one item and "install" of the next do not make "dpkg --info shows the installation date"."""
    text = "Print the control file of a package: dpkg --info foo.deb.\nInstall a package on the hard disk: dpkg --install foo.deb."
    sources = sources_of((text, "en"))
    for k in (1, 2):
        sources[k].unit = dataclasses.replace(sources[k].unit, kind="item")
    question = "Which dpkg option prints the installation date of a package?"
    [claim] = check("The option `dpkg --info` prints the installation date of a package [1].", question, "en", sources)
    assert not claim.supported, claim.support
    [claim] = check("The option `dpkg --info` prints the control file of a package [1].", question, "en", sources)
    assert claim.supported and claim.support == [1], claim.reason


def option_list(lang: str = "en") -> dict[int, Source]:
    """A man page's option list: a line opening it, then each option's definition under its term (as extracted)."""
    text = (
        "The basic options are the following:\n"
        "owner\n"
        "permits the owner of the device to mount it\n"
        "nofail\n"
        "does not report errors for this device if it does not exist"
    )
    doc = Document("fstab", "fstab.txt", "fstab", text, "0" * 64)
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append((pos, pos + len(line)))
        pos += len(line) + 1
    units = [
        Unit(*lines[0], "paragraph", lang),
        Unit(*lines[2], "definition", lang, (lines[1],)),
        Unit(*lines[4], "definition", lang, (lines[3],)),
    ]
    return {s.k: s for s in number_sources([Passage(1, doc, "fstab#0", 0.0, units)])}


def test_a_definition_answers_for_its_own_term_not_for_the_one_asked_about():
    """Asked what nofail does, the line under "owner" states nothing about nofail, alone or with its list."""
    sources = option_list()
    [claim] = check("The nofail option permits the owner of the device to mount it [2].", "What does the nofail option do?", "en", sources)
    assert not claim.supported, claim.support
    [claim] = check("The nofail option permits the owner of the device to mount it [1].", "What does the nofail option do?", "en", sources)
    assert not claim.supported, claim.support  # nor with the line that opens the list
    [claim] = check("It does not report errors for the device if it does not exist [3].", "What does the nofail option do?", "en", sources)
    assert claim.supported and claim.support == [3], claim.reason
    [claim] = check("It permits the owner of the device to mount it [2].", "What does the owner option do?", "en", sources)
    assert claim.supported and claim.support == [2], claim.reason


def test_a_quote_meets_its_source_whatever_the_apostrophe():
    source = ("Les trois hommes sont appelés les « parrains de l’IA » par la presse.", "fr")
    [claim] = check("La presse appelle les trois hommes les « parrains de l'IA » [1].", "Comment la presse appelle-t-elle les trois hommes ?", "fr", sources_of(source))
    assert claim.supported, claim.reason


@pytest.mark.parametrize(
    ("lang", "prose", "question", "claim"),
    [
        ("en", "The hello package has an Installed-Size of 145 when built.", "What is the Installed-Size of the hello package?",
         "The Installed-Size field of the hello package is 145 [1]."),
        ("fr", "Le paquet hello a une Installed-Size de 145 une fois construit.", "Quelle est la Installed-Size du paquet hello ?",
         "Le champ Installed-Size du paquet hello est 145 [1]."),
        ("de", "Das Paket hello hat eine Installed-Size von 145, wenn es gebaut ist.", "Wie groß ist Installed-Size des Pakets hello?",
         "Der Wert im Feld Installed-Size des Pakets hello ist 145 [1]."),
    ],
)
def test_a_claim_may_name_the_field_a_name_value_line_gives(lang, prose, question, claim):
    """"The X field is 145" of "X: 145": the line is the field, and its value; a word it does not hold is still needed."""
    sources = sources_of(("The control file of the hello package reads:\nInstalled-Size: 145", lang))
    [kept] = check(claim, question, lang, sources)
    assert kept.supported, kept.reason
    [stated] = check(claim, question, lang, sources_of((prose, lang)))
    assert not stated.supported  # a sentence is no record: its field is not said
    [added] = check(claim.replace("145", "145 by default"), question, lang, sources)
    assert lang != "en" or not added.supported  # "default" is no word of the line


def test_a_quote_keeps_its_words_across_languages_not_its_small_words():
    """Across languages the model translates a quote's small words ("avec une" → "with a"), not its own."""
    sources = sources_of(("LeCun a décrit Meta, alors Facebook, comme une « tabula rasa avec une carte blanche ».", "fr"))
    question = "How did LeCun describe Meta, back when it was Facebook?"
    evidence = Evidence([sources[1]], sources[1].text)
    checker = SupportChecker(None)
    [kept] = split_claims('LeCun described Meta as a "tabula rasa with a carte blanche" [1].', "en")
    assert checker.facts_hold(kept, "en", evidence, question) == ""
    [changed] = split_claims('LeCun described Meta as a "tabula rasa with a free hand" [1].', "en")
    assert checker.facts_hold(changed, "en", evidence, question).startswith("quote:")
    [french] = split_claims("LeCun a décrit Meta comme une « tabula rasa with a carte blanche » [1].", "fr")
    assert checker.facts_hold(french, "fr", evidence, question).startswith("quote:")  # one language: verbatim


def test_a_string_the_question_quotes_names_its_subject_like_a_name():
    """Relating two names needs the source's words for the relation, not those of a string the question quotes."""
    source = (
        "By default crontab -l prints the header “DO NOT EDIT THIS FILE” above the crontab.\n"
        "Set the environment variable CRONTAB_NOHEADER to N and crontab -l prints the header again.",
        "en",
    )
    question = "Which variable makes crontab -l print the header “DO NOT EDIT THIS FILE” again?"
    [claim] = check('Setting CRONTAB_NOHEADER to N makes crontab -l print the header "DO NOT EDIT THIS FILE" again [2].', question, "en", sources_of(source))
    assert claim.supported and claim.support == [2], claim.reason
    [claim] = check('Setting CRONTAB_NOHEADER to N hides the header "DO NOT EDIT THIS FILE" [2].', question, "en", sources_of(source))
    assert not claim.supported  # "hides" is no word of the source


def test_the_source_name_in_the_passage_header_counts_as_read_beside_the_line():
    doc = Document("doc1", "doc1.html", "Article", "LeCun était chez Meta depuis dix ans.", "0" * 64, metadata={"publisher": "Futurism"})
    sources = {s.k: s for s in number_sources([Passage(1, doc, "doc1#0", 0.0, [Unit(0, len(doc.text), "paragraph", "fr")])])}
    question = "Depuis combien de temps LeCun était-il chez Meta ?"
    [claim] = check("Selon Futurism, LeCun était chez Meta depuis dix ans [1].", question, "fr", sources)
    assert claim.supported
    [claim] = check("Selon Reuters, LeCun était chez Meta depuis dix ans [1].", question, "fr", sources)
    assert not claim.supported


@pytest.mark.parametrize(
    ("claim", "lang", "publisher", "stated"),
    [
        ("The json module was introduced in Python 3.11.2 [1].", "en", "", False),
        ("La version de Python qui a introduit le module json est Python 3.11.2 [1].", "fr", "", False),
        ("The json module was introduced in Python 2.6 [1].", "en", "", True),
        ("According to docs.python.org, the json module was introduced in Python 2.6 [1].", "en", "docs.python.org", True),
    ],
)
def test_a_version_in_the_source_s_name_is_not_stated_by_its_lines(claim, lang, publisher, stated):
    """"Python 3.11.2 documentation" names the source, not the version that introduced json: a number or version
    the claim adds must stand in the line or its headings; the source's name itself the claim may give."""
    text = "New in version 2.6: the json module was added to the standard library."
    doc = Document("doc1", "json.html", "json — Python 3.11.2 documentation", text, "0" * 64, metadata={"publisher": publisher} if publisher else {})
    sources = {s.k: s for s in number_sources([Passage(1, doc, "doc1#0", 0.0, [Unit(0, len(text), "paragraph", "en")])])}
    [said] = check(claim, "Which Python version introduced the json module?", lang, sources, _Always(True))
    assert said.supported == stated, said.reason


@pytest.mark.parametrize(
    ("lang", "line", "question", "claim", "stated"),
    [
        ("en", "The period is given in days, the delay in minutes.", "In which unit is the period given?", "The period is given in years [1].", False),
        ("en", "The period is given in days, the delay in minutes.", "In which unit is the period given?", "The period is given in days [1].", True),
        ("de", "Die Periode wird in Stunden angegeben.", "In welcher Einheit wird die Periode angegeben?", "Die Periode wird in Tagen angegeben [1].", False),
        ("es", "El periodo se indica en semanas.", "¿En qué unidad se indica el periodo?", "El periodo se indica en días [1].", False),
        ("it", "Il periodo è indicato in settimane.", "In quale unità è indicato il periodo?", "Il periodo è indicato in giorni [1].", False),
    ],
)
def test_a_unit_of_time_is_an_answer_not_a_common_word(lang, line, question, claim, stated):
    """"years" for a line giving days is invented: the common words a claim may add without its source (from
    stopwords-iso) do not hold units of time ("year", "Tag", "día", "giorno" were among them)."""
    [said] = check(claim, question, lang, sources_of((line, lang)))
    assert said.supported == stated, said.reason


def test_a_claim_may_keep_the_scale_words_of_its_source_language():
    sources = sources_of(("La société vise une valorisation de 3 milliards de dollars.", "fr"))
    question = "What valuation is the company aiming for?"
    checker = SupportChecker(None)
    kept = Claim("The company aims for a valuation of 3 milliards of dollars.", [1])
    assert checker.facts_hold(kept, "en", Evidence([sources[1]]), question) == ""
    assert checker.facts_hold(Claim("The company aims for a valuation of 3 billion dollars.", [1]), "en", Evidence([sources[1]]), question) == ""
    wrong = Claim("The company aims for a valuation of 3 millions of dollars.", [1])
    assert checker.facts_hold(wrong, "en", Evidence([sources[1]]), question).startswith("number:")
    # a number word of the claim's language is not read away as no number at all in the source's language
    hired = sources_of(("Dix personnes ont été embauchées.", "fr"))
    twelve = Claim("Twelve people were hired.", [1])
    assert checker.facts_hold(twelve, "en", Evidence([hired[1]]), "How many people were hired?") == "number:12"

    # number words with a scale are one number in every language: "hundreds of millions" is "plusieurs centaines de millions"
    funded = sources_of(("Le projet a reçu plusieurs centaines de millions d'euros.", "fr"))
    hundreds = Claim("The project received several hundred million euros.", [1])
    assert checker.facts_hold(hundreds, "en", Evidence([funded[1]]), "How much did the project receive?") == ""
    billions = Claim("The project received several hundred billion euros.", [1])
    assert checker.facts_hold(billions, "en", Evidence([funded[1]]), "How much did the project receive?").startswith("number:")


STEPS = (
    "Download the source package:\napt-get source foo\nthen enter its tree:\ncd foo-*\nsudo apt-get build-dep foo\n"
    "Build it with:\ndebuild -us -uc\nsudo dpkg -i ../*.deb",
    "en",
)


def test_a_list_claim_rests_on_the_lines_of_its_items_however_many_it_cites():
    question = "Which commands build a binary package from a source package?"
    answer = "Run `apt-get source foo`, `cd foo-*`, `sudo apt-get build-dep foo`, `debuild -us -uc` and `sudo dpkg -i ../*.deb` [1][2][3][4][5][6][7][8][9]."
    [claim] = check(answer, question, "en", sources_of(STEPS))
    assert claim.supported and claim.support == [2, 4, 5, 7, 8]
    # an item no cited line holds, or a sentence citing every line without items, rests on nothing
    [claim] = check(answer.replace("debuild -us -uc", "debuild -b"), question, "en", sources_of(STEPS))
    assert not claim.supported
    [claim] = check("Sign the package with your GPG key [1][2][3][4][5][6][7][8][9].", question, "en", sources_of(STEPS))
    assert not claim.supported


def headed_sources(heading: str, *lines: str, lang: str = "en") -> dict[int, Source]:
    """Lines under one heading, numbered: the heading is read beside them as their context, never as a line."""
    text = "\n".join([heading, *lines])
    units, pos = [], len(heading) + 1
    for line in lines:
        units.append(Unit(pos, pos + len(line), "paragraph", lang, ((0, len(heading)),)))
        pos += len(line) + 1
    doc = Document("h", "h.html", "FAQ", text, hashlib.sha256(text.encode()).hexdigest())
    return {s.k: s for s in number_sources([Passage(1, doc, "h#0", 0.0, units)])}


def test_a_value_only_a_heading_gives_is_not_stated_of_what_its_line_does_not_say():
    """A heading may list the answers ("... Optional or Extra package?"), but "Extra is the default priority of
    backports" joins its value to a word nothing states; the heading's list itself may still be given."""
    sources = headed_sources(
        "What is an Essential, Required, Important, Standard, Optional or Extra package?",
        "Each Debian package is given a priority by the distribution maintainers.",
        "In addition, some packages are marked Essential.",
    )
    question = "Which priority does a package from backports have by default?"
    [claim] = check("The default priority of a package from backports is Extra [2].", question, "en", sources)
    assert not claim.supported
    [claim] = check("A Debian package may have the priority Essential, Required, Important, Standard, Optional or Extra [1].",
                    "Which priorities may a Debian package have?", "en", sources)
    assert claim.supported, claim.reason


@pytest.mark.parametrize(
    ("lang", "line", "question", "claim"),
    [
        ("de", "Ein Eintrag none ist für das Einhängen eines Dateisystems mit den Optionen »bind« oder »move« nützlich.",
         "Welche Option der fstab verschlüsselt ein Dateisystem?", 'Die Option "none" verschlüsselt ein Dateisystem [1].'),
        ("it", "hosts(5) File Formats Manual hosts(5)", "Quale comando cifra il file hosts?",
         "Il comando per cifrare il file hosts è `hosts(5)` [1]."),
    ],
)
def test_a_bare_value_needs_the_question_s_words_in_the_line_naming_it(lang, line, question, claim):
    """A claim that only names a value (a quoted "none", `hosts(5)`) asserts the rest of the question of it: with
    three words of the question or fewer, none may be missing from the line naming the value ("verschlüsselt")."""
    [said] = check(claim, question, lang, sources_of((line, lang)))
    assert not said.supported and said.reason == "words"



@pytest.mark.parametrize(
    ("lang", "lead_in", "other_lead_in", "question", "answer"),
    [
        ("de", "Ein Debian-Paket eines angepassten Kernels erstellen Sie nach dem Konfigurieren mit folgendem Befehl:",
         "Alte Kernel-Pakete entfernen Sie mit diesem Befehl:",
         "Mit welchem Befehl erstellt man ein Debian-Paket eines angepassten Kernels?", "Mit dem Befehl `make deb-pkg` [2]."),
        ("en", "To build a Debian package of a custom kernel, run:", "To remove old kernel packages, run:",
         "Which command builds a Debian package of a custom kernel?", "`make deb-pkg` [2]."),
    ],
)
def test_a_bare_value_repeating_nothing_of_the_question_is_held_to_all_of_it(lang, lead_in, other_lead_in, question, answer):
    """u07 of the new user's set, 2026-12-07: "Mit dem Befehl `make deb-pkg` [3]." repeats no word of the question
    but the common "Befehl": it asserts the whole question of the command, stated where the command is read."""
    [said] = check(answer, question, lang, sources_of((f"{lead_in}\nmake deb-pkg", lang)))
    assert said.supported, said.reason
    [said] = check(answer, question, lang, sources_of((f"{other_lead_in}\nmake deb-pkg", lang)))
    assert not said.supported


# idf-like weights: the question's word for the kind of value is its rarest word, as in a corpus seldom speaking of ranges
_KIND_WEIGHTS = {"rang": 5.1, "plag": 5.1, "bereich": 5.1, "date": 5.1}


@pytest.mark.parametrize(
    ("lang", "line", "question", "claim", "stated"),
    [
        ("en", "nice works with levels: the positive levels (from 1 to 19) progressively lower the priority.",
         "What is the range of positive niceness levels?", "The range of positive niceness levels is from 1 to 19 [1].", True),
        ("fr", "nice fonctionne par niveaux : les niveaux positifs (de 1 à 19) diminuent la priorité.",
         "Quelle est la plage des niveaux positifs de nice ?", "La plage des niveaux positifs de nice va de 1 à 19 [1].", True),
        ("de", "nice arbeitet mit Stufen: die positiven Stufen (von 1 bis 19) senken die Priorität.",
         "Welchen Bereich haben die positiven Stufen von nice?", "Die positiven Stufen von nice haben den Bereich von 1 bis 19 [1].", True),
        ("en", "nice works with levels: the positive levels (from 1 to 19) progressively lower the priority.",
         "What is the range of the CPU temperature?", "The range of the CPU temperature is from 1 to 19 [1].", False),
        ("fr", "Afficher le fichier control (et d'autres informations) pour un paquet particulier : dpkg --info foo.deb.",
         "Quelle commande affiche la date d'installation d'un paquet ?", "La commande `dpkg --info` affiche la date d'installation d'un paquet [1].", False),
    ],
)
def test_the_question_s_word_for_the_kind_of_value_need_not_stand_in_the_line_giving_it(lang, line, question, claim, stated):
    """"from 1 to 19" is the range the question asks for: its line need not say "range", however seldom the corpus
    does; the question's other words it must still say (a CPU temperature is not a niceness level), and a command
    is no date: the line naming it must say what the question asks of it (probe dp29)."""
    [said] = split_claims(claim, lang)
    SupportChecker(None, term_weight=lambda t: _KIND_WEIGHTS.get(t, 2.0)).check([said], lang, question, sources_of((line, lang)), None)
    assert said.supported == stated, said.reason

@pytest.mark.parametrize(
    ("claim", "lang", "stated"),
    [
        ("The German translation of this manual page was made by Marco Curreli [1].", "en", False),
        ("The Italian translation of this manual page was made by Marco Curreli [1].", "en", True),
        ("La traduzione tedesca di questa pagina è stata creata da Marco Curreli [1].", "it", False),
        ("La traduction italienne de cette page a été faite par Marco Curreli [1].", "fr", True),
    ],
)
def test_a_language_a_claim_names_is_the_one_its_line_names(claim, lang, stated):
    """"German" and "tedesca" name German, "italienne" Italian (each language file's `language_names`): the line about
    the Italian translation does not state who made the German one, in any language the claim is written in."""
    sources = sources_of(("La traduzione italiana di questa pagina di manuale è stata creata da Marco Curreli.", "it"))
    [said] = split_claims(claim, lang)
    SupportChecker(None).check([said], lang, "Who made the translation of the hosts manual page?", sources, lambda items: [True] * len(items))
    assert said.supported is stated
    if not stated:
        assert said.reason == "language:de"


@pytest.mark.parametrize(
    ("answer", "lang", "unfinished"),
    [
        ("La ligne de fstab qui chiffre un système de fichiers est [1].", "fr", True),
        ("El comando que muestra los paquetes es [1].", "es", True),
        ("The option that encrypts it is the [1].", "en", True),
        ("Package B breaks package A [1].", "en", False),  # a capital names
        ("Yes, it is [1].", "en", False),  # an answer word opens it: it answers
        ("Il file viene letto se il pseudo-nome è « - » [1].", "it", False),  # a string ends it
    ],
)
def test_a_sentence_stopping_where_its_answer_should_be_states_nothing(answer, lang, unfinished):
    """The model put the citation where the answer belongs ("... est [1]."): with its marker out, the sentence stops on
    "est", which no statement ends on (each language file's `unfinished`); a judge saying yes cannot rescue it."""
    sources = sources_of(("Le fichier fstab décrit les systèmes de fichiers.", "fr"))
    [said] = split_claims(answer, lang)
    SupportChecker(None).check([said], lang, "?", sources, lambda items: [True] * len(items))
    assert (said.reason == "unfinished") is unfinished
    if unfinished:
        assert not said.supported


@pytest.mark.parametrize(
    ("claim", "stated"),
    [
        ("The option `-r` sends the table to a remote server [1].", False),
        ("The option `-r` removes the current crontab [1].", True),
    ],
)
def test_across_languages_a_bare_value_needs_counterparts_of_the_question_s_words_where_it_is_read(embedder, claim, stated):
    """"`-r` sends the table to a remote server" only names a value: its other words are the question's, asserted of
    `-r`, and the line naming -r must have counterparts for them (less than a third may lack one), whatever a judge
    says of the two sentences."""
    sources = sources_of(("L'option -r supprime la crontab en cours.", "fr"))
    [said] = split_claims(claim, "en")
    question = "Which option of crontab sends the table to a remote server?" if not stated else "Which option of crontab removes the current crontab?"
    SupportChecker(embedder).check([said], "en", question, sources, lambda items: [True] * len(items))
    assert said.supported is stated, said.reason


@pytest.mark.parametrize(
    "question, claim, lang, leaves",
    [
        # a true line copied for a question it does not answer: almost nothing of the question is left
        ("Which option of tar sends the archive to a remote tape drive?", "The first form creates a new archive from the given files.", "en", True),
        ("Welcher Dienst verschickt die Ausgabe per SMS?", "Der erste Aufruf installiert eine neue Tabelle aus der angegebenen Datei.", "de", True),
        ("¿Quién tradujo la página de manual al español?", "Paul Vixie es el autor de cron.", "es", True),
        # an answer keeping what is asked about, or one naming only a value, or a question of one word
        ("Which option of tar sends the archive to a remote tape drive?", "The -f option sends the archive to a remote drive.", "en", False),
        ("Welcher Dienst verschickt die Ausgabe per SMS?", "`smsd` verschickt sie.", "de", False),
        ("Which option of tar sends the archive to a remote tape drive?", "`--rsh-command`.", "en", False),
        ("And how?", "The first form creates a new archive from the given files.", "en", False),
    ],
)
def test_a_claim_leaving_out_what_the_question_asks_about_leaves_the_question(question, claim, lang, leaves):
    [said] = split_claims(claim, lang)
    assert SupportChecker(None).leaves_the_question(said, lang, question) is leaves


def test_a_terse_answer_speaks_of_the_question_when_its_line_does():
    """"dpkg, apt or aptitude" keeps none of the question's words, but the line stating it holds them: it answers."""
    question = "Which tools can I use to hold back a package from upgrades?"
    [said] = split_claims("You can use dpkg, apt or aptitude.", "en")
    line = "There are three ways of holding back packages from upgrades, with dpkg, apt or aptitude."
    assert SupportChecker(None).leaves_the_question(said, "en", question)
    assert not SupportChecker(None).leaves_the_question(said, "en", question, line)
    elsewhere = "La première forme de cette commande sert à installer une nouvelle crontab."
    assert SupportChecker(None).leaves_the_question(said, "en", question, elsewhere)


@pytest.mark.parametrize(
    "lang, line, question, claim",
    [
        ("es", "El subtipo se define mediante el sufijo '.subtype'.", "¿Con qué sufijo se indica un subtipo?",
         "El sufijo `.subtype` se utiliza para indicar un subtipo [1]."),
        ("fr", "Le suffixe '.subtype' indique un sous-type.", "Quel suffixe indique un sous-type ?",
         "Le suffixe `.subtype` est utilisé pour indiquer un sous-type [1]."),
        ("de", "Die Endung '.subtype' kennzeichnet einen Untertyp.", "Welche Endung kennzeichnet einen Untertyp?",
         "Die Endung `.subtype` wird verwendet, um einen Untertyp zu kennzeichnen [1]."),
        ("it", "Il suffisso '.subtype' indica un sottotipo.", "Quale suffisso indica un sottotipo?",
         "Il suffisso `.subtype` si utilizza per indicare un sottotipo [1]."),
    ],
)
def test_to_use_is_framing_in_every_language_as_in_english(lang, line, question, claim):
    """"se utiliza para indicar" states no more than "indica": the verb for using is a common word in each
    language's list (English's stopwords-iso list has it; the others lacked it)."""
    [checked] = check(claim, question, lang, sources_of((line, lang)))
    assert checked.supported, checked.reason


@pytest.mark.parametrize(
    "question, claim, lang, misses",
    [
        # a true line copied for a count it does not give
        ("Wie viele Aufträge darf eine anacrontab höchstens enthalten?", "Die Datei /etc/anacrontab beschreibt die Aufträge.", "de", True),
        ("How many packages are in the main archive?", "This is the main package management program.", "en", True),
        ("¿Cuántas particiones puede listar fstab?", "El archivo fstab describe los sistemas de archivos.", "es", True),
        ("Combien d'entrées la table peut-elle contenir ?", "La table contient les entrées de cron.", "fr", True),
        ("Quanti alias può avere un host?", "Il file hosts associa gli indirizzi ai nomi.", "it", True),
        # a count in digits, in words, or without a numeral; a question for another quantity; no count asked
        ("Wie viele Aufträge darf eine anacrontab höchstens enthalten?", "Sie darf 20 Aufträge enthalten.", "de", False),
        ("How many fields does a line have?", "A line has six fields.", "en", False),
        ("How many fields does a line have?", "None: the line is a comment.", "en", False),
        ("Wie viele Einträge darf die fstab enthalten?", "Die Zahl der Einträge ist unbegrenzt.", "de", False),
        ("¿Cuántos alias puede tener un host?", "Un host puede tener un solo nombre canónico.", "es", False),
        ("Combien de temps dure la garantie ?", "La garantie dure plus d'une décennie.", "fr", False),
        ("Which package holds dpkg?", "The dpkg package holds it.", "en", False),
    ],
)
def test_a_count_asked_for_is_given(question, claim, lang, misses):
    """"How many" is answered with a number, or a count in words ("none", "unbegrenzt"); an article is no count."""
    [said] = split_claims(claim, lang)
    assert SupportChecker.gives_no_count(said, lang, question) is misses
