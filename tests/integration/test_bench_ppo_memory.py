"""bench/ppo_memory.py: its formula of PPO's bytes per parameter, checked against a real PPO run
(two steps of train_ppo on a tiny random Llama, bytes of live tensors counted by role), and the
paper extrapolation's parameter counts against the public Llama sizes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "ppo_memory.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_ppo_memory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_llama_counts_match_the_public_model_sizes(bench):
    # parameter counts the model cards / safetensors indexes state
    sizes = {"1B (Llama-3.2-1B)": 1_235_814_400, "7B (Llama-2-7B)": 6_738_415_616, "70B (Llama-3.1-70B)": 70_553_706_496}
    for name, expected in sizes.items():
        assert bench.llama_counts(bench.ARCHITECTURES[name])["policy"] == expected, name


def test_formula_gives_the_issues_40_bytes_on_cpu_and_36_with_bf16_frozen_models(bench):
    counts = {"policy": 1000, "reward": 1000, "policy_adapters": 10, "critic_adapters": 10, "score_head": 1}
    assert sum(bench.static_bytes("full", counts, frozen_dtype_bytes=4).values()) == 40 * 1000
    assert sum(bench.static_bytes("full", counts, frozen_dtype_bytes=2).values()) == 36 * 1000
    lora = bench.static_bytes("lora", counts, frozen_dtype_bytes=2)
    assert lora["reference"] == 0 and lora["policy"] == 4 * 1000 + 16 * 10
    rows = {(r["model"], r["mode"]): r for r in bench.extrapolate()}
    seven_full = rows[("7B (Llama-2-7B)", "full")]
    assert not seven_full["fits"]["1x141 GB (H200)"]["fits"]  # the issue's point: a full 7B PPO does not fit one H200
    assert seven_full["fits"]["8x80 GB, states sharded /8"]["fits"]


def test_measured_bytes_per_parameter_match_the_formula(tmp_path, bench):
    """Two real PPO steps per setting; what the models, gradients and AdamW states hold equals the formula."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    sizes = ["--hidden", "64", "--layers", "2", "--batch-size", "4", "--mini-batch-size", "2", "--response-length", "8", "--workdir", str(tmp_path)]

    def child(*extra):
        proc = subprocess.run([sys.executable, str(SCRIPT), *extra, *sizes], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    child("--role", "setup")
    results = {}
    for mode, ckpt in (("full", False), ("lora-critic", True)):
        out = tmp_path / f"{mode}.json"
        child("--role", "measure", "--mode", mode, *(["--checkpointing"] if ckpt else []), "--out", str(out))
        results[mode] = json.loads(out.read_text())

    full, lora = results["full"], results["lora-critic"]
    for run in (full, lora):
        b = run["bytes_per_parameter"]
        # "other" (rollout tensors, buffers, a checkpointed minibatch's embeddings) scales with batch, not parameters
        assert b["total"] - b["other"] == pytest.approx(run["formula_bytes_per_parameter"], rel=1e-3)
        assert run["peak"]["update_mib"] > run["peak"]["baseline_mib"] > 0
    assert full["bytes_per_parameter"]["total"] == pytest.approx(40.0, rel=0.01)  # four fp32 models, two AdamW: the issue's figure
    assert full["bytes_per_parameter"]["policy"] == pytest.approx(16.0, rel=1e-3)
    assert lora["bytes_per_parameter"]["reference"] == 0  # the adapter-free policy is the reference
    assert lora["policy_adapter_parameters"] == lora["formula_counts"]["policy_adapters"] > 0
    assert lora["critic_adapter_parameters"] == lora["formula_counts"]["critic_adapters"]
    assert lora["bytes_per_parameter"]["total"] < 0.5 * full["bytes_per_parameter"]["total"]  # r=16 adapters are large beside hidden 64
