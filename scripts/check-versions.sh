#!/usr/bin/env bash
# The oldest and the newest library versions pyproject.toml allows, each in a venv of its own,
# through the tests that touch those libraries' APIs (TRL's trainers, datasets, peft, accelerate,
# the reward server, the openai client, gguf, math-verify, ...). CI's full run is the newest check
# (scripts/setup.sh resolves the newest allowed); this script is how the lowest one is made.
#   bash scripts/check-versions.sh lowest   every dependency at its lower bound (.ci/constraints-lowest.txt)
#   bash scripts/check-versions.sh newest   the newest releases the bounds allow, today
# The venv (.venv-lowest / .venv-newest, or $VENV) is kept and reused. torch goes first and stays
# fixed, as in scripts/setup.sh: asked for later, pip may fetch a multi-GB CUDA build. Not the
# `server` extra: llama-cpp-python compiles for ~10 minutes. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-}
case "$WHICH" in
    lowest) PICK=(-c .ci/constraints-lowest.txt) ;;
    newest) PICK=(--upgrade --upgrade-strategy eager) ;;
    *) echo "scripts/check-versions.sh: say which end, 'lowest' or 'newest' (usage: bash scripts/check-versions.sh lowest|newest [pytest args])" >&2; exit 2 ;;
esac
shift
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-$WHICH}
TORCH="torch==${TORCH_VERSION:-2.13.0}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
"${PIP[@]}" "$TORCH"
echo "$TORCH" > "$VENV/torch-constraint.txt"  # --upgrade must not move torch
"${PIP[@]}" -c "$VENV/torch-constraint.txt" "${PICK[@]}" -e ".[test,human,reward-server]"

HF_HUB_OFFLINE=1 "$VENV/bin/hrlaif" env
"$VENV/bin/python" -m pip list --format=freeze 2>/dev/null \
    | grep -iE '^(transformers|trl|accelerate|datasets|peft|pydantic|typer|rich|openai|math-verify|sympy|matplotlib|gguf|pyyaml|tqdm|tensorboard|pytest|pytest-timeout|playwright|ruff|fastapi|uvicorn|jinja2|huggingface-hub|tokenizers|numpy)=='

# The subset: each file exercises a library through hrlaif the way users meet it (a few minutes on 2 cores).
HF_HUB_OFFLINE=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=10 \
    tests/integration/test_export.py \
    tests/integration/test_export_prompts.py \
    tests/integration/test_trainer_args.py \
    tests/integration/test_dpo.py \
    tests/integration/test_reward_loss.py \
    tests/integration/test_ppo.py \
    tests/integration/test_trackers.py \
    tests/integration/test_reward_server.py \
    tests/integration/test_openai_judge.py \
    tests/integration/test_human_app.py \
    "tests/integration/test_file_modes.py::test_the_converted_gguf_cache_follows_the_umask" \
    tests/unit/test_verify_math.py \
    tests/unit/test_report_plots.py \
    tests/unit/test_cli_env.py \
    "$@"
