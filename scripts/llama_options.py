"""Raw llama-cpp-python under runtime options: prompt reading and writing speed of the configured model.

Each option set loads the model afresh, reads the same ~900-token prompt (the system prefix and the start of the
first document of docs/) from an empty cache, then writes up to 40 tokens; twice, to show the spread between runs.
Run from the repository: `.venv/bin/python scripts/llama_options.py [N ...]` (N: positions in OPTION_SETS, all by
default). Name the CPU with the figures.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

from rag.generation import model_params
from rag.gguf import resolve_gguf
from rag.prompts import SYSTEM
from rag.settings import Settings

OPTION_SETS = [
    {"n_threads": 2, "n_threads_batch": 2, "n_batch": 512},
    {"n_threads": 1, "n_threads_batch": 1, "n_batch": 512},
    {"n_threads": 2, "n_threads_batch": 2, "n_batch": 512, "n_ubatch": 128},
    {"n_threads": 2, "n_threads_batch": 2, "n_batch": 512, "flash_attn": True},
    {"n_threads": 2, "n_threads_batch": 2, "n_batch": 128, "n_ubatch": 128},
    {"n_threads": 1, "n_threads_batch": 2, "n_batch": 512},
    {"n_threads": 2, "n_threads_batch": 2, "n_batch": 512, "use_extra_bufts": False},
]


def speeds(model: Path, prompt: str, **options) -> tuple[float, float]:
    """(prompt tokens read per second, tokens written per second) for one fresh load with these options."""
    with model_params(use_extra_bufts=options.pop("use_extra_bufts", True)):
        llm = Llama(model_path=str(model), n_ctx=4096, verbose=False, **options)
    text = llm.detokenize(llm.tokenize(prompt.encode())[:880]).decode(errors="ignore")
    text += "\nWrite a long detailed summary of the text above:\n"
    n_prompt = len(llm.tokenize(text.encode()))
    started, first, written = time.perf_counter(), 0.0, 0
    for _ in llm.create_completion(text, max_tokens=40, temperature=0.0, stream=True):
        written += 1
        first = first or time.perf_counter()
    ended = time.perf_counter()
    return n_prompt / (first - started), (written - 1) / (ended - first) if written > 1 else 0.0


def main() -> None:
    settings = Settings()
    model = resolve_gguf(settings.llm_model, settings.cache_dir)
    first_doc = sorted(p for p in Path("docs").iterdir() if p.suffix in (".txt", ".md"))[0]
    prompt = SYSTEM + "\n" + first_doc.read_text(encoding="utf-8")[:2400]
    print(llama_cpp.llama_print_system_info().decode(), flush=True)
    chosen = [OPTION_SETS[int(n)] for n in sys.argv[1:]] or OPTION_SETS
    for options in chosen:
        runs = [speeds(model, prompt, **options) for _ in range(2)]
        reading = " ".join(f"{r:.1f}" for r, _ in runs)
        writing = " ".join(f"{w:.1f}" for _, w in runs)
        print(f"{json.dumps(options)}  read tok/s {reading}  write tok/s {writing}", flush=True)


if __name__ == "__main__":
    main()
