"""The JSON contract shared by `rag ask --json`, `rag batch` and the web API, checked with a JSON schema.

One real answer (the 1.5B model) and a real `rag batch` run of three questions.
"""
from __future__ import annotations

import json
import sys

import jsonschema
import pytest

import rag.embeddings
import rag.generation
from conftest import DEFAULT_LLM
from rag.claims import parse_markers
from rag.contract import ANSWER_SCHEMA
from rag.cli import main

SCHEMA = ANSWER_SCHEMA


def check_contract(data: dict, index) -> None:
    """Schema, then what a schema cannot say: numbering, markers, verbatim quotes, timings."""
    jsonschema.validate(data, SCHEMA)
    passage_ns = [p["n"] for p in data["passages"]]
    assert passage_ns == list(range(1, len(passage_ns) + 1))
    read = {(p["doc_id"], p["chunk_id"]) for p in data["passages"]}
    markers = parse_markers(data["answer"])
    cited = [c["n"] for c in data["citations"]]
    assert cited == list(range(1, len(cited) + 1)), "citations are numbered 1.. in order"
    assert set(cited) == set(markers), "every citation has its [n] in the answer, and every [n] a citation"
    assert markers == sorted(markers, key=markers.index) and markers[:1] in ([], [1]), "numbered in order of appearance"
    for c in data["citations"]:
        assert (c["doc_id"], c["chunk_id"]) in read, "a quote comes from a passage the model read"
        doc = index.documents[c["doc_id"]]
        assert doc.text[c["start"] : c["end"]] == c["quote"] and c["start"] < c["end"]
        assert (c["title"], c["source"]) == (doc.title, doc.source)
    for p in data["passages"]:
        doc = index.documents[p["doc_id"]]
        flat = " ".join(doc.text.split())
        assert all(" ".join(piece.split()) in flat for piece in p["text"].split(" … "))
    if data["abstained"]:
        assert data["citations"] == []
    t = data["timings_ms"]
    assert 0 < t["retrieve"] <= t["evidence"] <= t["first_token"] <= t["total"]
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


@pytest.fixture(scope="module")
def wang_answer(pipeline):
    return pipeline.ask("Quel âge a Alexandr Wang ?")


def test_real_answer_matches_the_schema(wang_answer, docs_index):
    _, index = docs_index
    data = wang_answer.to_dict()
    check_contract(data, index)
    assert data["id"] is None and data["question"] == "Quel âge a Alexandr Wang ?" and data["model"] == DEFAULT_LLM
    assert not data["abstained"] and data["citations"]
    assert any(c["supported"] and ("28 ans" in c["quote"] or "29 ans" in c["quote"]) for c in data["citations"])
    # Both sides of the 28/29 conflict reach the model, with a note naming them.
    assert any("28 ans" in p["text"] for p in data["passages"]) and any("29 ans" in p["text"] for p in data["passages"])
    conflicts = [n for n in data["notes"] if n["kind"] == "conflict"]
    assert conflicts and "28 ans" in conflicts[0]["text"] and "29 ans" in conflicts[0]["text"], data["notes"]
    assert "28 ans" in data["answer"] and "29 ans" in data["answer"], "the answer says the sources disagree"


def test_citations_point_at_the_answer_claims(wang_answer):
    supported_ns = {n for claim, mapping in zip(wang_answer.claims, wang_answer.claim_citations) if claim.supported for n in mapping.values()}
    for citation in wang_answer.citations:
        assert citation.supported == (citation.n in supported_ns)


def test_abstained_answer_matches_the_schema(pipeline, docs_index):
    _, index = docs_index
    prepared = pipeline.prepare("Quel est le cours actuel de l'action Meta ?")
    answer = pipeline.finish(prepared, "[0]")
    answer.timings_ms = {
        "retrieve": prepared.retrieve_ms,
        "evidence": prepared.retrieve_ms,
        "first_token": prepared.retrieve_ms + 1,
        "check": 0.0,
        "total": prepared.retrieve_ms + 2,
    }
    answer.id = "q-42"
    data = answer.to_dict()
    check_contract(data, index)
    assert data["abstained"] and data["citations"] == [] and data["id"] == "q-42"
    assert data["answer"] == "Je ne trouve pas la réponse dans les documents." and data["lang"] == "fr"


# ---------------------------------------------------------------- rag batch


@pytest.fixture
def cli_with_session_models(monkeypatch, embedder, generator):
    """The CLI loads its own models: give it the session's e5 and 1.5B model instead."""
    original = rag.embeddings.load_embedder
    for name, module in list(sys.modules.items()):
        if (name == "rag" or name.startswith("rag.")) and getattr(module, "load_embedder", None) is original:
            monkeypatch.setattr(module, "load_embedder", lambda settings: embedder)
    load = rag.generation.load_generator
    monkeypatch.setattr(rag.generation, "load_generator", lambda s, m=None: generator if (m or s.llm_model) == DEFAULT_LLM else load(s, m))
    for var in ("RAG_INDEX_DIR", "RAG_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)


def test_batch_writes_one_valid_line_per_question(tmp_path, docs_index, cli_with_session_models, capsys):
    settings, index = docs_index
    rows = [
        {"id": "b-fr", "question": "Qui dirige les Superintelligence Labs de Meta ?"},
        {
            "id": 7,
            "question": "Et quel âge a-t-il ?",
            "history": [
                {"role": "user", "content": "Qui dirige les Superintelligence Labs de Meta ?"},
                {"role": "assistant", "content": "Alexandr Wang dirige les Superintelligence Labs [1]."},
            ],
        },
        {"id": "b-en", "question": "How much did Meta invest in Scale AI?"},
    ]
    source = tmp_path / "questions.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    output = tmp_path / "answers.jsonl"
    assert main(["--index", str(settings.index_dir), "batch", str(source), "-o", str(output)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    answers = [json.loads(line) for line in lines]
    for row, data in zip(rows, answers):
        check_contract(data, index)
        assert data["id"] == row["id"] and data["question"] == row["question"] and data["model"] == DEFAULT_LLM
    # The follow-up was read with its history: its passages hold Wang's age.
    assert any("28 ans" in p["text"] or "29 ans" in p["text"] for p in answers[1]["passages"])
    assert any("14 milliards" in p["text"] for p in answers[2]["passages"])
