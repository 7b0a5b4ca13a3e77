"""The PostgreSQL store: documents, chunks, offsets, embeddings and the manifest in one database.

- Dense side: pgvector, inner product on normalised e5 vectors. Exact (a sequential scan) up to
  `ann_threshold` chunks and through an HNSW index above it, with the FAISS store's parameters (m,
  ef_construction, ef_search), so that small corpora rank exactly as with FAISS.
- Keyword side: PostgreSQL full-text search. Each unit of a chunk is analysed with its language's text search
  configuration (`rag_fr`, `rag_en`, … = the Snowball stemmer rag/languages names; `rag_simple` for the others;
  where PostgreSQL's Snowball release differs from PyStemmer's, as Dutch does in PostgreSQL 18, stems differ), its
  stems unaccented (the `unaccent` extension) and the language's stop words deleted, the chunk's tsvector is
  GIN-indexed, and matching chunks are ranked by BM25 (the formula and
  parameters of bm25s, which the FAISS store uses) from the tsvector's term frequencies and a table of document
  frequencies kept up to date by every write.
- Writes are one transaction under an advisory lock: a crash leaves the previous state, and other processes
  see all of a commit or none of it. `rag_meta.generation` goes up by one with each commit; a serving process
  compares it before each answer and reloads what changed, without a restart.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
from pathlib import Path
from typing import Iterable

import numpy as np

from rag import languages
from rag.index import FORMAT_VERSION, Index, IndexMismatch, IndexMissing, IndexProblem, Salvage
from rag.store import Commit
from rag.types import Chunk, Document

LOCK_KEY = 7_261_670  # advisory lock of writers ("rag" in ASCII, roughly)
BM25_K1, BM25_B = 1.5, 0.75  # bm25s defaults (method "lucene"), as the FAISS store ranks
SCHEMA_VERSION = 2  # 2: a text search configuration for every language the registry stems, not five
TIE_MARGIN = 16  # extra keyword rows fetched so that ties at the cut are broken as bm25s breaks them


class StoreUnavailable(IndexProblem):
    """The database cannot be reached or used; the message says which and why."""


def ts_config(lang: str) -> str:
    """The text search configuration of a language: rag_<code> when the registry stems it, as the FAISS store does."""
    return f"rag_{lang}" if lang in languages.stemmers() else "rag_simple"


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _text_search_sql() -> str:
    """rag_<code>: the language's Snowball stemmer (as rag/languages names it), without PostgreSQL's stop word list
    (the stop words of rag/languages/<code>.toml are taken out afterwards, as the FAISS store's analyser does);
    `simple` where this server has no such Snowball language. unaccent is applied to the stems by rag_tsv /
    rag_lexemes (see FUNCTIONS_SQL)."""
    parts = [_simple_config("simple")]
    for code, name in languages.stemmers().items():
        if not re.fullmatch(r"[a-z]+", code + name):  # both go into SQL as identifiers
            continue
        parts.append(
            f"""
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'rag_{code}') THEN
        IF EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{name}' AND cfgnamespace = 'pg_catalog'::regnamespace) THEN
            IF NOT EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictname = 'rag_{name}_stem') THEN
                CREATE TEXT SEARCH DICTIONARY rag_{name}_stem (TEMPLATE = snowball, Language = {name});
            END IF;
            CREATE TEXT SEARCH CONFIGURATION rag_{code} (COPY = pg_catalog.{name});
            ALTER TEXT SEARCH CONFIGURATION rag_{code}
                ALTER MAPPING FOR asciiword, hword_asciipart, word, hword_part WITH rag_{name}_stem;
            ALTER TEXT SEARCH CONFIGURATION rag_{code} DROP MAPPING FOR asciihword, hword;
        ELSE{_simple_config(code)}
        END IF;
    END IF;"""
        )
    return "DO $$ BEGIN" + "".join(parts) + "\nEND $$;"


def _simple_config(code: str) -> str:
    """rag_<code> without stemming: words as they are (lower case)."""
    return f"""
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'rag_{code}') THEN
        CREATE TEXT SEARCH CONFIGURATION rag_{code} (COPY = pg_catalog.simple);
        ALTER TEXT SEARCH CONFIGURATION rag_{code}
            ALTER MAPPING FOR asciiword, hword_asciipart, word, hword_part WITH simple;
        ALTER TEXT SEARCH CONFIGURATION rag_{code} DROP MAPPING FOR asciihword, hword;
    END IF;"""


# Stems lose their accents after stemming, as rag.text.Analyzer folds them: the Snowball stemmers are written for
# accented text ("fonctionnalité" stems to "fonctionnal", its unaccented form to "fonctionnalit").
FUNCTIONS_SQL = """
CREATE OR REPLACE FUNCTION rag_unaccent_tsv(v tsvector) RETURNS tsvector LANGUAGE sql STABLE AS $f$
    SELECT coalesce(string_agg(quote_literal(unaccent(lexeme)) || coalesce(':' || array_to_string(positions, ','), ''), ' '), '')::tsvector
    FROM unnest(v)
