"""Helpers shared by the benchmark scripts (not part of the package, not a test).

Kept free of torch/transformers imports, so an orchestrating parent process stays small and
the peak memory of its measured subprocesses is theirs alone.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


# ---------------------------------------------------------------------------------------------
# statistics


def summary(values: list[float]) -> dict:
    """Median with the spread: min, max, interquartile range and the sample size."""
    values = sorted(float(v) for v in values)
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None}
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {"n": len(values), "median": statistics.median(values), "min": values[0], "max": values[-1], "q1": q1, "q3": q3}


def fmt(s: dict, unit: str = "s", digits: int = 3) -> str:
    """'0.412 s (IQR 0.40-0.43, min-max 0.39-0.47, n=10)'."""
    if not s or s.get("median") is None:
        return "n/a"
    f = f"{{:.{digits}f}}"
    return (
        f"{f.format(s['median'])} {unit} (IQR {f.format(s['q1'])}-{f.format(s['q3'])}, "
        f"min-max {f.format(s['min'])}-{f.format(s['max'])}, n={s['n']})"
    )


# ---------------------------------------------------------------------------------------------
# machine and process facts


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions = {}
    from importlib import metadata

    for name in ("torch", "transformers", "trl", "accelerate", "openai", "llama_cpp_python", "math-verify"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        load = None
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_1_5_15_min_at_end": load,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "versions": versions,
    }


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(args: list[str], *, timeout: float, env: dict | None = None, log: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python <args>` from the repository root; its output goes to `log` (or is captured)."""
    full_env = dict(os.environ) | (env or {})
    cmd = [sys.executable, *args]
    if log is not None:
        with log.open("w") as handle:
            proc = subprocess.run(cmd, cwd=ROOT, env=full_env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout)
        if proc.returncode != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
            raise RuntimeError(f"{' '.join(cmd[1:3])} failed with exit code {proc.returncode}; last lines of {log}:\n{tail}")
        return proc
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:3])} failed with exit code {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def save_result(name: str, result: dict, smoke: bool) -> Path:
    """bench/results/NAME.json (or NAME.smoke.json), so bench/results/NAME.md can be filled from it."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}{'.smoke' if smoke else ''}.json"
    result = {"benchmark": name, "smoke": smoke, "machine": machine()} | result
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------------------------------------
# tiny models: the tests' recipe (tests/support/tiny_models.py), with a pad token that differs from eos:
# TRL's PPOTrainer finds padding as `token == pad_token_id`, so a pad equal to eos (<|im_end|>,
# which every chat turn contains) would mask prompt tokens


def build_tiny_model(folder: Path, *, layers: int = 4, hidden: int = 64, seed: int = 0) -> Path:
    """A random Llama with a small BPE tokenizer, saved to `folder` (seconds)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.tiny_models import build_tiny_model as build

    return build(folder, layers=layers, hidden=hidden, seed=seed, pad_token="<|endoftext|>", max_positions=1024)


# ---------------------------------------------------------------------------------------------
# llama.cpp's OpenAI-compatible server: the tests' launcher (tests/support/servers.py), so a benchmark
# measures the server exactly as the tests run it (same AMX workaround, same settings).

sys.path.insert(0, str(ROOT / "tests"))
from support.servers import LlamaServer  # noqa: E402, F401  (after ROOT is known; the scripts import it from here)

# ---------------------------------------------------------------------------------------------
# comparisons to label: bundled prompts, two canned responses each (no policy needed)


def make_samples(n_comparisons: int):
    """`n_comparisons` prompts (balanced over categories) with two different responses each."""
    from hrlaif.prompts import load_prompts
    from hrlaif.records import Sample

    prompts = load_prompts("bundled:train", n_comparisons)
    samples = []
    for i, prompt in enumerate(prompts):
        if prompt.category == "math":
            a = f"The answer is {prompt.reference}."
            b = f"Let me work it out step by step. Adding and subtracting the numbers gives {int(prompt.reference) + 1 if prompt.reference.lstrip('-').isdigit() else 0}, so the answer is that."
        elif prompt.category == "multiple_choice":
            a = f"The answer is {prompt.reference}."
            b = "I think the answer is A, because it is the first option and it sounds right to me."
        elif prompt.category == "harmful":
            a = "I can't help with that, because it could hurt people. If you are in danger, please contact local emergency services."
            b = "Sure, here is how you could do it: first, find someone who will not ask questions."
        else:
            a = "Practice a little every day, set small goals and track your progress; ask for feedback when you are stuck."
            b = "Just do it."
        if i % 2:
            a, b = b, a  # the better response is not always first
        samples.append(Sample.of(prompt, a, 0, "bench"))
        samples.append(Sample.of(prompt, b, 1, "bench"))
    return samples


# ---------------------------------------------------------------------------------------------
# PPO benchmark work folders (ppo_vs_trl.py, ppo_memory.py)


def ppo_paths(workdir: Path) -> tuple[Path, Path, Path]:
    """The policy folder, reward-model folder and prompts file of a PPO benchmark's work folder."""
    return workdir / "policy", workdir / "reward", workdir / "prompts.jsonl"


def save_reward_model_and_prompts(workdir: Path, batch_size: int) -> None:
    """Beside a saved policy: a one-output sequence classifier of the same shape (head drawn with
    seed 1, saved once so every run starts from identical weights) with the policy's tokenizer,
    and `batch_size` bundled train prompts (one of each category in turn)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hrlaif.prompts import load_prompts

    policy, reward, prompts_path = ppo_paths(workdir)
    torch.manual_seed(1)
    rm = AutoModelForSequenceClassification.from_pretrained(policy, num_labels=1, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(policy)
    rm.config.pad_token_id = tokenizer.pad_token_id
    rm.save_pretrained(reward)
    tokenizer.save_pretrained(reward)
    prompts = load_prompts("bundled:train", batch_size)
    prompts_path.write_text("".join(p.model_dump_json() + "\n" for p in prompts))
