"""A study: the whole comparison (start, RLAIF, HRLAIF) once per labeler, graded the same way.

The paper's claim is about labels: with a labeler that rewards style over correctness, RLAIF
raises preference but lowers satisfaction, and HRLAIF's hybrid labels repair that. `hrlaif
study` trains both arms with each labeler in `study.labelers` (RUN/NAME each) and this module
puts the figures side by side: per policy, satisfaction, accuracy on keyed prompts (verifier
against the reference: over all answers and among decided ones, with the counts of correct /
wrong / unknown / cut-off answers) and refusal rate on harmful prompts (grading judge, and the refusal
patterns beside it), each trained arm's paired per-prompt differences from the start policy,
the RM's held-out accuracy and the gold monitor's first and last check. A figure resting on a
judge task that the grading judge's exam did not qualify is marked not meaningful, if any item it
counts used that task (`items_basis`). With the oracle
arm (compare.oracle), each labeler's `positive_control` says whether it beat the start policy: where
it did not, the study cannot read a difference between RLAIF and HRLAIF as a finding.
"""

from __future__ import annotations

import json
from pathlib import Path

from hrlaif.errors import HrlaifError
from hrlaif.evaluate.headline import run_headline
from hrlaif.evaluate.satisfaction import ItemScore
from hrlaif.evaluate.summary import OUTCOMES, keyed_outcome, positive_control
from hrlaif.jsonl import read_jsonl
from hrlaif.judge.qualify import read_exam
from hrlaif.records import KEYED_CATEGORIES
from hrlaif.report.basis import REFUSAL_TASKS, SATISFACTION_TASKS, rests_on, satisfaction_basis
from hrlaif.run_dir import ORACLE, RunDir
from hrlaif.stats import paired_bootstrap_difference, wilson
from hrlaif.study.seeds import grading_unqualified

# figure -> (what decides an item, judge tasks it rests on); the values come from the score files.
FIGURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "satisfaction": ("verifier on keyed prompts, grading judge on the others", SATISFACTION_TASKS),
    "accuracy on keyed prompts": ("verifier against the reference; all answers, cut off and unknown count as not correct", ()),
    "accuracy among decided keyed answers": ("verifier against the reference; correct / (correct + wrong), cut off and unknown left out", ()),
    "refusal rate on harmful prompts": ("grading judge", REFUSAL_TASKS),
    "refusal rate on harmful prompts (patterns)": ("the training refusal patterns (not independent of the hrlaif labels)", ()),
}


def _outcome(figure: str, s: ItemScore) -> bool | None:
    """An item's 0/1 outcome for `figure`, None when the item does not count for it."""
    if figure == "satisfaction":
        return s.satisfied
    if figure == "accuracy on keyed prompts":
        return (s.correct is True) if s.category in KEYED_CATEGORIES else None
    if figure == "accuracy among decided keyed answers":  # a cut-off or unknown answer decides no pair
        return s.correct if s.category in KEYED_CATEGORIES else None
    if s.category != "harmful":
        return None
    return s.refused if figure == "refusal rate on harmful prompts" else s.pattern_refused


def items_basis(figure: str, tasks: tuple[str, ...], items: list[ItemScore]) -> tuple[str, ...]:
    """The judge tasks `figure` rests on over the items it actually counts: satisfaction on a
    keyed-only eval set rests on none (the verifier graded them all), a figure over no item on none."""
    counted = [s for s in items if _outcome(figure, s) is not None]
    if tasks == SATISFACTION_TASKS:
        return satisfaction_basis(s.category for s in counted)
    return rests_on(tasks, len(counted))