$f$;
CREATE OR REPLACE FUNCTION rag_tsv(cfgs text[], texts text[]) RETURNS tsvector LANGUAGE plpgsql STABLE AS $f$
DECLARE v tsvector := ''; i int;
BEGIN
    FOR i IN 1 .. coalesce(array_length(texts, 1), 0) LOOP
        v := v || rag_unaccent_tsv(to_tsvector(cfgs[i]::regconfig, texts[i]));
    END LOOP;
    RETURN v;
END $f$;
CREATE OR REPLACE FUNCTION rag_len(v tsvector) RETURNS int LANGUAGE sql IMMUTABLE AS $f$
    SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::int FROM unnest(v)
$f$;
"""

TABLES_SQL = """
CREATE TABLE IF NOT EXISTS rag_meta (
    id int PRIMARY KEY CHECK (id = 1),
    schema_version int NOT NULL,
    generation bigint NOT NULL,
    manifest jsonb NOT NULL,
    n_chunks int NOT NULL DEFAULT 0,
    total_terms bigint NOT NULL DEFAULT 0,
    dim int NOT NULL
);
CREATE TABLE IF NOT EXISTS rag_documents (
    doc_id text PRIMARY KEY,
    data jsonb NOT NULL,
    source text NOT NULL,
    title text NOT NULL,
    sha256 text NOT NULL,
    lang text NOT NULL,
    n_chunks int NOT NULL,
    added_at text,
    updated_at text
);
CREATE TABLE IF NOT EXISTS rag_lexemes (lexeme text PRIMARY KEY, df int NOT NULL);
"""


def _chunks_table_sql(dim: int) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS rag_chunks (
    id bigserial PRIMARY KEY,
    chunk_id text NOT NULL UNIQUE,
    doc_id text NOT NULL REFERENCES rag_documents (doc_id) ON DELETE CASCADE,
    ord int NOT NULL,
    label text NOT NULL,
    lang text NOT NULL,
    data jsonb NOT NULL,
    embedding vector({int(dim)}) NOT NULL,
    tsv tsvector NOT NULL,
    n_terms int NOT NULL,
    unit_vectors bytea
);
CREATE INDEX IF NOT EXISTS rag_chunks_doc ON rag_chunks (doc_id, ord);
CREATE INDEX IF NOT EXISTS rag_chunks_tsv ON rag_chunks USING gin (tsv);
"""


def _hnsw_sql(m: int, ef_construction: int) -> str:
    return (
        "CREATE INDEX IF NOT EXISTS rag_chunks_hnsw ON rag_chunks USING hnsw (embedding vector_ip_ops) "
        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
    )


