"""The answering side of the `rag` command, run in-process through rag.cli.main.

Bad input must give one clear 'error:' line and exit code 2, never a traceback, and must be caught before the
1.5B model loads (llama_cpp.Llama is replaced by a tripwire in those tests). The happy path runs the real model.
"""
from __future__ import annotations

import json

import pytest

import llama_cpp
import rag.generation
from canned import CannedGenerator
from conftest import DEFAULT_LLM, FUTURISM
from rag.cli import main
from rag.gguf import PACKAGED_MODELS
from rag.ingest import ingest


pytestmark = pytest.mark.usefixtures("cli_models")


@pytest.fixture
def no_model_load(monkeypatch):
    """A tripwire: the test fails if llama.cpp is asked to load any model."""

    def tripwire(*args, **kwargs):
        raise AssertionError(f"the generation model was loaded: {kwargs.get('model_path')}")

    monkeypatch.setattr(llama_cpp, "Llama", tripwire)


@pytest.fixture
def session_generator(monkeypatch, generator):
    """`load_generator` hands out the session's 1.5B model instead of loading it a second time."""
    original = rag.generation.load_generator

    def load(settings, model=None):
        if (model or settings.llm_model) == DEFAULT_LLM:
            return generator
        return original(settings, model)

    monkeypatch.setattr(rag.generation, "load_generator", load)
    return generator


@pytest.fixture
def empty_index(tmp_path, settings_factory, embedder, small_docs) -> list[str]:
    """An index that held one document, then had it removed: zero documents, zero chunks."""
    index_dir = tmp_path / "empty-index"
    paths = small_docs(seul=8)
    report, _ = ingest(list(paths.values()), settings_factory(index_dir), embedder)
    assert report.added == ["seul"]
    assert main(["--index", str(index_dir), "remove", "seul"]) == 0
    return ["--index", str(index_dir)]


def one_error_line(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- bad input: exit 2, one line, no model loaded


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question(index_arg, capsys, no_model_load, question):
    assert main([*index_arg, "ask", question]) == 2
    one_error_line(capsys, "empty")


def test_question_of_20000_characters(index_arg, capsys, no_model_load):
    question = ("Pourquoi LeCun a-t-il quitté Meta ? " * 600)[:19999] + "?"
    assert len(question) == 20000
    assert main([*index_arg, "ask", question]) == 2
    one_error_line(capsys, "too long", "20000 characters")


def test_unknown_model_name(index_arg, capsys, no_model_load):
    assert main([*index_arg, "ask", "Quel âge a Alexandr Wang ?", "--model", "gpt-17-turbo"]) == 2
    line = one_error_line(capsys, "unknown model 'gpt-17-turbo'")
    assert all(name in line for name in PACKAGED_MODELS)


def test_missing_gguf_file(index_arg, capsys, no_model_load, tmp_path):
    missing = tmp_path / "absent.gguf"
    assert main([*index_arg, "ask", "Quel âge a Alexandr Wang ?", "--model", str(missing)]) == 2
    one_error_line(capsys, str(missing), "not found")


def test_corrupt_gguf_file(index_arg, capsys, no_model_load, tmp_path):
    corrupt = tmp_path / "x.gguf"
    corrupt.write_bytes(bytes(range(256)) * 64)
    assert main([*index_arg, "ask", "Quel âge a Alexandr Wang ?", "--model", str(corrupt)]) == 2
    one_error_line(capsys, str(corrupt), "not a valid GGUF")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_empty_index(empty_index, capsys, no_model_load, json_flag):
    assert main([*empty_index, "ask", "Quel âge a Alexandr Wang ?", *json_flag]) == 2
    one_error_line(capsys, "the index is empty", "rag ingest")


def test_empty_index_in_batch(empty_index, capsys, no_model_load, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"question": "Quel âge a Alexandr Wang ?"}) + "\n", encoding="utf-8")
    assert main([*empty_index, "batch", str(source)]) == 2
    one_error_line(capsys, "the index is empty")


def test_empty_index_in_answer_eval(empty_index, capsys, no_model_load, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "lang": "fr", "kind": "factoid", "question": "Qui ?", "expect": [["x"]]}) + "\n", encoding="utf-8")
    assert main([*empty_index, "eval", str(questions)]) == 2
    one_error_line(capsys, "the index is empty")


