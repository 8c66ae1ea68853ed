"""Fault-and-kill soak: a whole `hrlaif run` killed with SIGKILL at random moments while its judge
server fails ~30% of requests, resumed until it finishes, must end with the outputs of an
undisturbed run.

One undisturbed reference run, then `--rounds` rounds; in each, the run is started, killed at a
random time (uniform over the reference run's wall time) up to `--kills` times, then run to the
end. Compared with the reference: samples, pairs (both modes' files present), red-team pairs,
PPO metrics (timings left out), the evaluation results (timings left out) and the final policy
and reward-model weights (sha256). Tiny random models and the fake OpenAI-compatible judge server
of the tests (tests/support/fake_openai.py) on 127.0.0.1, so it runs anywhere in minutes per round.

    .venv/bin/python bench/soak.py --rounds 20
    .venv/bin/python bench/soak.py --smoke        # 2 rounds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, save_result

sys.path.insert(0, str(ROOT / "tests"))
from support.fake_openai import FakeOpenAIServer  # noqa: E402 - the tests' server, on purpose
from support.tiny_models import build_tiny_model  # noqa: E402

# Left out of the comparison: timings, and whether a verdict came from the judge cache (a resumed
# run reads what the killed one was answered; the verdict itself must be the same).
TIME_KEYS = ("seconds", "sps", "wall", "time", "created", "started", "finished", "cached")
FAULTS = {"500": 0.1, "503": 0.08, "drop": 0.06, "429": 0.06}  # ~30% of requests fail


def config(root: Path, model: Path, url: str) -> Path:
    import yaml

    data = {
        "policy": {"path": str(model), "max_length": 256},
        "data": {"max_train_prompts": 8, "max_eval_prompts": 8},
        "sample": {"num_samples": 2, "generation": {"max_new_tokens": 8, "batch_size": 8}},
        "judge": {"backend": "openai", "model": "fake-judge", "base_urls": [url], "api_key_env": "SOAK_KEY",
                  "timeout_s": 2, "concurrency": 2, "max_retries": 12},
        "reward": {"epochs": 1, "batch_size": 4},
        "ppo": {"steps": 3, "batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 1, "checkpoint_every": 1,
                "generation": {"max_new_tokens": 8}},
        "redteam": {"num_generated": 8, "max_attacks": 8, "generation": {"max_new_tokens": 8}, "rewrite_max_tokens": 16},
        "evaluate": {"generation": {"max_new_tokens": 8}, "max_attack_prompts": 8},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start(cfg: Path, run_dir: Path, log) -> subprocess.Popen:
    env = dict(os.environ, SOAK_KEY="soak", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "hrlaif.cli", "run", "-c", str(cfg), "--run-dir", str(run_dir), "--mode", "hrlaif"]
    return subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)


def without_times(value):
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if not any(t in k for t in TIME_KEYS)}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def fingerprint(run_dir: Path) -> dict[str, str]:
    """What must match the undisturbed run: file contents (timings dropped) and model weights."""
    out: dict[str, str] = {}
    for path in sorted(run_dir.rglob("*")):
        rel = str(path.relative_to(run_dir))
        if not path.is_file() or "checkpoints" in rel or "tensorboard" in rel or rel.startswith(("report", ".lock")):
            continue
        if path.name in ("samples.jsonl", "pairs.jsonl", "metrics.jsonl", "results.json", "summary.json", "attacks.jsonl"):
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.suffix == ".jsonl" else json.loads(path.read_text())
            out[rel] = hashlib.sha256(json.dumps(without_times(rows), sort_keys=True).encode()).hexdigest()[:16]
        elif path.suffix == ".safetensors":
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs per round before the run is let finish")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="2 rounds, to check the script")
    args = parser.parse_args()
    rounds = 2 if args.smoke else args.rounds
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="hrlaif-soak-"))
    model = build_tiny_model(root / "model")
    log = (root / "runs.log").open("w")
    with FakeOpenAIServer(faults=FAULTS, retry_after_ms=50, seed=args.seed) as server:
        cfg = config(root, model, server.base_url)
        began = time.time()
        reference = start(cfg, root / "reference", log)
        if reference.wait() != 0:
            sys.exit(f"the undisturbed run failed; see {root / 'runs.log'}")
        ref_seconds = time.time() - began
        expected = fingerprint(root / "reference")
        print(f"reference run: {ref_seconds:.0f} s, {len(expected)} files compared, {server.count} judge requests "
              f"({server.count - server.faults_seen().get('ok', 0)} of them faults)")
        results = []
        for r in range(1, rounds + 1):
            run_dir, kills, starts = root / f"round-{r:02d}", [], 0
            while True:
                proc = start(cfg, run_dir, log)
                starts += 1
                if len(kills) < args.kills:
                    delay = rng.uniform(0.5, ref_seconds)
                    try:
                        proc.wait(timeout=delay)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                        kills.append(round(delay, 1))
                        continue
                else:
                    proc.wait()
                if proc.returncode == 0:
                    break
                if starts > args.kills + 3:
                    break
            got = fingerprint(run_dir)
            differing = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
            results.append({"round": r, "kills_at_s": kills, "starts": starts, "finished": proc.returncode == 0, "differing": differing})
            print(f"round {r:2d}: killed at {kills} s, {starts} starts, "
                  f"{'identical' if not differing and proc.returncode == 0 else 'DIFFERENT: ' + ', '.join(differing[:6])}")
    identical = sum(1 for x in results if x["finished"] and not x["differing"])
    print(f"{identical} of {len(results)} rounds identical to the undisturbed run; logs in {root}")
    save_result("soak", {"faults": FAULTS, "reference_seconds": ref_seconds, "rounds": results,
                         "identical": identical, "n": len(results)}, smoke=args.smoke)
    sys.exit(0 if identical == len(results) else 1)


if __name__ == "__main__":
    main()
