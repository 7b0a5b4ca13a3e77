"""Whether llama.cpp's repacked weight layouts are faster on this CPU: measured once by `rag setup`, not guessed.

llama.cpp repacks the weights into layouts for its CPU kernels by default. Measured with scripts/llama_options.py
(MEASUREMENTS.md): on a Xeon its AVX-512 build reads prompts 1.7 times faster without them and its AVX2 build 1.2 times
slower; on an AMD EPYC both builds read faster without them and write faster with them. No rule of CPU flags
covers that, so `rag setup` times both layouts with this CPU and this build, and `llm_repack=auto` follows it.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

CALIBRATION_FILE = "llama-repack.json"
# A typical question: what is read after the cached system prefix (passages, rules, question), and a short answer.
PROMPT_TOKENS = 300
ANSWER_TOKENS = 32


@dataclass(frozen=True)
class Speeds:
    read_tok_s: float
    write_tok_s: float

    def seconds(self, prompt: int = PROMPT_TOKENS, answer: int = ANSWER_TOKENS) -> float:
        """Time to read a typical question's prompt and write a short answer at these speeds."""
        return prompt / max(self.read_tok_s, 1e-9) + answer / max(self.write_tok_s, 1e-9)


def machine_key() -> str:
    """This CPU and this llama.cpp build: what a measurement holds for."""
    import llama_cpp

    from rag.cpu import cpu_model

    info = " ".join(llama_cpp.llama_print_system_info().decode("utf-8", "replace").split())
    return f"{cpu_model()} | llama-cpp-python {llama_cpp.__version__} | {info}"


def speeds(model: Path, text: str, prompt_tokens: int, answer_tokens: int, repack: bool = True, **options) -> Speeds:
    """Prompt tokens read and tokens written per second by raw llama-cpp-python, for one fresh load of the model
    with these options: the first `prompt_tokens` of `text` read from an empty cache, then up to `answer_tokens`
    written greedily."""
    from llama_cpp import Llama

    from rag.generation import model_params

    options.setdefault("n_ctx", max(1024, prompt_tokens + answer_tokens + 64))
    with model_params(use_extra_bufts=repack):
        llm = Llama(model_path=str(model), verbose=False, **options)
    try:
        prompt = llm.detokenize(llm.tokenize(text.encode())[:prompt_tokens]).decode(errors="ignore")
        prompt += "\nWrite a long detailed summary of the text above:\n"
        n_prompt = len(llm.tokenize(prompt.encode()))
        started, first, written = time.perf_counter(), 0.0, 0
        for _ in llm.create_completion(prompt, max_tokens=answer_tokens, temperature=0.0, top_k=1, stream=True):
            written += 1
            first = first or time.perf_counter()
        ended = time.perf_counter()
    finally:
        llm.close()
    return Speeds(n_prompt / (first - started), (written - 1) / (ended - first) if written > 1 else 0.0)


def calibrate(model: Path, threads: int, cache_dir: Path) -> dict:
    """Time both layouts with the model on a typical question, keep the faster, and remember it for this machine."""
    from rag.prompts import SYSTEM

    measured = {
        "on" if repack else "off": speeds(model, SYSTEM, PROMPT_TOKENS, ANSWER_TOKENS, repack, n_threads=threads, n_threads_batch=threads)
        for repack in (True, False)
    }
    choice = min(measured, key=lambda name: measured[name].seconds())
    record = {
        "key": machine_key(),
        "choice": choice,
        "measured": {name: asdict(s) for name, s in measured.items()},
        "model": model.name,
        "threads": threads,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = cache_dir / CALIBRATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
    temporary.replace(path)
    return record


def measured_repack(cache_dir: Path) -> bool | None:
    """What `rag setup` measured faster on this machine and build; None when it has not (or the file is unreadable)."""
    try:
        record = json.loads((cache_dir / CALIBRATION_FILE).read_text(encoding="utf-8"))
        if record["key"] != machine_key() or record["choice"] not in ("on", "off"):
            return None
        return record["choice"] == "on"
    except (OSError, ValueError, KeyError, TypeError):
        return None