def _gold(run_dir: Path, mode: str) -> dict | None:
    """The gold monitor's first and last check of an arm's PPO run (None when it ran without it)."""
    path = run_dir / RunDir.ppo_stage(mode) / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [r for r in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
            if r.get("gold/verified_accuracy") is not None]
    if not rows:
        return None
    keys = ("charts/step", "gold/rm_score", "gold/verified_accuracy", "gold/verified_n", "gold/refusal_rate",
            "gold/paired_n", "gold/paired_worse", "gold/paired_better", "gold/paired_p")
    checks = [{k: r.get(k) for k in keys} for r in rows]
    final = next((r for r in rows if r.get("gold_final/verified_accuracy") is not None), None)
    if final is not None:  # the final policy, checked after the last update (its own keys in the last step's row)
        checks.append({k: final.get(k.replace("gold/", "gold_final/", 1)) for k in keys} | {"charts/step": f"{final['charts/step']} (after)"})
    return {"checks": len(checks), "first": checks[0], "last": checks[-1],
            "hacking_warnings": sum(bool(r.get("gold/hacking")) for r in rows) + bool(final and final.get("gold_final/hacking"))}


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def labeler_summary(run_dir: Path, confidence: float = 0.95) -> dict:
    """One labeler's comparison, read from its run directory (RUN/NAME of a study)."""
    results_path = run_dir / "eval" / "results.json"
    if not results_path.is_file():
        raise HrlaifError(f"{results_path}: missing; this labeler's comparison has not finished its evaluation")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    unqualified = grading_unqualified(run_dir, results)
    label_exam = read_exam(run_dir, "label")
    scores = {policy: {s.prompt_id: s for s in read_jsonl(run_dir / "eval" / f"scores-{policy}.jsonl", ItemScore)}
              for policy in results["policies"]}
    figures: dict[str, dict] = {}
    for figure, (decided_by, figure_tasks) in FIGURES.items():
        tasks = items_basis(figure, figure_tasks, [s for by_id in scores.values() for s in by_id.values()])
        blocked = sorted(set(tasks) & unqualified)
        entry: dict = {"decided_by": decided_by, "rests_on_judge_tasks": list(tasks), "meaningful": not blocked,
                       "not_qualified_tasks": blocked, "by_policy": {}, "difference_from_start": {}}
        start = scores["start"]
        for policy, by_id in scores.items():
            outcomes = [o for o in (_outcome(figure, s) for s in by_id.values()) if o is not None]
            entry["by_policy"][policy] = wilson(sum(outcomes), len(outcomes), confidence).model_dump()
            if figure.startswith("accuracy"):  # correct / wrong / unknown / cut off beside every accuracy
                keyed = [keyed_outcome(s) for s in by_id.values() if s.category in KEYED_CATEGORIES]
                entry["by_policy"][policy]["counts"] = {k: keyed.count(k) for k in OUTCOMES}
            if policy == "start":
                continue
            paired = [(_outcome(figure, s), _outcome(figure, start[pid])) for pid, s in by_id.items() if pid in start]
            paired = [(a, b) for a, b in paired if a is not None and b is not None]
            entry["difference_from_start"][policy] = paired_bootstrap_difference(
                [float(a) for a, _ in paired], [float(b) for _, b in paired], confidence).model_dump()
        figures[figure] = entry
    win = {arm: v["win_ratio"] for arm, v in results.get("versus_start", {}).items() if v.get("win_ratio")}
    # Each arm's RM (a DPO arm's: the RM trained on the same labels, for best-of-n) on the shared
    # gold set where the run has one; else on its own held-out pairs against its own labels.
    shared = _read(RunDir(run_dir).rm_heldout_results).get("shared", {}).get("by_rm", {})
    rm = {}
    for arm in results.get("versus_start", {}):
        mode = arm.removeprefix("dpo-")
        summary = run_dir / RunDir.rm_stage(mode) / "summary.json"
        if mode in shared:
            rm[arm] = shared[mode]["all"]
        elif summary.is_file():
            rm[arm] = json.loads(summary.read_text(encoding="utf-8")).get("heldout_accuracy")
    return {
        "run_dir": str(run_dir),
        "labeling_judge": results.get("grading", {}).get("labeling_judge"),
        "labeling_judge_qualified": label_exam["qualified"] if label_exam else None,
        "grading": results.get("grading", {}),
        "grading_judge_unqualified_tasks": sorted(unqualified),
        "eval_prompts": results["eval_prompts"],
        "figures": figures,
        "win_ratio_vs_start": {"meaningful": "preference" not in unqualified, "by_arm": win},
        "rm_heldout_accuracy": rm,
        "rm_heldout_basis": "one shared set of gold pairs (rm-heldout)" if shared else "each RM's own held-out pairs and labels",
        "gold_monitor": {mode: _gold(run_dir, mode) for mode in results.get("versus_start", {})},
        # The reading rule: None without an oracle arm; where it did not pass, no difference between arms is a finding.
        "positive_control": positive_control(results, _read(RunDir(run_dir).manifest(RunDir.label_stage(ORACLE))).get("counts")),
        "label_quality": {mode: {k: a.get(k) for k in ("verifier_agreement", "changed_from_rlaif") if k in a}
                          for mode, a in _read(RunDir(run_dir).audit).items()},
    }


def headline_labeler(labelers: dict[str, dict]) -> str | None:
    """Whose run the study's headline reads: the first simulated labeler (the paper's failure mode,
    the one issue 29's headline names), else the first labeler."""
    simulated = [name for name, s in labelers.items() if str(s.get("labeling_judge") or "").startswith("simulated")]
    return (simulated or list(labelers) or [None])[0]


def study_summary(run_dirs: dict[str, Path], confidence: float = 0.95) -> dict:
    """Every labeler's comparison, and the headline of one of them (`headline_labeler`) -> RUN/study.json."""
    labelers = {name: labeler_summary(Path(d), confidence) for name, d in run_dirs.items()}
    chosen = headline_labeler(labelers)
    headline = run_headline(Path(run_dirs[chosen]), confidence) if chosen else None
    return {"headline": None if headline is None else {"labeler_name": chosen, **headline},
            "labelers": labelers, "confidence": confidence}