def chunk_parts(chunk: Chunk) -> tuple[list[str], list[str]]:
    """(text search configurations, texts) of a chunk: consecutive units of one language together, then the
    headings above it in the chunk's language (what chunk_terms analyses for BM25 in the FAISS store), each text
    made of its words without the language's stop words."""
    cfgs: list[str] = []
    texts: list[str] = []
    pieces = [(u.lang, chunk.text[u.start - chunk.start : u.end - chunk.start]) for u in chunk.units] or [(chunk.lang, chunk.text)]
    if chunk.heading:
        pieces.append((chunk.lang, chunk.heading))
    last_lang = None
    for lang, text in pieces:
        words = analysable(text, lang)
        if cfgs and lang == last_lang:
            texts[-1] += " " + words
        else:
            cfgs.append(ts_config(lang))
            texts.append(words)
        last_lang = lang
    return cfgs, texts


def analysable(text: str, lang: str) -> str:
    """The words of the text as rag.text.Analyzer finds them (\\w+, lower case), without the language's stop words
    (rag/languages/<code>.toml; PostgreSQL's own lists differ), joined by spaces: PostgreSQL's parser then sees the
    same words ("developpez.com" is two words, not a host name; "/etc/fstab" two, not a path)."""
    from rag.text import WORD, analyzer, fold_word

    stop = analyzer(lang).stop_words
    # An underscore would split a word for PostgreSQL ("fs_spec" is one word to \\w+): it goes, "fsspec" is one.
    return " ".join(w.replace("_", "") for w in WORD.findall(text.lower()) if fold_word(w) not in stop)


