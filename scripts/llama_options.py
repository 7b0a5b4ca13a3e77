"""Raw llama-cpp-python under runtime options: prompt reading and writing speed of the configured model.

Each option set loads the model afresh, reads the same ~900-token prompt (the system prefix and the start of the
first document of docs/) from an empty cache, then writes up to 40 tokens; twice, to show the spread between runs.
Run from the repository: `.venv/bin/python scripts/llama_options.py [N ...]` (N: positions in OPTION_SETS, all by
default). Name the CPU with the figures.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import llama_cpp

from rag.gguf import resolve_gguf
from rag.llama_tuning import speeds
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


def main() -> None:
    settings = Settings()
    model = resolve_gguf(settings.llm_model, settings.cache_dir)
    first_doc = sorted(p for p in Path("docs").iterdir() if p.suffix in (".txt", ".md"))[0]
    prompt = SYSTEM + "\n" + first_doc.read_text(encoding="utf-8")[:2400]
    print(llama_cpp.llama_print_system_info().decode(), flush=True)
    chosen = [OPTION_SETS[int(n)] for n in sys.argv[1:]] or OPTION_SETS
    for options in chosen:
        shown, options = json.dumps(options), dict(options)
        repack = options.pop("use_extra_bufts", True)
        runs = [speeds(model, prompt, 880, 40, repack, n_ctx=4096, **options) for _ in range(2)]
        reading = " ".join(f"{r.read_tok_s:.1f}" for r in runs)
        writing = " ".join(f"{r.write_tok_s:.1f}" for r in runs)
        print(f"{shown}  read tok/s {reading}  write tok/s {writing}", flush=True)


if __name__ == "__main__":
    main()