def test_missing_index(capsys, no_model_load, tmp_path):
    assert main(["--index", str(tmp_path / "no-index"), "ask", "Quel âge a Alexandr Wang ?"]) == 2
    one_error_line(capsys, "no index in", "rag ingest")


def test_batch_input_problems(index_arg, capsys, no_model_load, tmp_path):
    assert main([*index_arg, "batch", str(tmp_path / "absent.jsonl")]) == 2
    one_error_line(capsys, "input file not found")
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"question": "Quel âge a Wang ?"}\n'.encode("latin-1"))
    assert main([*index_arg, "batch", str(latin1)]) == 2
    one_error_line(capsys, "UTF-8")
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "Quel âge a Wang ?"}\n', encoding="utf-8")
    assert main([*index_arg, "batch", str(good), "-o", str(tmp_path / "missing-folder" / "out.jsonl")]) == 2
    one_error_line(capsys, "cannot write the output file")


def test_batch_bad_rows_are_reported_and_skipped(index_arg, capsys, session_generator, tmp_path, monkeypatch):
    """Each bad line gives one error naming file:line; nothing is generated, the exit code is 1."""
    prompts: list[str] = []
    real_stream = session_generator.stream_chat

    def recording(messages, max_tokens=None, odds=None):
        prompts.append(messages[-1]["content"])
        return real_stream(messages, max_tokens, odds)

    monkeypatch.setattr(session_generator, "stream_chat", recording)
    source = tmp_path / "bad.jsonl"
    rows = [
        "{not json",
        json.dumps({"id": 1}),
        json.dumps({"question": 42}),
        json.dumps({"question": "Quel âge a Wang ?", "history": "Alexandr Wang"}),
        json.dumps({"question": "   "}),
        json.dumps({"question": "x" * 20000}),
        "",
        json.dumps(["question"]),
    ]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main([*index_arg, "batch", str(source), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    errors = captured.err.splitlines()
    assert len(errors) == 7 and all(line.startswith(f"error: {source}:") for line in errors)
    assert "not valid JSON" in errors[0] and "question" in errors[1] and "history" in errors[3]
    assert "empty" in errors[4] and "too long" in errors[5]
    assert out.read_text(encoding="utf-8") == ""
    assert prompts == ["?"]  # the warm-up only: no question reached the model


# ---------------------------------------------------------------- the real model


def test_ask_streams_the_answer_then_the_cited_quotes(index_arg, capsys, session_generator, docs_index):
    _, index = docs_index
    assert main([*index_arg, "ask", "Quand ChatGPT est-il sorti ?"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.out.splitlines()
    assert "2022" in lines[0], captured.out  # the streamed answer comes first
    citations = [line for line in lines if line.startswith("[")]
    assert citations, captured.out
    doc = index.documents[FUTURISM]
    flat = " ".join(doc.text.split())
    for line in citations:
        quote = line.split(" — « ", 1)[1].rsplit(" »", 1)[0]  # French quote marks: a French question
        assert quote in flat  # verbatim (whitespace folded for the terminal)
    assert any("novembre 2022" in line for line in citations)
    assert lines[-1].startswith(f"({DEFAULT_LLM} · sources ") and " · premier mot " in lines[-1], lines[-1]
    evidence = [line for line in captured.err.splitlines() if line.startswith("Sources : ")]
    assert len(evidence) == 1 and index.documents[FUTURISM].title[:40] in evidence[0], captured.err


# ---------------------------------------------------------------- wiring, with a canned generator


@pytest.fixture
def canned(monkeypatch):
    def install(answers: list[str]) -> CannedGenerator:
        gen = CannedGenerator(answers)
        monkeypatch.setattr(rag.generation, "load_generator", lambda settings, model=None: gen)
        return gen

    return install


def test_ask_json_prints_the_contract(index_arg, capsys, canned):
    canned(["Meta a investi 14 milliards de dollars dans Scale AI {14 milliards}."])
    assert main([*index_arg, "ask", "--json", "Combien Meta a-t-il investi dans Scale AI ?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["question"] == "Combien Meta a-t-il investi dans Scale AI ?" and data["model"] == "canned"
    assert not data["abstained"] and data["citations"] and "14 milliards" in data["citations"][0]["quote"]


def test_ask_shows_the_evidence_before_the_model_reads_its_prompt(index_arg, capsys, canned, docs_index, monkeypatch):
    """The documents' titles reach stderr before the model is asked; stdout keeps the answer, then the quotes."""
    import sys

    _, index = docs_index
    gen = canned(["Meta a investi 14 milliards de dollars dans Scale AI {14 milliards}."])
    seen_before_model: list[str] = []
    write = gen.stream_chat

    def stream_chat(messages, max_tokens=None, odds=None):
        seen_before_model.append(sys.stderr.getvalue())
        yield from write(messages, max_tokens, odds)

    monkeypatch.setattr(gen, "stream_chat", stream_chat)
    assert main([*index_arg, "ask", "Combien Meta a-t-il investi dans Scale AI ?"]) == 0
    captured = capsys.readouterr()
    (line,) = [x for x in seen_before_model[0].splitlines() if x.startswith("Sources : ")]  # in the question's language
    titles = {doc.title for doc in index.documents.values()}
    assert any(" ".join(t.split())[:40] in line for t in titles), line
    assert line in captured.err and "Sources :" not in captured.out
    out = captured.out.splitlines()
    assert "14 milliards" in out[0] and any(x.startswith("[1] ") for x in out[1:]), captured.out


def test_ask_json_stays_one_object_without_the_evidence_line(index_arg, capsys, canned):
    canned(["Meta a investi 14 milliards de dollars dans Scale AI {14 milliards}."])
    assert main([*index_arg, "ask", "--json", "Combien Meta a-t-il investi dans Scale AI ?"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert set(data["timings_ms"]) == {"retrieve", "evidence", "first_token", "check", "total"}
    assert "Sources :" not in captured.out + captured.err


def test_chat_keeps_the_conversation_until_new(index_arg, capsys, canned, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")  # the terminal's language: refusals of a question are in it
    # The answer its line states: the line names "Wang" only, and a claim relating two names needs each in its line.
    gen = canned(["Wang dirige le nouveau Superintelligence Labs {Superintelligence Labs}.", "Il a 29 ans {29 ans}."])
    typed = iter(["Qui dirige les Superintelligence Labs de Meta ?", "Et quel âge a-t-il ?", "x" * 20000, "/new", "Et quel âge a-t-il ?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    assert main([*index_arg, "chat"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert len(gen.prompts) == 3
    second, third = gen.prompts[1][1]["content"], gen.prompts[2][1]["content"]
    # The follow-up is asked as typed, with the previous exchange beside it for the model to resolve "il"...
    assert second.rstrip().endswith("Question : Et quel âge a-t-il ?")
    assert "Réponse précédente : Wang dirige le nouveau Superintelligence Labs." in second
    # ...while after /new there is no previous exchange any more.
    assert third.rstrip().endswith("Question : Et quel âge a-t-il ?") and "Question précédente" not in third
    assert "error: La question est trop longue (20000 caractères, limite 2000)." in captured.out


@pytest.mark.parametrize(("locale", "lang"), [("de_DE.UTF-8", "de"), ("es_ES.UTF-8", "es"), ("C.UTF-8", "en"), ("pt_BR.UTF-8", "en")])
def test_chat_greets_in_the_terminal_language_and_answers_in_the_question_language(index_arg, capsys, canned, monkeypatch, locale, lang):
    """The greeting follows the locale (English for C or a language without text); what surrounds an answer
    (quote marks, the flag of an unsupported quote, the times) follows the question, whatever the locale."""
    from rag.languages import words

    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", locale)
    canned(["Meta a investi 14 milliards de dollars dans Scale AI {14 milliards}."])
    typed = iter(["Combien Meta a-t-il investi dans Scale AI ?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    assert main([*index_arg, "chat"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == words(lang)("chat_welcome")
    assert any(line.startswith("[1] ") and " — « " in line and line.endswith(" »") for line in out), out
