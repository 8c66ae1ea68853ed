"""A run's headline (issue 29): the few numbers that say whether this design could see an
effect, and what it saw, each a paired difference {diff, low, high, n} in fractions.

- positive_control: the oracle RM's best-of-K pick minus a random pick (best-of-n stage);
- hrlaif_vs_rlaif_bon: the HRLAIF RM's pick minus the RLAIF RM's, same labeler;
- hrlaif_vs_rlaif_policy: keyed accuracy of the HRLAIF policy minus the RLAIF policy, paired over
  the held-out keyed prompts where both answers were decided (a cut-off or unreadable answer is
  neither right nor wrong), the same rule as each arm's difference from start;
- policy_positive_control: the oracle policy minus the start policy, by that rule;
- min_detectable_effect: the smallest HRLAIF-vs-RLAIF best-of-n difference the prompts can detect
  (80% power, two-sided 5%), and min_detectable_effect_policy the same for the policies;
- eval_keyed_items: the held-out keyed prompts best-of-n reranked; policy_eval_keyed_items: those
  the policies answered.

Read from the run's files (best-of-n results, eval scores), so `hrlaif report` and a study's
summary give the same object. A figure the run did not make is None.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import stdev

from hrlaif.evaluate.satisfaction import ItemScore
from hrlaif.evaluate.summary import ORACLE_ARMS, accuracy_difference, decided_pairs
from hrlaif.jsonl import read_jsonl
from hrlaif.power import ASSUMED_SD, paired_mde
from hrlaif.records import KEYED_CATEGORIES
from hrlaif.run_dir import RunDir

POLICY_PAIRS = (("dpo-hrlaif", "dpo-rlaif"), ("hrlaif", "rlaif"))
"""The HRLAIF and RLAIF policies compared, DPO's first (the study's cheap policy test), then PPO's."""


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _scores(run: RunDir, policy: str) -> list[ItemScore] | None:
    path = run.eval_scores(policy)
    return read_jsonl(path, ItemScore) if path.is_file() else None


def _decided_mde(a: list[ItemScore], b: list[ItemScore]) -> float | None:
    """The smallest difference `a` minus `b` can detect over the prompts `accuracy_difference` pairs,
    at the observed SD of their per-prompt differences (the assumed SD when they never differ)."""
    diffs = [x - y for x, y in decided_pairs(a, b)]
    if not diffs:
        return None
    sd = stdev(diffs) if len(diffs) > 1 else 0.0
    return paired_mde(len(diffs), sd if sd > 0 else ASSUMED_SD)


def run_headline(run_dir: Path, confidence: float = 0.95) -> dict | None:
    """The headline of one run directory (None when it has neither best-of-n nor evaluation results)."""
    run = RunDir(run_dir)
    bon = _read(run.best_of_n_results)
    results = _read(run.eval_results)
    if bon is None and results is None:
        return None
    head = (bon or {}).get("headline") or {}
    found: dict = {
        "labeler": ((results or {}).get("grading") or {}).get("labeling_judge"),
        "positive_control": head.get("positive_control"),
        "hrlaif_vs_rlaif_bon": head.get("hrlaif_vs_rlaif_bon"),
        "hrlaif_vs_rlaif_policy": None,
        "policy_positive_control": None,
        "min_detectable_effect": head.get("min_detectable_effect"),
        "min_detectable_effect_policy": None,
        "eval_keyed_items": head.get("eval_keyed_items"),
        "policy_eval_keyed_items": None,
        "policies_compared": None,
    }
    policies = (results or {}).get("policies") or []
    start = _scores(run, "start") if "start" in policies else None
    if start is not None:
        keyed = [s for s in start if s.category in KEYED_CATEGORIES]
        found["policy_eval_keyed_items"] = len(keyed)
        oracle = next((arm for arm in ORACLE_ARMS if arm in policies), None)
        if oracle:
            found["policy_positive_control"] = accuracy_difference(_scores(run, oracle), start, confidence)
    pair = next(((h, r) for h, r in POLICY_PAIRS if h in policies and r in policies), None)
    if pair:
        hrlaif, rlaif = (_scores(run, p) for p in pair)
        found["hrlaif_vs_rlaif_policy"] = accuracy_difference(hrlaif, rlaif, confidence)
        found["min_detectable_effect_policy"] = _decided_mde(hrlaif, rlaif)
        found["policies_compared"] = f"{pair[0]} minus {pair[1]}"
    return found
