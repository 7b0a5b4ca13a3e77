"""The retrieval side of the `rag` command, and `rag eval --replay` (recorded answers checked again, nothing written), run in-process through rag.cli.main."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import DEVELOPPEZ, FUTURISM, ROOT
from rag.cli import main

SHARED_QUESTIONS = ROOT.parent / "shared" / "eval" / "questions.jsonl"


pytestmark = pytest.mark.usefixtures("cli_models")


def write_questions(path: Path) -> Path:
    rows = [
        {"id": "t-fr", "lang": "fr", "kind": "factoid", "question": "Combien Meta a-t-il investi dans Scale AI ?", "expect": [["14 milliards"]]},
        {"id": "t-en", "lang": "en", "kind": "factoid", "question": "How much money did Meta put into Scale AI?", "expect": [["14"]]},
        {"id": "t-en2", "lang": "en", "kind": "factoid", "question": "When was ChatGPT released?", "expect": [["2022"]]},
        {"id": "t-no", "lang": "en", "kind": "unanswerable", "question": "What is LeCun's favourite colour?", "expect": []},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- eval --retrieval


def test_eval_retrieval_prints_recall_per_language(tmp_path, index_arg, capsys):
    questions = write_questions(tmp_path / "q.jsonl")
    assert main([*index_arg, "eval", str(questions), "--retrieval"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["lang", "n", "recall@1", "recall@4", "MRR", "given"]
    table = {parts[0]: parts[1:] for parts in (line.split() for line in lines[1:-1]) if parts}
    assert table["fr"][0] == "1" and table["en"][0] == "2" and table["all"][0] == "3"  # the unanswerable one is left out
    for lang in ("fr", "en", "all"):
        recall_at_4, given = float(table[lang][2]), float(table[lang][4])
        assert recall_at_4 == given == 1.0, out
    assert "evidence not given" not in out


def test_eval_retrieval_json(tmp_path, index_arg, capsys):
    questions = write_questions(tmp_path / "q.jsonl")
    assert main([*index_arg, "eval", str(questions), "--retrieval", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["k"] == 4
    assert set(result["by_language"]) == {"fr", "en", "all"}
    ranks = {row["id"]: row["rank"] for row in result["questions"]}
    assert set(ranks) == {"t-fr", "t-en", "t-en2"}
    assert all(rank is not None and rank <= 4 for rank in ranks.values())


def test_eval_retrieval_ranks_the_evidence_sentence_and_tells_cross_language_questions(tmp_path, index_arg, capsys):
    """A question quoting its evidence is found by that sentence, not only by its expected strings (which another
    chunk may hold); a question in another language than its evidence counts across languages."""
    evidence = "Zuckerberg a injecté 14 milliards de dollars dans Scale AI pour acquérir une participation de 49 %"
    rows = [
        {"id": "fr", "lang": "fr", "kind": "factoid", "question": "Combien Meta a-t-il investi dans Scale AI ?", "expect": [["14"]], "evidence": evidence},
        {"id": "en", "lang": "en", "kind": "factoid", "question": "How much did Meta put into Scale AI?", "expect": [["14"]], "evidence": evidence},
        {"id": "nowhere", "lang": "en", "kind": "factoid", "question": "What did Meta buy?", "expect": [["14"]], "evidence": "A sentence no document holds."},
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    assert main([*index_arg, "eval", str(questions), "--retrieval", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    by_id = {row["id"]: row for row in result["questions"]}
    assert by_id["fr"]["evidence_lang"] == by_id["en"]["evidence_lang"] == "fr"
    assert 1 <= by_id["fr"]["evidence_rank"] <= 4 and 1 <= by_id["en"]["evidence_rank"] <= 4
    assert by_id["nowhere"]["evidence_lang"] is None and by_id["nowhere"]["evidence_rank"] is None
    assert result["by_reach"] == {"same": {"n": 1, "evidence@4": 1.0}, "across": {"n": 1, "evidence@4": 1.0}}
    assert main([*index_arg, "eval", str(questions), "--retrieval"]) == 0
    assert "evidence sentence in the top 4: 1.000 of 1 questions in the language of their evidence, 1.000 of 1 questions across languages" in capsys.readouterr().out


@pytest.mark.skipif(not SHARED_QUESTIONS.is_file(), reason="../shared/eval/questions.jsonl not beside the project")
def test_eval_retrieval_on_the_public_set(index_arg, capsys):
    assert main([*index_arg, "eval", str(SHARED_QUESTIONS), "--retrieval"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[1:]]
    langs = {row[0]: row for row in rows if row and row[0] in ("fr", "en", "all")}
    assert set(langs) == {"fr", "en", "all"}
    for row in langs.values():
        assert int(row[1]) > 0
        assert 0.0 <= float(row[3]) <= 1.0


def test_eval_missing_question_file_is_a_usage_error(tmp_path, index_arg, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main([*index_arg, "eval", str(missing), "--retrieval"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {missing}: question file not found (give one: rag eval FILE)\n"


# ---------------------------------------------------------------- search


def test_search_json(index_arg, docs_index, capsys):
    _, index = docs_index
    assert main([*index_arg, "search", "Combien Meta a-t-il investi dans Scale AI ?", "--json", "-k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    for hit in hits:
        assert {"title", "start", "end", "score", "text", "doc_id", "label"} <= set(hit)
        assert isinstance(hit["start"], int) and isinstance(hit["end"], int) and isinstance(hit["score"], float)
        doc = index.documents[hit["doc_id"]]
        assert hit["title"] == doc.title
        assert doc.text[hit["start"] : hit["end"]] == hit["text"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert any("14 milliards" in h["text"] for h in hits)


def test_search_text_output(index_arg, capsys):
    assert main([*index_arg, "search", "How much money did Meta put into Scale AI?"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^\[\d\] score ", out, flags=re.MULTILINE)) == 4
    assert "14 milliards" in out


def test_search_empty_question(index_arg, capsys):
    assert main([*index_arg, "search", "  "]) == 2
    assert capsys.readouterr().err == "error: the question is empty\n"


def test_search_with_a_missing_index_given_by_flag(tmp_path, capsys):
    assert main(["--index", str(tmp_path / "none"), "search", "Qui est LeCun ?"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and str(tmp_path / "none") in lines[0] and "rag ingest" in lines[0]


def test_search_with_no_index_in_the_working_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search", "Qui est LeCun ?"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no index in index")


def test_eval_with_a_corrupt_index(tmp_path, capsys):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    (index_dir / "CURRENT").write_text("v-gone")
    questions = write_questions(tmp_path / "q.jsonl")
    assert main(["--index", str(index_dir), "eval", str(questions), "--retrieval"]) == 2
    lines = capsys.readouterr().err.splitlines()
    # No version is left to lose: the advice is a plain ingest, which works (tests/test_attacks_cli.py).
    assert len(lines) == 1 and lines[0].startswith("error: ") and "CURRENT" in lines[0] and "`rag ingest`" in lines[0]


# ---------------------------------------------------------------- docs, ingest, remove


def test_docs_json(index_arg, capsys):
    assert main([*index_arg, "docs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["doc_id"] for r in rows) == [DEVELOPPEZ, FUTURISM]
    assert all(r["n_chunks"] > 10 and r["title"] for r in rows)


def test_ingest_and_remove_through_the_cli(tmp_path, small_docs, capsys):
    paths = small_docs(alpha=6)
    empty = paths["alpha"].parent / "empty.txt"
    empty.write_bytes(b"")
    index = ["--index", str(tmp_path / "index")]

    # One file failed: the command fails too, though the other one was indexed.
    assert main([*index, "ingest", "-q", str(paths["alpha"].parent)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"error: {empty}: empty file"]
    assert captured.out.startswith("1 added, 0 updated, 0 unchanged, 0 removed, 1 failed;")

    assert main([*index, "ingest", "-q", str(paths["alpha"])]) == 0
    assert capsys.readouterr().out.startswith("index up to date: 0 added, 0 updated, 1 unchanged")

    assert main([*index, "remove", "nope"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: nope: no such document in the index\n"
    assert main([*index, "remove", "alpha"]) == 0
    assert capsys.readouterr().out == "removed alpha; 0 chunks left\n"


# ---------------------------------------------------------------- eval --replay: recorded answers checked again


def recorded_run(path: Path) -> Path:
    """A run as `rag eval --json` saves it, for two of the four questions of write_questions."""
    rows = [
        # Recorded as shown: the invented figure (15, the articles say 14) is withheld by the check as it is.
        {"id": "t-fr", "abstained": False, "correct": False, "raw": "Zuckerberg a injecté 15 milliards de dollars dans Scale AI [1]."},
        {"id": "t-no", "abstained": True, "correct": True, "raw": "[0]"},
    ]
    path.write_text(json.dumps({"model": "qwen2.5-coder-1.5b", "questions": rows}), encoding="utf-8")
    return path


def test_eval_replay_checks_recorded_answers_again_and_lists_the_changed_decisions(tmp_path, index_arg, capsys):
    questions, run = write_questions(tmp_path / "q.jsonl"), recorded_run(tmp_path / "run.json")
    assert main([*index_arg, "eval", str(questions), "--replay", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in result["questions"]] == ["t-fr", "t-no"] and result["not_recorded"] == 2
    assert result["changed"] == [{"id": "t-fr", "was": {"abstained": False, "correct": False}, "now": {"abstained": True, "correct": False}}]
    assert result["overall"]["decline_accuracy"] == 1.0 and result["overall"]["wrong_shown_rate"] == 0.0
    assert main([*index_arg, "eval", str(questions), "--replay", str(run)]) == 0
    assert "decisions changed: t-fr shown, wrong → withheld, wrong" in capsys.readouterr().out


def test_eval_replay_refuses_what_is_not_a_recorded_run_and_a_judge_that_must_write(tmp_path, index_arg, capsys):
    questions = write_questions(tmp_path / "q.jsonl")
    broken = tmp_path / "broken.json"
    broken.write_text('{"questions": [', encoding="utf-8")
    assert main([*index_arg, "eval", str(questions), "--replay", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {broken}: cannot read a recorded run")
    broken.write_text("[]", encoding="utf-8")
    assert main([*index_arg, "eval", str(questions), "--replay", str(broken)]) == 2
    assert "not a recorded run" in capsys.readouterr().err
    run = recorded_run(tmp_path / "run.json")
    assert main([*index_arg, "eval", str(questions), "--replay", str(run), "--judge", "model"]) == 2
    assert "--judge embedding or none" in capsys.readouterr().err
