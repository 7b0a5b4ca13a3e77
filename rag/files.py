"""File helpers shared by the index, the model store, the e5 conversion and the embedded PostgreSQL."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def package_folders(name: str) -> list[Path]:
    """The folders of an installed package, found without importing it (its __init__ may load a C engine or take
    locks); empty when it is not installed."""
    from importlib.util import find_spec

    spec = find_spec(name)
    return [Path(folder) for folder in (spec.submodule_search_locations or [])] if spec is not None else []