def _tsquery(terms: Iterable[str]) -> str:
    """An OR of the lexemes, quoted so that no character in them is read as an operator."""
    quoted = ["'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms]
    return " | ".join(quoted)


class PostgresStore:
    kind = "postgresql"

    def __init__(self, settings) -> None:
        self.settings = settings
        self.url = settings.store
        self._conn = None
        self._lock = threading.RLock()  # one statement sequence at a time on the shared read connection
        self._writer = None

    # ------------------------------------------------------------ connections

    def describe(self) -> str:
        return redact(self.url)

    def connect(self):
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.settings.pg_connect_timeout)))
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {redact(self.url)}: {_first_line(exc)}") from None
        return conn

    def _register(self, conn) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)

    def conn(self):
        """The shared read connection (opened, and reopened after a failure, on demand)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
            if self._has_vector(self._conn):
                self._register(self._conn)
        return self._conn

    @staticmethod
    def _has_vector(conn) -> bool:
        return conn.execute("SELECT 1 FROM pg_type WHERE typname = 'vector'").fetchone() is not None

    @contextlib.contextmanager
    def reading(self):
        """The read connection under this store's lock; a broken connection is dropped so the next call reconnects."""
        import psycopg

        with self._lock:
            try:
                yield self.conn()
            except psycopg.OperationalError as exc:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
                raise StoreUnavailable(f"PostgreSQL at {redact(self.url)} failed: {_first_line(exc)}") from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ------------------------------------------------------------ schema

    def ensure_schema(self, conn, dim: int) -> None:
        """Extensions, text search configurations, functions and tables, created once (idempotent, serialised)."""
        import psycopg

        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
                conn.execute(_text_search_sql())
                conn.execute(FUNCTIONS_SQL)
                conn.execute(TABLES_SQL)
                conn.execute(_chunks_table_sql(dim))
                if not self._has_unit_vectors(conn):
                    # A store made before the units' vectors were kept: its rows stay NULL until an ingest fills them.
                    conn.execute("ALTER TABLE rag_chunks ADD COLUMN unit_vectors bytea")
                conn.execute(_hnsw_sql(self.settings.hnsw_m, self.settings.hnsw_ef_construction))
        except psycopg.errors.FeatureNotSupported as exc:
            raise StoreUnavailable(f"PostgreSQL at {redact(self.url)} lacks pgvector or unaccent: {_first_line(exc)}") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreUnavailable(
                f"PostgreSQL at {redact(self.url)}: {_first_line(exc)} (a superuser must run "
                "CREATE EXTENSION vector; CREATE EXTENSION unaccent; once in this database)"
            ) from None
        self._register(conn)

    @staticmethod
    def _has_unit_vectors(conn) -> bool:
        """False for a store made before the units' vectors were kept, until its next write adds the column."""
        return conn.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('rag_chunks') AND attname = 'unit_vectors'"
        ).fetchone() is not None

    @staticmethod
    def _stored_dim(conn) -> int | None:
        row = conn.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass('rag_chunks') AND attname = 'embedding'"
        ).fetchone()
        return int(row[0]) if row else None

    # ------------------------------------------------------------ reading

    def signature(self) -> object:
        try:
            with self.reading() as conn:
                row = conn.execute("SELECT generation FROM rag_meta WHERE id = 1").fetchone()
        except StoreUnavailable:
            return None
        except Exception:  # noqa: BLE001 - no table yet: nothing was ever stored
            return None
        return None if row is None else int(row[0])

    def current_version(self) -> str | None:
        generation = self.signature()
        return None if generation is None else _version_name(generation)

    def load(self) -> "PgIndex":
        import psycopg

        with self.reading() as conn:
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    meta = conn.execute(
                        "SELECT generation, manifest, n_chunks, total_terms, schema_version FROM rag_meta WHERE id = 1"
                    ).fetchone()
                    if meta is None:
                        raise IndexMissing(f"no index in {self.describe()}: build it with `rag ingest`")
                    docs = conn.execute(
                        "SELECT data, n_chunks, added_at, updated_at FROM rag_documents ORDER BY doc_id"
                    ).fetchall()
                    rows = conn.execute("SELECT id, data FROM rag_chunks ORDER BY doc_id, ord").fetchall()
                    with_units = conn.execute(
                        "SELECT doc_id FROM rag_chunks GROUP BY doc_id HAVING bool_and(unit_vectors IS NOT NULL)"
                    ).fetchall() if self._has_unit_vectors(conn) else []
            except psycopg.errors.UndefinedTable:
                raise IndexMissing(f"no index in {self.describe()}: build it with `rag ingest`") from None
        generation, manifest, n_chunks, total_terms, schema_version = meta
        if schema_version != SCHEMA_VERSION or manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatch(
                f"index in {self.describe()} has schema {schema_version}/format {manifest.get('format')}, expected "
                f"{SCHEMA_VERSION}/{FORMAT_VERSION}: rebuild it with `rag ingest --rebuild`"
            )
        documents = [Document.from_dict(d[0]) for d in docs]
        chunks = [Chunk.from_dict(r[1]) for r in rows]
        manifest = dict(manifest)
        manifest["n_chunks"] = len(chunks)
        manifest["languages"] = sorted({c.lang for c in chunks if c.lang})
        manifest["documents"] = {
            doc.doc_id: {
                "source": doc.source,
                "title": doc.title,
                "sha256": doc.sha256,
                "n_chunks": int(n),
                "lang": doc.lang,
                **({"added_at": added} if added else {}),
                **({"updated_at": updated} if updated else {}),
            }
            for doc, (_, n, added, updated) in zip(documents, docs)
        }
        index = PgIndex(manifest, {d.doc_id: d for d in documents}, chunks, None, None, None, Path(_version_name(generation)))
        index.attach(self, [int(r[0]) for r in rows], int(total_terms))
        index.with_units = {r[0] for r in with_units}
        return index

    def lexemes(self, text: str, codes: list[str]) -> list[list[str]]:
        """The stems of the text's words in each language (its stop words left out, then the language's
        configuration, then unaccent), one list per language."""
        with self.reading() as conn:
            rows = conn.execute(
                """SELECT (SELECT array_agg(DISTINCT unaccent(lexeme)) FROM unnest(to_tsvector(t.c::regconfig, t.x)))
                   FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(c, x, i) ORDER BY t.i""",
                ([ts_config(c) for c in codes], [analysable(text, c) for c in codes]),
            ).fetchall()
        return [list(r[0] or []) for r in rows]

    def salvage(self) -> Salvage:
        return Salvage()  # a transaction never leaves a half-written state behind

    # ------------------------------------------------------------ writing

    @contextlib.contextmanager
    def write_lock(self):
        conn = self.connect()
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            self._writer = conn
            yield
        finally:
            self._writer = None
            with contextlib.suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            conn.close()

    def save(self, commit: Commit) -> "PgIndex":
        conn = self._writer
        own = conn is None
        if own:
            conn = self.connect()
        try:
            self._save(conn, commit)
        finally:
            if own:
                conn.close()
        return self.load()

    def _save(self, conn, commit: Commit) -> None:
        dim = commit.info.dim
        stored = self._stored_dim(conn)
        if stored is not None and stored != dim and not commit.full:
            raise IndexMismatch(f"index in {self.describe()} holds {stored}-dimensional vectors, not {dim}: rebuild it with `rag ingest --rebuild`")
        self.ensure_schema(conn, stored or dim)
        write = commit.order if commit.full else sorted(commit.changed & set(commit.documents))
        gone = [] if commit.full else sorted(set(commit.removed) | set(commit.changed))
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            if commit.full:
                if stored is not None and stored != dim:
                    conn.execute("DROP TABLE rag_chunks")
                    conn.execute(_chunks_table_sql(dim))
                conn.execute("DROP INDEX IF EXISTS rag_chunks_hnsw")  # built once after the rows: much faster
                conn.execute("TRUNCATE rag_chunks, rag_documents, rag_lexemes")
            else:
                self._count_lexemes(conn, gone, -1)
                conn.execute("DELETE FROM rag_documents WHERE doc_id = ANY(%s)", (gone,))
            self._insert(conn, commit, write)
            self._add_unit_vectors(conn, commit, [d for d in commit.order if d not in write])
            self._count_lexemes(conn, write, +1)
            conn.execute("DELETE FROM rag_lexemes WHERE df <= 0")
            if commit.full:
                conn.execute(_hnsw_sql(self.settings.hnsw_m, self.settings.hnsw_ef_construction))
            manifest = {
                "format": FORMAT_VERSION,
                "created": dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f"),
                **commit.info.to_dict(),
                "dense": {
                    "kind": "pgvector",
                    "ann_threshold": self.settings.ann_threshold,
                    "hnsw_m": self.settings.hnsw_m,
                    "hnsw_ef_construction": self.settings.hnsw_ef_construction,
                    "hnsw_ef_search": self.settings.hnsw_ef_search,
                },
            }
            conn.execute(
                """INSERT INTO rag_meta (id, schema_version, generation, manifest, dim) VALUES (1, %s, 1, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET generation = rag_meta.generation + 1, manifest = EXCLUDED.manifest,
                   schema_version = EXCLUDED.schema_version, dim = EXCLUDED.dim""",
                (SCHEMA_VERSION, json.dumps(manifest), dim),
            )
            conn.execute(
                """UPDATE rag_meta SET n_chunks = s.n, total_terms = s.t
                   FROM (SELECT count(*) AS n, coalesce(sum(n_terms), 0) AS t FROM rag_chunks) s WHERE id = 1"""
            )

    @staticmethod
    def _count_lexemes(conn, doc_ids: list[str], sign: int) -> None:
        """Add (or take away) the document frequencies of these documents' chunks."""
        from psycopg import sql

        if not doc_ids:
            return
        inner = sql.SQL("SELECT tsv FROM rag_chunks WHERE doc_id = ANY({})").format(sql.Literal(list(doc_ids))).as_string(conn)
        conn.execute(
            """INSERT INTO rag_lexemes (lexeme, df) SELECT word, %s * ndoc FROM ts_stat(%s)
               ON CONFLICT (lexeme) DO UPDATE SET df = rag_lexemes.df + EXCLUDED.df""",
            (sign, inner),
        )

    def _insert(self, conn, commit: Commit, doc_ids: list[str]) -> None:
        docs = []
        for doc_id in doc_ids:
            doc = commit.documents[doc_id]
            dates = commit.dates.get(doc_id, {})
            docs.append(
                (doc_id, json.dumps(doc.to_dict()), doc.source, doc.title, doc.sha256, doc.lang,
                 len(commit.chunks.get(doc_id, [])), dates.get("added_at"), dates.get("updated_at"))
            )
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO rag_documents (doc_id, data, source, title, sha256, lang, n_chunks, added_at, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                docs,
            )
            rows = []
            for doc_id in doc_ids:
                vectors = commit.vectors.get(doc_id)
                chunks = commit.chunks.get(doc_id, [])
                if vectors is None or len(vectors) != len(chunks):
                    raise ValueError(f"{doc_id}: chunks and vectors differ")
                for chunk, vector, units in zip(chunks, vectors, _per_chunk(commit, doc_id)):
                    cfgs, texts = chunk_parts(chunk)
                    rows.append(
                        (chunk.chunk_id, doc_id, chunk.ord, chunk.label, chunk.lang, json.dumps(chunk.to_dict()),
                         np.asarray(vector, dtype=np.float32), units, cfgs, texts)
                    )
            cur.executemany(
                """INSERT INTO rag_chunks (chunk_id, doc_id, ord, label, lang, data, embedding, unit_vectors, tsv, n_terms)
                   SELECT %s, %s, %s, %s, %s, %s, %s, %s, t.v, rag_len(t.v) FROM (SELECT rag_tsv(%s, %s) AS v) t""",
                rows,
            )

    @staticmethod
    def _add_unit_vectors(conn, commit: Commit, doc_ids: list[str]) -> None:
        """Store the unit vectors computed now for documents kept as they are (indexed before units were stored)."""
        rows = [
            (units, chunk.chunk_id)
            for doc_id in doc_ids
            if commit.unit_vectors.get(doc_id) is not None
            for chunk, units in zip(commit.chunks.get(doc_id, []), _per_chunk(commit, doc_id))
        ]
        with conn.cursor() as cur:
            cur.executemany("UPDATE rag_chunks SET unit_vectors = %s WHERE chunk_id = %s", rows)


