"""Which units of the retrieved chunks the model reads (rag/context.py), on a real man page with the real e5 model."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag import context as ctx

CORPUS = Path(__file__).parent / "data" / "debian" / "corpus"
CRONTAB = CORPUS / "fr-man-crontab.txt"


@pytest.fixture(scope="module")
def crontab_pipeline(tmp_path_factory, settings_factory, embedder, tokenizer):
    """The pipeline over the French crontab(1) man page alone, counting tokens with the real GGUF tokenizer."""
    from rag.ingest import ingest
    from rag.pipeline import Pipeline
    from rag.retrieval import Retriever

    if not CRONTAB.is_file():
        pytest.skip(f"Debian corpus not built (bash scripts/debian_corpus.sh): {CRONTAB.name}")
    folder = tmp_path_factory.mktemp("crontab")
    (folder / CRONTAB.name).write_bytes(CRONTAB.read_bytes())
    settings = settings_factory(folder / "index")
    report, index = ingest([folder], settings, embedder)
    assert not report.errors, report.errors
    return Pipeline(settings, Retriever(index, embedder, settings), tokenizer)


def test_the_line_about_an_option_the_question_names_reaches_the_model_across_languages(crontab_pipeline):
    """Asked in English about `-i`, e5 scores the French option lines alike and the synopsis naming every option
    above the line defining `-i`: the line that names it among the fewest other options is kept."""
    question = "What does the -i option of crontab do?"
    prepared = crontab_pipeline.prepare(question)
    lines = [s.text for s in prepared.sources]
    defining = [t for t in lines if t.startswith("L'option -i ")]
    assert defining and "confirmation" in defining[0], lines

    index = crontab_pipeline.retriever.index
    hits = crontab_pipeline.retriever.search(question, lang="en")
    scored, _ = ctx.score_units([question], ctx.candidates(hits), index, crontab_pipeline.retriever.embedder)
    [kept] = ctx.holding(scored, ["-i"], index)
    synopsis = [c for c in scored if "[ -i ]" in ctx.unit_text(index, c)]
    assert ctx.unit_text(index, kept).startswith("L'option -i ")
    assert synopsis and synopsis[0].score > kept.score  # the synopsis scores higher, yet is not the one kept


def test_a_span_no_unit_writes_keeps_nothing(crontab_pipeline):
    index = crontab_pipeline.retriever.index
    hits = crontab_pipeline.retriever.search("What does the -i option of crontab do?", lang="en")
    scored, _ = ctx.score_units(["-i"], ctx.candidates(hits), index, crontab_pipeline.retriever.embedder)
    assert ctx.holding(scored, ["--nowhere", "-z"], index) == []


PROSE = (
    "Debian keeps a list of the packages each configured archive offers, and refreshes it when asked. "
    "The list tells which version of every package is available, so that a newer one can be installed "
    "in place of the version already on the system. Reading it needs no network. "
)
UPGRADES = f"""# Upgrades

{PROSE}To list every package for which a newer version is available, run:

```
apt list --upgradable
```

Upgrading all of them at once is the next step and is described in its own section further down.

# Flags

{PROSE}The flags of a package in the status database, and their meanings, are:

- unknown: the user never said whether the package is wanted.
- install: the user wants the package installed or upgraded.
- remove: the user wants the package removed.
- purge: the user wants the package and its configuration removed.
- hold: the package is kept at its version.

The flags are shown in the first column of the listing.
"""


@pytest.fixture(scope="module")
def upgrades_index(tmp_path_factory, settings_factory, embedder):
    """A Markdown page whose lead-in lines ("run:", "are:") end a chunk: what they announce opens the next one."""
    from rag.ingest import ingest

    folder = tmp_path_factory.mktemp("upgrades")
    (folder / "docs").mkdir()
    (folder / "docs" / "upgrades.md").write_text(UPGRADES, encoding="utf-8")
    report, index = ingest([folder / "docs"], settings_factory(folder / "index"), embedder)
    assert not report.errors, report.errors
    return index


def _lines_given(index, embedder, tokenizer, lead_in: str, question: str, lead_in_lines: int, budget: int = 220) -> list[str]:
    """The lines the model reads when retrieval returns only the chunk that ends with `lead_in`."""
    from rag.retrieval import Hit

    [chunk] = [c for c in index.chunks if c.text.rstrip().endswith(lead_in)]
    scored, _ = ctx.score_units([question], ctx.candidates([Hit(chunk, 1.0, None, None)]), index, embedder)
    passages = ctx.select_passages(scored, index, budget, tokenizer.count_tokens, 0.06, lead_in_lines=lead_in_lines)
    return [p.doc.text[u.start : u.end] for p in passages for u in p.units]


def test_a_line_ending_with_a_colon_brings_the_command_it_announces_from_the_next_chunk(upgrades_index, embedder, tokenizer):
    """Without its command, "run:" leaves the model to write one of its own."""
    question = "How do I list the packages that have a newer version?"
    lines = _lines_given(upgrades_index, embedder, tokenizer, "run:", question, lead_in_lines=6)
    at = next(i for i, line in enumerate(lines) if line.endswith("run:"))
    assert lines[at + 1 : at + 2] == ["apt list --upgradable"], lines
    assert not any(line.startswith("Upgrading all") for line in lines), lines  # prose after a code line is not announced
    assert "apt list --upgradable" not in _lines_given(upgrades_index, embedder, tokenizer, "run:", question, lead_in_lines=0)


def test_a_line_ending_with_a_colon_brings_its_list_items_up_to_the_limit(upgrades_index, embedder, tokenizer):
    question = "What do the package flags mean?"
    lines = _lines_given(upgrades_index, embedder, tokenizer, "are:", question, lead_in_lines=3)
    at = next(i for i, line in enumerate(lines) if line.endswith("meanings, are:"))
    assert [line.split(":")[0] for line in lines[at + 1 :]] == ["unknown", "install", "remove"], lines


def test_a_line_ending_with_a_colon_is_given_with_what_it_announces_or_not_at_all(upgrades_index, embedder, tokenizer):
    """Whatever the budget, "run:" never reaches the model without its command (unless it is all there is)."""
    question = "Does reading the list of packages need the network?"
    seen = set()
    for budget in range(30, 140, 4):
        lines = _lines_given(upgrades_index, embedder, tokenizer, "run:", question, lead_in_lines=6, budget=budget)
        given = [at for at, line in enumerate(lines) if line.endswith("run:")]
        seen.add(bool(given))
        if len(lines) > 1:
            assert all(lines[at + 1 : at + 2] == ["apt list --upgradable"] for at in given), (budget, lines)
    assert seen == {True, False}  # some budgets leave it out, others give it with its command
