"""The product never opens a network connection: every connect() of `rag ingest`, `rag search` and `rag ask`.

Each command runs in a child process under `strace -f -e trace=connect` (every thread and child process, C
libraries included: torch, llama.cpp), or, where strace is missing, with a `sys.addaudithook` installed by a
sitecustomize module (Python-level socket.connect only). Connections to AF_UNIX sockets and to loopback
addresses are allowed; anything else is counted and must be 0. The child's environment has none of the
*_OFFLINE variables the tests set: the product must stay offline on its own.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DOCS, ROOT

STRACE = shutil.which("strace")

_SITECUSTOMIZE = """
import json, os, sys

_LOG = os.environ["RAG_AUDIT_LOG"]

def _hook(event, args):
    if event == "socket.connect":
        sock, address = args
        with open(_LOG, "a") as fh:
            fh.write(json.dumps({"family": int(sock.family), "address": repr(address)}) + "\\n")

sys.addaudithook(_hook)
"""

_FAMILY = re.compile(r"sa_family=(AF_\w+)")
_IPV4 = re.compile(r'inet_addr\("([^"]+)"\)')
_IPV6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')


def classify(line: str) -> str:
    """'local' (AF_UNIX, AF_NETLINK, loopback, AF_UNSPEC disconnect) or 'network' for one strace connect line."""
    family = _FAMILY.search(line)
    if family is None or family.group(1) in ("AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"):
        return "local"
    match = _IPV4.search(line) or _IPV6.search(line)
    if match is None:
        return "network"  # an address family or form not recognised: counted, never waved through
    address = ipaddress.ip_address(match.group(1))
    mapped = getattr(address, "ipv4_mapped", None)
    return "local" if address.is_loopback or (mapped is not None and mapped.is_loopback) else "network"


def _audit_classify(entry: dict) -> str:
    import socket

    if entry["family"] in (socket.AF_UNIX, getattr(socket, "AF_NETLINK", -1)):
        return "local"
    host = re.match(r"\('([^']*)'", entry["address"])
    try:
        return "local" if host and ipaddress.ip_address(host.group(1)).is_loopback else "network"
    except ValueError:
        return "local" if host and host.group(1) == "localhost" else "network"


def audited(tmp_path: Path, name: str, *argv: str, python: list[str] | None = None, tracer: str | None = STRACE) -> dict:
    """Run `rag ARGV` (or `python PYTHON`) under the audit: {'exit', 'local', 'network', 'lines', 'how', 'stderr'}."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE") and k != "HF_HUB_DISABLE_TELEMETRY"}
    # One thread each and short answers: the audit is about connections, and the 2 cores may be shared.
    env.update({"PYTHONPATH": str(ROOT), "RAG_TORCH_THREADS": "1", "RAG_LLM_THREADS": "1", "RAG_MAX_TOKENS": "48"})
    command = [sys.executable, *(python or ["-m", "rag.cli", *map(str, argv)])]
    log = tmp_path / f"{name}.trace"
    if tracer:
        command = [tracer, "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o", str(log), *command]
        how = "strace"
    else:
        site = tmp_path / "audit-site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
        env["PYTHONPATH"] = f"{site}{os.pathsep}{ROOT}"
        env["RAG_AUDIT_LOG"] = str(log)
        how = "audit hook"
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    lines = log.read_text().splitlines() if log.exists() else []
    if tracer:
        lines = [line for line in lines if "connect(" in line]
        kinds = [classify(line) for line in lines]
    else:
        kinds = [_audit_classify(json.loads(line)) for line in lines]
    counts = {"exit": result.returncode, "how": how, "stderr": result.stderr[-2000:], "lines": lines}
    counts.update({kind: kinds.count(kind) for kind in ("local", "network")})
    print(f"\n{name}: {counts['network']} network connection attempts, {counts['local']} local ({how}, exit {result.returncode})")
    return counts


_CONNECT = """
import socket
for family, address in ((socket.AF_INET, ("10.255.255.1", 9)), (socket.AF_INET, ("127.0.0.1", 9))):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(0.2)
    try:
        s.connect(address)
    except OSError:
        pass
"""


@pytest.mark.parametrize("tracer", [STRACE, None], ids=["strace", "audit hook"])
def test_the_audit_sees_a_connection_attempt(tmp_path, tracer):
    """A positive control: 0 below means nothing was attempted, not that the audit is blind."""
    if tracer is STRACE and STRACE is None:
        pytest.skip("strace is not installed (scripts/setup.sh --test installs it)")
    counts = audited(tmp_path, "control", python=["-c", _CONNECT], tracer=tracer)
    assert counts["exit"] == 0, counts["stderr"]
    assert counts["network"] == 1 and counts["local"] >= 1, counts["lines"]


def test_classify_strace_lines():
    assert classify('connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT') == "local"
    assert classify('connect(5, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16) = 0') == "local"
    assert classify('connect(5, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0') == "local"
    assert classify('connect(5, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("18.164.52.75")}, 16) = -1 ENETUNREACH') == "network"
    assert classify('connect(5, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2600:1f18::1", &sin6_addr), sin6_scope_id=0}, 28) = -1') == "network"
    assert classify('connect(5, {sa_family=AF_INET6, sin6_port=htons(53), inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6_addr)}, 28) = 0') == "network"
    assert classify("connect(7, {sa_family=AF_PACKET, ...}, 20) = 0") == "network"


@pytest.fixture(scope="module")
def audited_index(tmp_path_factory) -> tuple[Path, dict]:
    """`rag ingest` of a copy of docs/ under the audit: (index folder, counts)."""
    root = tmp_path_factory.mktemp("audit")
    shutil.copytree(DOCS, root / "docs")
    index = root / "index"
    return index, audited(root, "ingest", "--index", index, "ingest", "-q", root / "docs")


def test_ingest_opens_no_network_connection(audited_index):
    _, counts = audited_index
    assert counts["exit"] == 0, counts["stderr"]
    assert counts["network"] == 0, counts["lines"]


def test_search_opens_no_network_connection(audited_index, tmp_path):
    index, _ = audited_index
    counts = audited(tmp_path, "search", "--index", index, "search", "Combien Meta a-t-il investi dans Scale AI ?", "--json")
    assert counts["exit"] == 0, counts["stderr"]
    assert counts["network"] == 0, counts["lines"]


@pytest.mark.slow
def test_ask_opens_no_network_connection(audited_index, tmp_path):
    from rag.gguf import PACKAGED_MODELS, models_dir
    from rag.settings import Settings

    if not (models_dir(Settings().cache_dir) / PACKAGED_MODELS["smollm2-135m"].filename).is_file():
        pytest.skip("smollm2-135m is not set up (rag setup --model smollm2-135m)")
    index, _ = audited_index
    counts = audited(tmp_path, "ask", "--index", index, "ask", "Quand ChatGPT est-il sorti ?", "--model", "smollm2-135m", "--json")
    assert counts["exit"] == 0, counts["stderr"]
    assert counts["network"] == 0, counts["lines"]
