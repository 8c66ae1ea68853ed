"""Does the cheap RM (reward.method: head) agree with a full one? Issue 29 item 8.

Takes a finished run directory with an arm's labels and the best-of-n samples (a study's
RUN/NAME, or a demo run), trains a FULL reward model (TRL's RewardTrainer, all weights, the
run's reward settings otherwise) on that arm's pairs with the same held-out split, and reranks
the same best-of-n samples with both RMs: best-of-K accuracy of each (paired against a random
pick and against each other), how often they pick an answer of the same grade, pairwise accuracy
on the shared decidable pairs, held-out pair accuracy, and the wall time of each RM's training
(the head's from its stage manifest), all in one process on one machine.

    .venv/bin/python bench/rm_head_vs_full.py RUN [--mode oracle] [--epochs 1]
    .venv/bin/python bench/rm_head_vs_full.py --smoke     # a tiny random model, seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save_result  # noqa: E402  (after the sys.path line: _common sits beside the scripts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, nargs="?", help="a run directory with label-MODE, rm-MODE (method head) and best-of-n samples")
    parser.add_argument("--mode", default="oracle", help="the arm whose pairs both RMs learn (default: oracle, the positive control)")
    parser.add_argument("--epochs", type=float, default=1.0, help="the full RM's passes over the pairs")
    parser.add_argument("--smoke", action="store_true", help="check the script on a tiny run made here (seconds); writes *.smoke.json")
    args = parser.parse_args()

    from hrlaif.config import RewardConfig, load_config
    from hrlaif.evaluate.best_of_n import rerank
    from hrlaif.jsonl import read_jsonl
    from hrlaif.labeling.rm_data import rm_pairs
    from hrlaif.records import Sample
    from hrlaif.run_dir import RunDir
    from hrlaif.stages.reward_model import uses_redteam
    from hrlaif.train.reward import train_reward_model

    if args.smoke:
        args.run, args.mode = smoke_run(Path(tempfile.mkdtemp(prefix="hrlaif-bench-rm-"))), "rlaif"
    if args.run is None:
        parser.error("give a run directory, or --smoke")
    run = RunDir(args.run)
    config = load_config(run.root / "config.yaml", [])
    head_manifest = json.loads(run.manifest(RunDir.rm_stage(args.mode)).read_text())
    head_summary = json.loads(run.reward_summary(args.mode).read_text())
    if head_summary.get("method") != "head":
        raise SystemExit(f"{run.reward_model(args.mode)} is not a head RM (reward.method: head); nothing to compare")
    redteam = run.redteam_pairs if uses_redteam(config, args.mode) else None  # the arm's RM pairs, as its stage read them
    pairs, _ = rm_pairs(run.labels(args.mode), redteam, config.redteam.max_share)
    full_config = RewardConfig(**{**config.reward.model_dump(), "method": "full", "epochs": args.epochs})
    out = Path(tempfile.mkdtemp(prefix="hrlaif-bench-full-rm-"))
    started = time.perf_counter()
    full = train_reward_model(pairs, config.policy.path, full_config, out, seed=config.seed, max_length=config.policy.max_length)
    full_s = time.perf_counter() - started
    samples = read_jsonl(run.best_of_n_samples, Sample)
    results = rerank(samples, {"head": run.reward_model(args.mode), "full": out / RunDir.REWARD_MODEL_DIR},
                     max_length=config.policy.max_length, confidence=config.evaluate.confidence, seed=config.seed)
    top = results["curve"][-1]
    same_grade = sum(
        p["grades"][max(range(len(p["grades"])), key=lambda i: p["scores"]["head"][i])]
        == p["grades"][max(range(len(p["grades"])), key=lambda i: p["scores"]["full"][i])]
        for p in results["per_prompt"]
    )
    found = {
        "run": str(run.root), "mode": args.mode, "pairs": len(pairs), "prompts": results["prompts"], "k": results["k"],
        "head": {"train_s": head_manifest.get("wall_s"), "heldout_accuracy": head_summary.get("heldout_accuracy"),
                 "best_of_k": top["rms"]["head"]["accuracy"], "minus_random": top["rms"]["head"]["minus_random"],
                 "pairwise": results["pairwise"]["head"]["accuracy"]},
        "full": {"train_s": full_s, "epochs": args.epochs, "heldout_accuracy": full.get("heldout_accuracy"),
                 "best_of_k": top["rms"]["full"]["accuracy"], "minus_random": top["rms"]["full"]["minus_random"],
                 "pairwise": results["pairwise"]["full"]["accuracy"]},
        "head_minus_full": top["rm_differences"].get("full - head") or top["rm_differences"].get("head - full"),
        "rm_differences": top["rm_differences"],
        "picks_of_the_same_grade": {"agree": same_grade, "n": len(results["per_prompt"])},
        "random": top["random"]["accuracy"], "oracle": top["oracle"]["accuracy"],
    }

    def pts(d: dict) -> str:
        return f"{100 * d['diff']:+.1f} pts [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] (n={d['n']})"

    print(f"{args.mode} pairs: {len(pairs)}; {results['prompts']} prompts x {results['k']} samples")
    for name in ("head", "full"):
        f = found[name]
        print(f"  {name:4s}: trained in {f['train_s']:.0f} s; best-of-{results['k']} {100 * f['best_of_k']['rate']:.1f}% "
              f"(n={f['best_of_k']['n']}), minus random {pts(f['minus_random'])}")
    for name, d in found["rm_differences"].items():
        print(f"  {name}: {pts(d)}")
    print(f"  picks of the same grade: {same_grade} of {len(results['per_prompt'])} prompts")
    path = save_result("rm_head_vs_full", found, args.smoke)
    print(f"wrote {path}")


def smoke_run(tmp: Path) -> Path:
    """A compare with head RMs and best-of-n on a tiny random model (its oracle has no pairs, so
    the smoke compares the RLAIF arm)."""
    import subprocess

    import yaml

    from _common import build_tiny_model

    model = build_tiny_model(tmp / "tiny", layers=2, hidden=32)
    config = {
        "run_dir": str(tmp / "run"), "policy": {"path": str(model), "max_length": 256},
        "data": {"train_prompts": "bundled:reach_train", "eval_prompts": "bundled:reach_eval", "max_train_prompts": 8, "max_eval_prompts": 4},
        "sample": {"num_samples": 2, "generation": {"max_new_tokens": 8, "batch_size": 8}},
        "judge": {"backend": "simulated"}, "judge_check": {"enabled": False}, "reward": {"method": "head"},
        "redteam": {"enabled": False}, "compare": {"algorithms": []},
        "best_of_n": {"enabled": True, "max_prompts": 6, "num_samples": 2, "generation": {"max_new_tokens": 8, "batch_size": 8}},
    }  # fmt: skip
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    hrlaif = Path(sys.executable).parent / "hrlaif"
    subprocess.run([str(hrlaif), "compare", "-c", str(tmp / "config.yaml")], check=True, capture_output=True)
    return tmp / "run"


if __name__ == "__main__":
    main()
