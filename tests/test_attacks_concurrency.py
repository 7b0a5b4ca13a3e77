"""Eight clients at once on the app launched in this process (ui_server), while a document is uploaded and another
removed: four through the web chat's API (gradio_client `/ask`), four through `/v1/chat/completions` (two streamed).

Each question is about its own made-up company, written in its own small document; an answer mixed up with another
question would carry that other company's name, product or document. Every question must be answered, each answer
about its own company and citing only its document, and the time each /v1 request waited is reported
(`rag_queue_ms`). Eight model answers, at most 48 tokens each.
"""
from __future__ import annotations

import threading
import time

import pytest
from gradio_client import Client

from conftest import keep_only_original_docs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

# doc id: (company, what it makes: a word every right answer holds, the sentence)
COMPANIES = {
    "vandrel": ("Vandrel", "parapluie", "La société Vandrel fabrique des parapluies violets à Lyon depuis 1987."),
    "quimpex": ("Quimpex", "bougie", "La société Quimpex fabrique des bougies parfumées à Lille depuis 1990."),
    "fardolin": ("Fardolin", "vélo", "La société Fardolin fabrique des vélos pliants à Nantes depuis 1975."),
    "gribouze": ("Gribouze", "crayon", "La société Gribouze fabrique des crayons de couleur à Dijon depuis 1962."),
    "marvelec": ("Marvelec", "ampoule", "La société Marvelec fabrique des ampoules solaires à Toulouse depuis 2001."),
    "pontavis": ("Pontavis", "bateau", "La société Pontavis fabrique des bateaux en bois à Brest depuis 1948."),
    "sylvacor": ("Sylvacor", "meuble", "La société Sylvacor fabrique des meubles en chêne à Annecy depuis 1983."),
    "tromblon": ("Tromblon", "trompette", "La société Tromblon fabrique des trompettes en cuivre à Reims depuis 1955."),
}
DOOMED = ("Orvanix", "La société Orvanix fabrique des tapis de laine à Rouen depuis 1931.")
NEWCOMER = ("Belzanne", "La société Belzanne fabrique des montres en bois à Besançon depuis 2012.")
MAX_TOKENS = 48


def _write(folder, company: str, sentence: str):
    path = folder / f"{company.lower()}.txt"
    path.write_text(f"{company}\n{sentence}\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def companies(ui_server, tmp_path_factory):
    """The nine company documents uploaded (eight asked about, one to remove); everything added is removed after."""
    from ui.app import upload

    state = ui_server.state
    folder = tmp_path_factory.mktemp("companies")
    paths = [_write(folder, company, sentence) for company, _, sentence in COMPANIES.values()] + [_write(folder, *DOOMED)]
    message, *_ = upload(state, [str(p) for p in paths], progress=lambda *a, **k: None)
    assert message.count("✅") == 9, message
    yield folder
    keep_only_original_docs(state)


def question(company: str) -> str:
    return f"Que fabrique la société {company} ?"


def test_eight_clients_at_once_during_an_upload_and_a_removal(ui_server, companies, monkeypatch):
    import openai

    from ui.app import remove, upload

    state = ui_server.state
    for generator in state.generators.values():
        monkeypatch.setattr(generator, "max_tokens", MAX_TOKENS)
    doc_ids = list(COMPANIES)
    results: dict[str, object] = {}
    newcomer = _write(companies, *NEWCOMER)

    def web(doc_id: str) -> None:
        try:
            answer = Client(ui_server.url, verbose=False).predict(question(COMPANIES[doc_id][0]), "[]", "", 4, True, api_name="/ask")
            results[doc_id] = (answer, None)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[doc_id] = exc

    def api(doc_id: str, stream: bool) -> None:
        client = openai.OpenAI(base_url=f"{ui_server.url}v1", api_key="unused-on-loopback", timeout=900, max_retries=0)
        messages = [{"role": "user", "content": question(COMPANIES[doc_id][0])}]
        try:
            if stream:
                last = list(client.chat.completions.create(model="", stream=True, messages=messages))[-1]
                results[doc_id] = (last.model_extra["rag"], last.model_extra["rag_queue_ms"])
            else:
                reply = client.chat.completions.create(model="", messages=messages)
                assert reply.choices[0].message.content == reply.model_extra["rag"]["answer"]
                results[doc_id] = (reply.model_extra["rag"], reply.model_extra["rag_queue_ms"])
        except Exception as exc:  # noqa: BLE001
            results[doc_id] = exc

    def writer() -> None:
        try:
            time.sleep(1.0)  # the questions are in line first
            added, *_ = upload(state, [str(newcomer)], progress=lambda *a, **k: None)
            removed, *_ = remove(state, DOOMED[0].lower())
            results["writes"] = (added, removed)
        except Exception as exc:  # noqa: BLE001
            results["writes"] = exc

    threads = [threading.Thread(target=web, args=(d,)) for d in doc_ids[:4]]
    threads += [threading.Thread(target=api, args=(d, i % 2 == 0)) for i, d in enumerate(doc_ids[4:])]
    threads.append(threading.Thread(target=writer))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    elapsed = time.perf_counter() - started
    assert not any(t.is_alive() for t in threads), "a client never got its answer"

    writes = results.pop("writes", None)
    assert isinstance(writes, tuple), f"the upload or the removal failed: {writes!r}"
    added, removed = writes
    assert "✅ belzanne" in added, added
    assert "orvanix" in removed.lower() and "unknown" not in removed.lower(), removed
    documents = set(state.retriever.index.documents)
    assert "belzanne" in documents and "orvanix" not in documents

    waits = []
    for doc_id in doc_ids:
        result = results.get(doc_id)
        assert isinstance(result, tuple), f"{doc_id}: {result!r}"
        rag, queue_ms = result
        company, product, _ = COMPANIES[doc_id]
        print(f"\n{doc_id}: {rag['answer']!r} queue_ms={queue_ms}")
        assert rag["question"] == question(company)
        assert not rag["abstained"], (doc_id, rag["answer"])
        assert product in rag["answer"].lower(), (doc_id, rag["answer"])
        others = [c for d, (c, p, _) in COMPANIES.items() if d != doc_id and (c.lower() in rag["answer"].lower() or p in rag["answer"].lower())]
        assert not others, (doc_id, others, rag["answer"])
        assert {c["doc_id"] for c in rag["citations"]} == {doc_id}, (doc_id, rag["citations"])
        if queue_ms is not None:
            waits.append(queue_ms)
    assert len(waits) == 4 and all(w >= 0 for w in waits)
    assert max(waits) > 0, waits  # one model, one answer at a time: someone waited
    print(f"\n8 answers in {elapsed:.1f} s; /v1 queue waits (ms): {sorted(waits)}")
