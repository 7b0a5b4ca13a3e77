"""From the model's raw output to the checked answer: quotes, numbering, strict mode, typed notes, conflicts.

The answers are written by hand in the format the model writes (source numbers, "[0]" to decline) and checked by
the real pipeline on the real index of docs/ (e5, FAISS, BM25, the GGUF's tokenizer): what the model would say is
not the point here, what the check does with it is.
"""
from __future__ import annotations

import pytest

from rag import languages
from rag.claims import parse_markers


def source_holding(prepared, text: str) -> int:
    return next(s.k for s in prepared.sources if text in s.text)


@pytest.fixture(scope="module")
def investment(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("Combien Meta a-t-il investi dans Scale AI ?")
    k = source_holding(prepared, "14 milliards")
    return prepared, tokenizer_pipeline.finish(prepared, f"Zuckerberg a injecté 14 milliards de dollars dans Scale AI [{k}].")


def test_a_supported_answer_quotes_its_source_exactly(investment):
    prepared, answer = investment
    assert not answer.abstained and answer.notes == []
    [citation] = answer.citations
    assert citation.n == 1 and answer.answer.endswith("Scale AI [1].")
    assert citation.quote == citation.passage.doc.text[citation.start : citation.end]
    assert "14 milliards de dollars" in citation.quote and citation.supported


def test_citations_are_numbered_in_order_of_appearance(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("Combien Meta a-t-il investi dans Scale AI, et quelle part a-t-il acquise ?")
    k = source_holding(prepared, "14 milliards")
    raw = f"Zuckerberg a injecté 14 milliards de dollars dans Scale AI [{k}]. C'est une participation de 49 % [{k}]."
    answer = tokenizer_pipeline.finish(prepared, raw)
    assert parse_markers(answer.answer) == [1] and len(answer.citations) == 1


def test_an_answer_in_english_rests_on_a_french_source(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("How much did Meta invest in Scale AI?")
    k = source_holding(prepared, "14 milliards")
    answer = tokenizer_pipeline.finish(prepared, f"Zuckerberg invested 14 billion dollars in Scale AI [{k}].")
    assert not answer.abstained, (answer.claims, answer.notes)
    assert answer.lang == "en" and "14 milliards" in answer.citations[0].quote


def test_an_answer_only_the_judge_found_is_withheld_when_the_model_nearly_declined(tokenizer_pipeline):
    """Across languages the words cannot settle a claim and e5 judges it; that yes no longer suffices when the model
    gave declining a fair chance before it wrote (Settings.support_decline_doubt)."""
    prepared = tokenizer_pipeline.prepare("How much money did Meta put into Scale AI?")
    k = source_holding(prepared, "14 milliards")
    raw = f"Meta put $14 billion into Scale AI [{k}]."
    for odds in (None, 0.05):
        shown = tokenizer_pipeline.finish(prepared, raw, odds)
        assert not shown.abstained and shown.claims[0].reason == "judge:yes", (odds, shown.claims)
        assert shown.decline_probability == odds
    doubted = tokenizer_pipeline.finish(prepared, raw, 0.3)
    assert doubted.abstained and doubted.claims[0].reason == "doubt" and not doubted.claims[0].supported
    assert [(n.kind, n.text) for n in doubted.notes] == [("withheld", languages.get("en").note("withheld_doubt"))]


def test_the_model_s_odds_reach_the_check_through_the_stream(docs_index, retriever):
    """Pipeline.write hands the generator an OpeningOdds and the check reads what it filled in."""
    from canned import CannedGenerator
    from rag.pipeline import Pipeline

    settings, _ = docs_index
    for odds, withheld in ((0.05, False), (0.3, True), (None, False)):
        generator = CannedGenerator(["Meta put $14 billion into Scale AI {14 milliards}."], decline_probability=odds)
        answer = Pipeline(settings, retriever, generator).ask("How much money did Meta put into Scale AI?")
        assert (answer.abstained, answer.decline_probability) == (withheld, odds), answer.notes


def test_an_answer_its_source_states_word_for_word_is_shown_however_near_the_model_came_to_declining(investment, tokenizer_pipeline):
    prepared, _ = investment
    k = source_holding(prepared, "14 milliards")
    answer = tokenizer_pipeline.finish(prepared, f"Zuckerberg a injecté 14 milliards de dollars dans Scale AI [{k}].", 0.9)
    assert not answer.abstained and answer.claims[0].reason == "words"


def test_the_decline_line_becomes_the_refusal_of_the_question_s_language(tokenizer_pipeline):
    for question, lang in [("Quel est le cours de l'action Meta ?", "fr"), ("Wie hoch ist der Aktienkurs von Meta?", "de"), ("¿Cuál es el precio de la acción de Meta?", "es")]:
        prepared = tokenizer_pipeline.prepare(question)
        answer = tokenizer_pipeline.finish(prepared, "[0]")
        assert answer.abstained and answer.citations == [] and answer.notes == []
        assert answer.answer == languages.get(lang).text["decline"] and answer.lang == lang


def test_a_sentence_marked_with_the_decline_marker_is_withheld_though_a_source_holds_its_words(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("Combien Meta a-t-il investi dans Scale AI ?")
    answer = tokenizer_pipeline.finish(prepared, "Zuckerberg a injecté 14 milliards de dollars dans Scale AI [0].")
    assert answer.abstained and [n.kind for n in answer.notes] == ["withheld"]
    assert answer.claims[0].reason == "unsourced" and answer.answer == languages.get("fr").text["decline"]


def test_an_invented_figure_is_withheld_in_strict_mode(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("Combien Meta a-t-il investi dans Scale AI ?")
    k = source_holding(prepared, "14 milliards")
    answer = tokenizer_pipeline.finish(prepared, f"Zuckerberg a injecté 15 milliards de dollars dans Scale AI [{k}].")
    assert answer.abstained and answer.citations == []
    assert [n.kind for n in answer.notes] == ["withheld"]
    assert answer.notes[0].text == languages.get("fr").note("withheld")


def test_without_strict_mode_the_unsupported_answer_is_shown_and_flagged(tokenizer_pipeline, docs_index):
    from rag.pipeline import Pipeline

    loose = Pipeline(tokenizer_pipeline.settings.resolved(strict=False), tokenizer_pipeline.retriever, tokenizer_pipeline.generator)
    prepared = loose.prepare("How much did Meta invest in Scale AI?")
    k = source_holding(prepared, "14 milliards")
    answer = loose.finish(prepared, f"Meta invested 15 billion dollars in Scale AI [{k}].")
    assert not answer.abstained and not answer.claims[0].supported
    assert [n.kind for n in answer.notes] == ["unsupported"]
    assert not any(c.supported for c in answer.citations)


def test_an_answer_that_only_repeats_the_question_is_off_target(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("Qui a recruté Alexandr Wang ?")
    k = source_holding(prepared, "Alexandr Wang")
    answer = tokenizer_pipeline.finish(prepared, f"Alexandr Wang a été recruté [{k}].")
    assert answer.abstained and [n.kind for n in answer.notes] == ["off_target"]


def test_a_true_line_about_something_else_is_off_target(tokenizer_pipeline):
    """The line states the claim, but the claim leaves out nearly all the question asks about (the city, the
    offices): it answers another question and is withheld, with the off-target note."""
    question = "Dans quelle ville se trouvent les bureaux européens de Scale AI ?"
    prepared = tokenizer_pipeline.prepare(question)
    k = source_holding(prepared, "Scale AI")
    answer = tokenizer_pipeline.finish(prepared, f"Alexandr Wang était le fondateur et ancien PDG de Scale AI [{k}].")
    assert answer.claims[0].supported
    assert answer.abstained and [n.kind for n in answer.notes] == ["off_target"]
    assert "autre chose" in answer.notes[0].text  # not "only repeats the question", which it does not


def test_a_follow_up_answered_with_the_last_answer_is_off_target(tokenizer_pipeline):
    """The model repeating what it said before answers the earlier question, not this one; a new option is new."""
    from rag.claims import split_claims

    history = [
        {"role": "user", "content": "Où Yann LeCun va-t-il travailler ?"},
        {"role": "assistant", "content": "Il va fonder une start-up, AMI Labs, après avoir quitté Meta."},
    ]
    prepared = tokenizer_pipeline.prepare("Et avec quel argent ?", history)
    [again] = split_claims("Il va fonder une start-up, AMI Labs, après avoir quitté Meta [1].", "fr")
    [new] = split_claims("Il va fonder une start-up financée par Meta [1].", "fr")
    assert not tokenizer_pipeline._adds_anything(again, prepared)
    assert tokenizer_pipeline._adds_anything(new, prepared)
    shell = [{"role": "user", "content": "How do I edit my crontab?"}, {"role": "assistant", "content": "Run crontab -e."}]
    prepared = tokenizer_pipeline.prepare("And how do I just display it?", shell)
    [option] = split_claims("To display the crontab, run crontab -l [1].", "en")
    assert tokenizer_pipeline._adds_anything(option, prepared)
    # The earlier question's words are said too: naming its subject ("Protokolle") adds nothing to the last answer.
    logs = [
        {"role": "user", "content": "Wo speichert der Dienst seine Protokolle?"},
        {"role": "assistant", "content": "Meistens unter /var/log/."},
    ]
    prepared = tokenizer_pipeline.prepare("Und wo sonst noch?", logs)
    [same] = split_claims("Der Dienst speichert seine Protokolle meistens unter /var/log/ [1].", "de")
    assert not tokenizer_pipeline._adds_anything(same, prepared)


def test_a_short_follow_up_answered_about_something_else_is_off_target(tokenizer_pipeline):
    """"And how old is he?" after a question about Scale AI answered with Alexandr Wang: a line on LeCun's
    decision states the sentence, but it names nothing the conversation spoke of; Wang's age continues it, and a
    question that does not point back may leave the conversation."""
    history = [
        {"role": "user", "content": "Qui a fondé Scale AI ?"},
        {"role": "assistant", "content": "Alexandr Wang a fondé Scale AI."},
    ]
    prepared = tokenizer_pipeline.prepare("Et quel âge a-t-il ?", history)
    other, his = source_holding(prepared, "dynamiques internes"), source_holding(prepared, "28 ans")
    elsewhere = tokenizer_pipeline.finish(prepared, f"Des dynamiques internes ont contribué à la décision de LeCun [{other}].")
    assert elsewhere.claims[0].supported
    assert elsewhere.abstained and [n.kind for n in elsewhere.notes] == ["off_target"]
    continued = tokenizer_pipeline.finish(prepared, f"Alexandr Wang a 28 ans [{his}].")
    assert not continued.abstained and "off_target" not in [n.kind for n in continued.notes]
    # A short question pointing nowhere back changes the subject: it is answered on its own, an impersonal "il"
    # ("Y a-t-il") pointing nowhere either.
    prepared = tokenizer_pipeline.prepare("Qui est Zhao ?", history)
    zhao = source_holding(prepared, "Shengjia Zhao")
    new_subject = tokenizer_pipeline.finish(prepared, f"Shengjia Zhao est un scientifique en chef qui a rejoint Meta [{zhao}].")
    assert new_subject.claims[0].supported and not new_subject.abstained
    prepared = tokenizer_pipeline.prepare("Y a-t-il eu des licenciements ?", history)
    cuts = source_holding(prepared, "licenciements")
    answered = tokenizer_pipeline.finish(prepared, f"Oui, il y a eu des centaines de licenciements le mois dernier [{cuts}].")
    assert answered.claims[0].supported and not answered.abstained


def test_a_no_that_restates_the_question_adds_its_negation(tokenizer_pipeline):
    """Off target is a restatement that adds nothing; a negation the question lacks is what a "no" adds (and the
    source must then state it); a "yes" adds nothing the words can check."""
    from rag.claims import split_claims

    prepared = tokenizer_pipeline.prepare("¿Alexandr Wang fue contratado por Google?")
    [no] = split_claims("No, Alexandr Wang no fue contratado por Google [1].", "es")
    [yes] = split_claims("Sí, Alexandr Wang fue contratado por Google [1].", "es")
    assert tokenizer_pipeline._adds_anything(no, prepared)
    assert not tokenizer_pipeline._adds_anything(yes, prepared)


def test_a_number_that_points_nowhere_is_reported(investment, tokenizer_pipeline):
    prepared, _ = investment
    k = source_holding(prepared, "14 milliards")
    answer = tokenizer_pipeline.finish(prepared, f"Zuckerberg a injecté 14 milliards de dollars dans Scale AI [{k}][99].")
    assert not answer.abstained
    assert [n.kind for n in answer.notes] == ["invalid_citation"] and "[99]" in answer.notes[0].text


def test_sources_that_disagree_are_stated_with_both_citations(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("Quel âge a Alexandr Wang ?")
    k = source_holding(prepared, "28 ans")
    answer = tokenizer_pipeline.finish(prepared, f"Alexandr Wang a 28 ans [{k}].")
    assert not answer.abstained
    assert [n.kind for n in answer.notes] == ["conflict"]
    assert "28 ans" in answer.notes[0].text and "29 ans" in answer.notes[0].text
    assert answer.answer.endswith("Les sources divergent : 28 ans selon [1], 29 ans selon [2].") and parse_markers(answer.answer) == [1, 2]
    quotes = [c.quote for c in answer.citations]
    assert any("28 ans" in q for q in quotes) and any("29 ans" in q for q in quotes)


def test_a_conflict_note_is_in_the_answer_s_language(tokenizer_pipeline):
    prepared = tokenizer_pipeline.prepare("How old is Alexandr Wang?")
    k = source_holding(prepared, "28 ans")
    answer = tokenizer_pipeline.finish(prepared, f"Alexandr Wang is 28 [{k}].")
    assert [n.kind for n in answer.notes] == ["conflict"], (answer.claims, answer.notes)
    assert answer.notes[0].text.startswith("The sources disagree: 28 ans according to [1], 29 ans according to [2]")


# ---------------------------------------------------------------- manuals in four languages

MANUAL_PAGES = {
    "it-hosts.txt": (
        "HOSTS\n"
        "Il file hosts contiene una riga per ogni indirizzo IP associato a un nome di host.\n"
        "Le modifiche al file hosts hanno effetto immediato, senza riavviare il sistema.\n"
        "La traduzione italiana di questa pagina di manuale è stata creata da Marco Rossi.\n"
    ),
    "fr-crontab.txt": (
        "CRONTAB\n"
        "La commande crontab permet de modifier la table des tâches périodiques de chaque utilisateur.\n"
        "Avec l'option -l, crontab affiche la table courante sur la sortie standard.\n"
        "La traduction française de cette page de manuel a été réalisée par Jean Dupont.\n"
    ),
    "de-crontab.txt": (
        "CRONTAB\n"
        "Mit dem Befehl crontab bearbeitet jeder Benutzer seine Tabelle der regelmäßigen Aufträge.\n"
        "Die Namen der Rechner stehen in der Datei hosts, nicht in der Tabelle von crontab.\n"
        "Die deutsche Übersetzung dieser Handbuchseite wurde von Hans Müller erstellt.\n"
    ),
    "en-fstab.txt": (
        "FSTAB\n"
        "The file fstab contains descriptive information about the filesystems the system can mount.\n"
        "Each filesystem is described on a separate line, and fields on each line are separated by tabs or spaces.\n"
    ),
}


@pytest.fixture(scope="module")
def manual_pages(tmp_path_factory, settings_factory, embedder, tokenizer):
    """The real pipeline (e5, FAISS, BM25, the GGUF's tokenizer) over four short manual pages in four languages."""
    from rag.ingest import ingest
    from rag.pipeline import Pipeline
    from rag.retrieval import Retriever

    folder = tmp_path_factory.mktemp("pages")
    for name, text in MANUAL_PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = settings_factory(folder.parent / "pages-index")
    report, index = ingest([folder], settings, embedder)
    assert not report.errors, report.errors
    return Pipeline(settings, Retriever(index, embedder, settings), tokenizer)


def test_names_are_the_words_documents_of_several_languages_share(manual_pages):
    names = manual_pages.retriever.names_across_languages
    assert sorted(names["crontab"]) == ["de-crontab", "fr-crontab"]
    assert sorted(names["hosts"]) == ["de-crontab", "it-hosts"]
    assert "tabelle" not in names and "table" not in names  # one language's word, however frequent
    assert not {"la", "de", "der", "di", "the"} & set(names)  # the common words languages happen to share
    assert "file" in names  # the Italian page's loanword
    assert "system" not in names and "sistema" not in names  # no page of another language holds them


def test_a_true_line_of_another_manual_does_not_answer_for_the_one_the_question_names(manual_pages):
    """"Who translated the crontab manual into Italian?" answered by the hosts manual's translator: the line states
    the sentence, but neither names crontab, which the manuals name in German and French: withheld as off target.
    The same line answers the question naming hosts."""
    translator = "La traduzione italiana di questa pagina di manuale è stata creata da Marco Rossi [{k}]."
    prepared = manual_pages.prepare("Chi ha tradotto in italiano la pagina di manuale di crontab?")
    answer = manual_pages.finish(prepared, translator.format(k=source_holding(prepared, "Marco Rossi")))
    assert answer.claims[0].supported
    assert answer.abstained and [n.kind for n in answer.notes] == ["off_target"]
    prepared = manual_pages.prepare("Chi ha tradotto in italiano la pagina di manuale di hosts?")
    answer = manual_pages.finish(prepared, translator.format(k=source_holding(prepared, "Marco Rossi")))
    assert not answer.abstained and answer.claims[0].supported, answer.notes


def test_a_true_line_giving_no_count_for_how_many_is_off_target(tokenizer_pipeline):
    """Asked how many, a first sentence the line states but without its number answers something else."""
    prepared = tokenizer_pipeline.prepare("Combien d'hommes sont appelés les parrains de l'IA ?")
    k = source_holding(prepared, "Les trois hommes")
    uncounted = tokenizer_pipeline.finish(prepared, f"Les hommes sont parfois appelés les « parrains de l'apprentissage profond » [{k}].")
    assert uncounted.claims[0].supported
    assert uncounted.abstained and [n.kind for n in uncounted.notes] == ["off_target"]
    counted = tokenizer_pipeline.finish(prepared, f"Trois hommes sont parfois appelés les « parrains de l'apprentissage profond » [{k}].")
    assert not counted.abstained, counted.notes