def _per_chunk(commit: Commit, doc_id: str) -> list[bytes | None]:
    """Each chunk's unit vectors as little-endian float32 bytes (None for every chunk when they are not known)."""
    chunks = commit.chunks.get(doc_id, [])
    vectors = commit.unit_vectors.get(doc_id)
    if vectors is None:
        return [None] * len(chunks)
    if len(vectors) != sum(len(c.units) for c in chunks):
        raise ValueError(f"{doc_id}: units and unit vectors differ")
    out, offset = [], 0
    for chunk in chunks:
        out.append(np.ascontiguousarray(vectors[offset : offset + len(chunk.units)], dtype="<f4").tobytes())
        offset += len(chunk.units)
    return out


def _version_name(generation: int) -> str:
    return f"pg-generation-{generation}"


class PgIndex(Index):
    """A loaded state of the PostgreSQL store: documents and chunks in memory, searches in SQL."""

    def attach(self, store: PostgresStore, ids: list[int], total_terms: int) -> None:
        self.store = store
        self.ids = ids
        self.id_rows = {cid: row for row, cid in enumerate(ids)}
        self.total_terms = total_terms
        self._analyzed: dict[tuple, list[str]] = {}
        self.with_units: set[str] = set()

    def documents_with_unit_vectors(self) -> set[str]:
        return set(self.with_units)

    def close(self) -> None:
        self.store.close()

    def units_of(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """The stored unit vectors of these chunks, read by the row ids of this loaded state (never reused: a row
        replaced by a later commit is not found, and its units are then encoded)."""
        rows = {self.ids[self.chunk_rows[cid]]: cid for cid in dict.fromkeys(chunk_ids) if cid in self.chunk_rows}
        if not rows or not self.with_units:
            return {}
        with self.store.reading() as conn:
            found = conn.execute(
                "SELECT id, unit_vectors FROM rag_chunks WHERE id = ANY(%s) AND unit_vectors IS NOT NULL", (list(rows),)
            ).fetchall()
        dim = int(self.manifest["model"]["dim"])
        out = {}
        for row_id, data in found:
            cid = rows[int(row_id)]
            vectors = np.frombuffer(bytes(data), dtype="<f4").reshape(-1, dim)
            if len(vectors) == len(self.chunks[self.chunk_rows[cid]].units):
                out[cid] = vectors
        return out

    @property
    def exact(self) -> bool:
        return len(self.chunks) <= int(self.manifest["dense"].get("ann_threshold", 20_000))

    def analyze(self, text: str, codes: list[str]) -> list[str]:
        """The stems of the text in each of these languages, as the chunks were analysed, without repeats."""
        key = (text, tuple(codes))
        found = self._analyzed.get(key)
        if found is None:
            found = []
            for lexemes in self.store.lexemes(text, codes):
                found.extend(t for t in lexemes if t and t not in found)
            if len(self._analyzed) > 4096:
                self._analyzed.clear()
            self._analyzed[key] = found
        return list(found)

    def document_frequencies(self) -> dict[str, int]:
        if not self.chunks:
            return {}
        with self.store.reading() as conn:
            return {lexeme: int(df) for lexeme, df in conn.execute("SELECT lexeme, df FROM rag_lexemes WHERE df > 0")}

    def _rows(self, found, allowed: np.ndarray, n: int) -> list[tuple[int, float]]:
        out = []
        for cid, score in found:
            row = self.id_rows.get(int(cid))
            if row is not None and allowed[row]:  # a chunk committed after this load is not in it: skipped
                out.append((row, float(score)))
        return out[:n]

    def dense_search(self, vector: np.ndarray, n: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        want = min(len(self.chunks), n + int((~allowed).sum()))
        if want <= 0:
            return []
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        ef = max(int(self.manifest["dense"].get("hnsw_ef_search", 128)), want)
        with self.store.reading() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), set_config('enable_indexscan', %s, true)",
                (str(ef), "off" if self.exact else "on"),
            )
            found = conn.execute(
                "SELECT id, -(embedding <#> %s) FROM rag_chunks ORDER BY embedding <#> %s, id LIMIT %s",
                (vector, vector, want),
            ).fetchall()
        return self._rows(found, allowed, n)

    def keyword_search(self, terms: list[str], n: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        n = min(n, len(self.chunks))
        if not terms or n <= 0:
            return []
        want = n + int((~allowed).sum())
        n_docs = max(len(self.chunks), 1)
        avgdl = max(self.total_terms / n_docs, 1e-9)
        with self.store.reading() as conn:
            found = conn.execute(
                """WITH q AS (
                       SELECT lexeme, ln(1 + (%(n)s - df + 0.5) / (df + 0.5)) AS idf FROM rag_lexemes WHERE lexeme = ANY(%(terms)s)
                   )
                   SELECT c.id, sum(q.idf * t.tf / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * c.n_terms / %(avgdl)s))) AS score
                   FROM rag_chunks c
                   CROSS JOIN LATERAL (SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS tf FROM unnest(c.tsv) u) t
                   JOIN q ON q.lexeme = t.lexeme
                   WHERE c.tsv @@ %(query)s::tsquery
                   GROUP BY c.id ORDER BY score DESC, c.id LIMIT %(want)s""",
                {"n": n_docs, "terms": list(terms), "k1": BM25_K1, "b": BM25_B, "avgdl": avgdl, "query": _tsquery(terms), "want": want + TIE_MARGIN},
            ).fetchall()
        # Equal scores are ordered as bm25s orders them (in float32, the later row first), so that both stores
        # break ties alike.
        rows = [(row, s) for row, s in self._rows(found, allowed, len(found)) if s > 0]
        rows.sort(key=lambda item: (-float(np.float32(item[1])), -item[0]))
        return rows[:n]
