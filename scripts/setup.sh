#!/usr/bin/env bash
# Fresh-machine set-up, idempotent: virtual environment, torch 2.13.0 (CPU) first, llama-cpp-python compiled
# for this CPU, the project, then `rag setup` (embedding model conversion, GGUF reassembly, one decoded token).
# Usage: scripts/setup.sh [--test]   (--test also installs Debian's Chromium and strace for the tests, and builds the
#                                     Debian documentation corpus of tests/data/debian)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
CACHE=${RAG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rag-offline}
LLAMA_VERSION=0.3.36
export PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n==> %s\n' "$*"; }

[ -x "$PY" ] || { step "creating $VENV"; python3 -m venv "$VENV"; }
step "torch 2.13.0 (CPU build) first, so nothing pulls the CUDA build"
"$PY" -m pip install -q "torch==2.13.0"

# The default native build crashes on CPUs with AMX (segfault in ggml_backend_amx_mul_mat at the first decode):
# keep every other native instruction (AVX-512 where present) and leave AMX out. RAG_LLAMA_BUILD=portable gives
# the plain AVX2 build instead.
if [ "$(uname -m)" = x86_64 ]; then
  if [ "${RAG_LLAMA_BUILD:-native-noamx}" = portable ]; then
    CMAKE_ARGS_LLAMA="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"; FLAGS_LLAMA=""
  else
    CMAKE_ARGS_LLAMA="-DGGML_NATIVE=ON"; FLAGS_LLAMA="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  fi
else
  CMAKE_ARGS_LLAMA="-DGGML_NATIVE=ON"; FLAGS_LLAMA=""
fi
CMAKE_ARGS_LLAMA="$CMAKE_ARGS_LLAMA -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF"
CPU_ID=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m) | sha256sum | cut -c1-12)
# pip's wheel cache ignores CMAKE_ARGS/CFLAGS: give each flag set and CPU a wheel folder of its own.
KEY=$(printf '%s|%s|%s|%s' "$LLAMA_VERSION" "$CMAKE_ARGS_LLAMA" "$FLAGS_LLAMA" "$CPU_ID" | sha256sum | cut -c1-16)
WHEELS="$CACHE/wheels/llama-cpp-python-$KEY"
if [ "$(cat "$VENV/.llama-build-key" 2>/dev/null)" != "$KEY" ] || ! "$PY" -c "import llama_cpp" 2>/dev/null; then
  if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    step "compiling llama-cpp-python $LLAMA_VERSION ($CMAKE_ARGS_LLAMA $FLAGS_LLAMA): 3-6 minutes"
    mkdir -p "$WHEELS"
    CMAKE_ARGS="$CMAKE_ARGS_LLAMA" CFLAGS="$FLAGS_LLAMA" CXXFLAGS="$FLAGS_LLAMA" \
      "$PY" -m pip wheel -q --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS"
    printf '%s\n%s\n' "$CMAKE_ARGS_LLAMA" "$FLAGS_LLAMA" > "$WHEELS/build-flags.txt"
  fi
  step "installing llama-cpp-python from $WHEELS"
  "$PY" -m pip install -q --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-*.whl
  echo "$KEY" > "$VENV/.llama-build-key"
  cp "$WHEELS/build-flags.txt" "$VENV/.llama-build-flags" 2>/dev/null || true
fi

step "installing the project and its dependencies"
"$PY" -m pip install -q -e ".[test]"

if [ "${1:-}" = "--test" ]; then
  # Chromium for the browser tests; strace for the network audit (without it, a Python audit hook stands in).
  MISSING=()
  [ -x /usr/bin/chromium ] || MISSING+=(chromium)
  command -v strace >/dev/null || MISSING+=(strace)
  if [ ${#MISSING[@]} -gt 0 ]; then
    step "installing Debian's ${MISSING[*]} for the tests"
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}" >/dev/null
    else
      echo "warning: ${MISSING[*]} missing and apt-get unavailable: browser tests are skipped without chromium," \
        "the network audit sees only Python's connections without strace" >&2
    fi
  fi
  # Real manuals in five languages from Debian's documentation packages: the evaluation sets and the end-to-end
  # tests on documents nobody here wrote (skipped, with their reason, when they cannot be installed).
  step "Debian documentation for the evaluation corpus (tests/data/debian)"
  bash scripts/debian_corpus.sh >/dev/null || echo "warning: the Debian corpus could not be built: its tests are skipped" >&2
fi

step "preparing models (offline from here on)"
# The default (quality) model and the fast one offered in the web chat; tests also load a tiny one.
MODELS=(--model qwen2.5-coder-1.5b --model qwen2.5-0.5b)
[ "${1:-}" = "--test" ] && MODELS+=(--model smollm2-135m)
"$VENV/bin/rag" setup "${MODELS[@]}"
