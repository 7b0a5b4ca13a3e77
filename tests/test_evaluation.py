"""rag eval's scoring: answers shown, grouped by what let their first sentence through (the real check on docs/)."""
from __future__ import annotations

from rag.evaluation import Question, by_basis, score_answer, support_basis


def answered(pipeline, question: str, answer: str, holding: str):
    """The real check's verdict on an answer written by hand, its marker pointing at the line that holds `holding`."""
    prepared = pipeline.prepare(question)
    k = next(s.k for s in prepared.sources if holding in s.text)
    return pipeline.finish(prepared, answer.format(k=k))


def test_answers_are_grouped_by_what_supported_their_first_sentence(tokenizer_pipeline):
    """Words of a line in the question's language, a line in another language, and a withheld answer."""
    same = answered(tokenizer_pipeline, "Combien Meta a-t-il investi dans Scale AI ?",
                    "Meta a investi 14 milliards de dollars dans Scale AI [{k}].", "14 milliards")
    across = answered(tokenizer_pipeline, "How much did Meta invest in Scale AI?",
                      "Meta invested 14 billion dollars in Scale AI [{k}].", "14 milliards")
    invented = answered(tokenizer_pipeline, "Combien Meta a-t-il investi dans Scale AI ?",
                        "Meta a investi 15 milliards de dollars dans Scale AI [{k}].", "14 milliards")
    assert support_basis(same) == "words"
    assert support_basis(across).endswith(", across languages"), across.claims
    assert invented.abstained and support_basis(invented) == ""

    fr = Question("q1", "fr", "factoid", "Combien Meta a-t-il investi dans Scale AI ?", expect=[["14 milliards"]])
    en = Question("q2", "en", "factoid", "How much did Meta invest in Scale AI?", expect=[["14"]])
    wrong = Question("q3", "en", "factoid", "How much did Meta invest in Scale AI?", expect=[["twelve"]])
    rows = [score_answer(fr, same), score_answer(en, across), score_answer(wrong, across), score_answer(fr, invented)]
    groups = by_basis(rows)
    assert groups["words"] == {"shown": 1, "right": 1, "invented": 0}
    assert groups[support_basis(across)] == {"shown": 2, "right": 1, "invented": 1}
    assert len(groups) == 2  # the withheld answer is in no group


def test_an_answer_shown_unchecked_is_counted_as_unsupported(docs_index, retriever, tokenizer):
    """With strict mode off an unsupported first sentence is shown: it is counted as such, not by a failed reason."""
    from rag.pipeline import Pipeline

    settings, _ = docs_index
    lenient = Pipeline(settings.model_copy(update={"strict": False}), retriever, tokenizer)
    shown = answered(lenient, "Combien Meta a-t-il investi dans Scale AI ?",
                     "Meta a investi 15 milliards de dollars dans Scale AI [{k}].", "14 milliards")
    assert not shown.abstained and support_basis(shown) == "unsupported"
