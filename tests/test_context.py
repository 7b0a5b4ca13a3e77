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
