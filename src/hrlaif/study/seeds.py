"""Effects over seeds: the same comparison trained N times, and the spread of its headline figures.

One seed's intervals cover the sampling of prompts, not the training: a second seed can move a
difference more than its interval suggests. `compare --seeds N` trains every arm N times
(seeds seed..seed+N-1, one run directory each) and this module puts each figure's per-seed
values, their mean, standard deviation and range side by side. A figure that rests on a judge
task that did not qualify in some seed's exam is marked not meaningful, as in each report.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path

from hrlaif.errors import HrlaifError
from hrlaif.evaluate.summary import positive_control
from hrlaif.judge.qualify import grading_exam
from hrlaif.report.basis import PREFERENCE_TASKS, SATISFACTION_TASKS, categories_with_items, satisfaction_basis, unqualified_tasks
from hrlaif.run_dir import ORACLE, RunDir

# figure -> (value and its interval text in one seed's results for an arm; judge tasks it rests on)
FIGURES: dict[str, tuple[Callable[[dict, str], dict | None], tuple[str, ...]]] = {
    "satisfaction": (lambda r, arm: r["policies"][arm]["satisfaction"], SATISFACTION_TASKS),
    "accuracy on keyed prompts": (lambda r, arm: r["policies"][arm].get("accuracy"), ()),
    # correct / (correct + wrong); None in results written before cut-off answers were counted apart
    "accuracy among decided keyed answers": (lambda r, arm: (r["policies"][arm].get("accuracy") or {}).get("decided"), ()),
    "satisfaction difference from start": (
        lambda r, arm: None if arm == "start" else r["versus_start"][arm]["satisfaction_difference"], SATISFACTION_TASKS),
    "net win rate vs start": (lambda r, arm: None if arm == "start" else (r["versus_start"][arm]["win_ratio"] or {}).get("net"), PREFERENCE_TASKS),
}


def _value(entry: dict | None) -> float | None:
    if not entry:
        return None
    return entry.get("rate", entry.get("diff"))


def seed_basis(results: dict, tasks: tuple[str, ...]) -> tuple[str, ...]:
    """The judge tasks a figure rests on in one seed's evaluation: satisfaction only on those of the
    categories holding items (none on a keyed-only eval set)."""
    if tasks != SATISFACTION_TASKS:
        return tasks
    return satisfaction_basis({c for p in results["policies"].values() for c in categories_with_items(p.get("satisfaction_by_category", {}))})


def grading_unqualified(run_dir: Path, results: dict) -> set[str]:
    """Judge tasks that this run's exam of the grading judge did not qualify (empty when not examined)."""
    path = RunDir(run_dir).exam(grading_exam(results.get("grading", {})))
    return unqualified_tasks(json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None)


def seed_spread(run_dirs: dict[int, Path]) -> dict:
    """Per figure and policy: each seed's value (with n and interval), and mean / sd / min / max
    over seeds. Reads every seed's RUN/eval/results.json."""
    per_seed = {}
    for seed, run_dir in run_dirs.items():
        path = RunDir(run_dir).eval_results
        if not path.is_file():
            raise HrlaifError(f"{path}: missing; seed {seed} has not finished its evaluation")
        results = json.loads(path.read_text(encoding="utf-8"))
        per_seed[seed] = (results, grading_unqualified(Path(run_dir), results))
    policies = list(next(iter(per_seed.values()))[0]["policies"])
    figures: dict[str, dict] = {}
    for name, (read, tasks) in FIGURES.items():
        figures[name] = {"rests_on_judge_tasks": list(tasks), "by_policy": {}}
        for policy in policies:
            entries = {seed: read(results, policy) for seed, (results, _) in per_seed.items()}
            if all(e is None for e in entries.values()):
                continue
            values = [v for v in (_value(e) for e in entries.values()) if v is not None]
            not_qualified = sorted({t for results, failed in per_seed.values() for t in failed if t in seed_basis(results, tasks)})
            figures[name]["by_policy"][policy] = {
                "per_seed": {str(seed): e for seed, e in entries.items()},
                "n_seeds": len(values),
                "mean": statistics.fmean(values) if values else None,
                "sd": statistics.stdev(values) if len(values) >= 2 else None,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "meaningful": not not_qualified,
                "not_qualified_tasks": not_qualified,
            }
    # The reading rule per seed: None where a seed has no oracle arm (compare.oracle off).
    controls = {str(seed): positive_control(results, _oracle_labels(Path(run_dirs[seed]))) for seed, (results, _) in per_seed.items()}
    return {"seeds": sorted(run_dirs), "run_dirs": {str(s): str(d) for s, d in run_dirs.items()}, "figures": figures,
            "positive_control": controls}


def _oracle_labels(run_dir: Path) -> dict | None:
    """The counts of a run's oracle labels (None without them)."""
    path = RunDir(run_dir).manifest(RunDir.label_stage(ORACLE))
    return json.loads(path.read_text(encoding="utf-8")).get("counts") if path.is_file() else None
