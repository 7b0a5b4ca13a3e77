"""The who-question check: pure functions, then through the pipeline on a real prepared question."""
import pytest

from rag.answer_type import asks_for_person, gives_what_is_asked, new_names
from rag.pipeline import Pipeline


@pytest.mark.parametrize(
    "question",
    [
        "Qui a recruté Alexandr Wang pour diriger les Superintelligence Labs ?",
        "Qui sont les « parrains de l'IA » ?",
        "Who received the Turing Award in 2018?",
        "Who is the CEO of Meta?",
        "Selon le FT, qui dirige Meta ?",
        "Qui l'a recruté ?",
    ],
)
def test_who_questions_ask_for_a_person(question):
    assert asks_for_person(question)


@pytest.mark.parametrize(
    "question",
    ["Qui est Yann LeCun ?", "Who is Alexandr Wang?", "Who was Geoffrey Hinton?", "Quel âge a Wang ?", "Which company did Wang run?"],
)
def test_description_and_other_questions_do_not(question):
    assert not asks_for_person(question)


def test_a_name_already_in_the_question_is_not_new():
    question = "Qui remplacera LeCun à la tête de la recherche chez Meta ?"
    assert new_names(question, "LeCun serait sur le point de démissionner [3].") == []
    assert new_names(question, "Yann LeCun serait sur le point de démissionner [3].") == []  # same person
    assert new_names(question, "Selon les passages, il quitte Meta [1].") == []  # sentence openers are not names
    assert new_names(question, "Shengjia Zhao a rejoint Meta [1].") == ["Shengjia Zhao"]


def test_answers_that_name_someone_pass():
    assert gives_what_is_asked("Qui a recruté Alexandr Wang ?", "Zuckerberg a recruté Alexandr Wang [1].")
    assert gives_what_is_asked("Who received the Turing Award in 2018?", "LeCun, Yoshua Bengio and Geoffrey Hinton [1].")
    assert not gives_what_is_asked("Qui a recruté Alexandr Wang ?", "Alexandr Wang a recruté Alexandr Wang [1].")
    assert gives_what_is_asked("Quand ChatGPT est-il sorti ?", "En novembre 2022 [1].")  # not a who-question


def test_supported_answer_that_names_nobody_is_withheld(pipeline):
    """The sentence is in the passages, so the citation check passes it; it still does not say who."""
    prepared = pipeline.prepare("Qui remplacera LeCun à la tête de la recherche chez Meta ?")
    source = next(p for p in prepared.passages if "démissionner" in p.text or "quitte" in p.text)
    sentence = next(s for s in source.text.split(". ") if "LeCun" in s)
    raw = f"{sentence.rstrip('.')} [{source.n}]."
    strict = Pipeline(pipeline.settings.resolved(strict=True), pipeline.retriever, pipeline.generator)
    answer = strict.finish(prepared, raw)
    assert answer.abstained and answer.citations == []
    assert any(note.startswith("off target") for note in answer.notes)
    loose = Pipeline(pipeline.settings.resolved(strict=False), pipeline.retriever, pipeline.generator)
    shown = loose.finish(prepared, raw)
    assert not shown.abstained and any(note.startswith("off target") for note in shown.notes)


def test_supported_answer_that_names_someone_is_kept(pipeline):
    prepared = pipeline.prepare("Qui a recruté Alexandr Wang pour diriger les Superintelligence Labs ?")
    source = next(p for p in prepared.passages if "recrue vedette" in p.text)
    answer = pipeline.finish(prepared, f"Zuckerberg a recruté Alexandr Wang [{source.n}].")
    assert not answer.abstained and not any(note.startswith("off target") for note in answer.notes)


def test_context_supported_under_an_invented_first_sentence_is_withheld(pipeline):
    """The first sentence answers; supported context after an unsupported answer does not make it grounded."""
    prepared = pipeline.prepare("Which investors are funding Advanced Machine Intelligence Labs?")
    ami = next(p for p in prepared.passages if "Advanced Machine Intelligence Labs" in p.text)
    scale = next(p for p in prepared.passages if "14 milliards" in p.text)
    raw = (
        f"The Cun company is funding Advanced Machine Intelligence Labs [{ami.n}]. "
        f"Zuckerberg injected 14 billion dollars into Scale AI [{scale.n}]."
    )
    strict = Pipeline(pipeline.settings.resolved(strict=True), pipeline.retriever, pipeline.generator)
    answer = strict.finish(prepared, raw)
    assert answer.abstained and answer.citations == []
    assert "withheld: no passage supports the answer's first sentence" in answer.notes
    loose = Pipeline(pipeline.settings.resolved(strict=False), pipeline.retriever, pipeline.generator)
    shown = loose.finish(prepared, raw)
    assert not shown.abstained and any(note.startswith("unsupported: « The Cun") for note in shown.notes)
