"""The web UI's API through gradio_client, against the app launched once in this process (ui_server)."""
from __future__ import annotations

import threading

import jsonschema
import pytest
from gradio_client import Client

from conftest import DEVELOPPEZ, FUTURISM
from rag.contract import ANSWER_SCHEMA

pytestmark = [
    pytest.mark.slow,
    # pandas deprecations raised inside gradio's queue, not by this project
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

QUESTION = "Combien Meta a-t-il investi dans Scale AI ?"

_INT = {"type": "integer"}


@pytest.fixture(scope="module")
def client(ui_server) -> Client:
    return Client(ui_server.url, verbose=False)


@pytest.fixture(scope="module")
def scale_answer(client) -> dict:
    return client.predict(QUESTION, "[]", "", 4, True, api_name="/ask")


def test_ask_returns_the_json_contract(scale_answer):
    jsonschema.validate(scale_answer, ANSWER_SCHEMA)
    assert scale_answer["question"] == QUESTION
    assert not scale_answer["abstained"], scale_answer["answer"]
    assert scale_answer["citations"], scale_answer
    assert scale_answer["timings_ms"]["total"] > 0


def test_ask_cites_the_investment_verbatim(scale_answer, ui_server):
    quotes = [c["quote"] for c in scale_answer["citations"]]
    assert any("14 milliards" in q for q in quotes), quotes
    documents = ui_server.state.retriever.index.documents
    for citation in scale_answer["citations"]:
        doc = documents[citation["doc_id"]]
        assert citation["title"] == doc.title
        assert 0 <= citation["start"] < citation["end"] <= len(doc.text)
        assert doc.text[citation["start"] : citation["end"]] == citation["quote"]


def test_documents_lists_the_two_articles(client):
    docs = client.predict(api_name="/documents")
    assert isinstance(docs, list)
    assert sorted(d["doc_id"] for d in docs) == [DEVELOPPEZ, FUTURISM]
    for doc in docs:
        assert set(doc) == {"doc_id", "title", "n_chunks", "added_at", "source"}
        assert doc["title"] and doc["n_chunks"] > 0


def test_empty_question_is_an_error_with_a_clear_message(client):
    with pytest.raises(Exception) as caught:
        client.predict("   ", "[]", "", 4, True, api_name="/ask")
    assert "empty" in str(caught.value).lower(), repr(caught.value)


def test_bad_history_is_an_error_with_a_clear_message(client):
    with pytest.raises(Exception) as caught:
        client.predict(QUESTION, "{not json", "", 4, True, api_name="/ask")
    assert "history_json" in str(caught.value), repr(caught.value)


def test_two_concurrent_questions_are_queued_and_both_answered(ui_server):
    questions = [QUESTION, "Pourquoi Yann LeCun quitte-t-il Meta ?"]
    results: dict[int, object] = {}

    def ask(i: int) -> None:
        try:
            results[i] = Client(ui_server.url, verbose=False).predict(questions[i], "[]", "", 4, True, api_name="/ask")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a queued question never completed"
    for i, question in enumerate(questions):
        result = results.get(i)
        assert isinstance(result, dict), f"question {i} failed: {result!r}"
        jsonschema.validate(result, ANSWER_SCHEMA)
        assert result["question"] == question
        assert result["answer"].strip()


def test_the_fast_model_is_loaded_on_its_first_question_not_at_start(client, ui_server):
    """Start-up loads the default model only; the fast one is offered, then loaded when a question picks it."""
    from rag.gguf import PACKAGED_MODELS, models_dir
    from ui.state import FAST_MODEL

    state = ui_server.state
    if not (models_dir(state.settings.cache_dir) / PACKAGED_MODELS[FAST_MODEL].filename).is_file():
        pytest.skip(f"{FAST_MODEL} is not set up (rag setup --model {FAST_MODEL})")
    assert list(state.generators) == [state.settings.llm_model], "the fast model was loaded at start-up"
    assert state.model_choices() == [state.settings.llm_model, FAST_MODEL]
    assert FAST_MODEL in state.status("en")

    result = client.predict(QUESTION, "[]", FAST_MODEL, 4, True, api_name="/ask")
    jsonschema.validate(result, ANSWER_SCHEMA)
    assert result["model"] == FAST_MODEL and result["answer"].strip()
    assert list(state.generators) == [state.settings.llm_model, FAST_MODEL]
    loaded = state.generators[FAST_MODEL]
    assert state.generator(FAST_MODEL) is loaded  # loaded once, then reused
