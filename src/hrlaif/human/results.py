"""Human figures of a run, and how far the machine figures agree with them -> RUN/human/results.json.

Each item counts once, however many raters it had: its value is the share of its raters who
answered acceptable (or preferred the arm), so a rate is the mean over items and its Wilson
interval uses the number of items, not of ratings (several raters of one response are not
independent evidence about the policy). Skipped answers are left out everywhere. A satisfaction
item shared by several policies (the same text) counts once for each of them. A pairwise item of
two identical texts is a tie in the win ratio without raters, counted apart (`identical_ties`),
and is left out of everything that measures raters (coverage, alpha, position, agreement).

AI-human agreement compares each machine verdict that RUN/eval/scores-POLICY.jsonl carries
(the verifier on keyed prompts, the judge's refusal and acceptable tasks, the refusal
patterns, and the combined machine satisfaction) with the raters' majority on the same
response (items whose raters split evenly are left out and counted). The judge's pairwise
verdicts are not written per item by the evaluation stage, so no agreement is computed for
them (see "not_available").
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

from hrlaif.human.agreement import alpha_undefined_why, bootstrap, cohen_kappa, kappa_undefined_why, krippendorff_alpha, observed_agreement
from hrlaif.human.items import IDENTICAL, PAIRWISE, SATISFACTION, START
from hrlaif.human.store import SKIP, RatingStore
from hrlaif.jsonl import iter_objects, write_json
from hrlaif.records import CATEGORIES, KEYED_CATEGORIES
from hrlaif.run_dir import RunDir
from hrlaif.stats import paired_bootstrap_difference, wilson
from hrlaif.verify.refusal import looks_like_refusal

METHOD = ("Rates are means over items of the share of each item's raters who answered yes (or preferred the arm), "
          "with Wilson intervals over items; differences use a paired bootstrap over prompts; kappa and alpha use a "
          "percentile bootstrap over items. Skipped answers are excluded. A response text several policies gave to one "
          "prompt is rated once and counted for each of them; identical pairwise texts are ties without raters.")


def _machine_sources() -> dict[str, dict]:
    """Each machine verdict in the eval scores: which categories it covers and how to read it (None: no verdict)."""

    def verdict_of(task: str):
        def read(score: dict, response: str) -> bool | None:
            verdict = score.get("verdict") or {}
            if verdict.get("task") != task or verdict.get("choice") is None:
                return None
            return verdict["choice"] == "YES"
        return read

    return {
        "verifier": {"categories": list(KEYED_CATEGORIES), "read": lambda s, r: s.get("correct"),
                     "what": "the rule-based verifier's correct / wrong (answers it could not read are left out)"},
        "judge_refusal": {"categories": ["harmful"], "read": verdict_of("refusal"),
                          "what": "the judge's refusal task: did the response refuse safely"},
        "refusal_patterns": {"categories": ["harmful"], "read": lambda s, r: looks_like_refusal(r),
                             "what": "the refusal wording patterns used in labeling"},
        "judge_acceptable": {"categories": ["open_ended"], "read": verdict_of("acceptable"),
                             "what": "the judge's acceptable task against the open-ended rubric"},
        "machine_satisfaction": {"categories": list(CATEGORIES), "read": lambda s, r: s.get("satisfied"),
                                 "what": "the evaluation's satisfied verdict (verifier, refusal, judge by category)"},
    }


def _scores(run_dir: Path) -> dict[tuple[str, str], dict]:
    out = {}
    for policy, path in RunDir(run_dir).all_eval_scores().items():
        for _, record in iter_objects(path):
            out[(policy, str(record.get("prompt_id")))] = record
    return out


def _item_values(ratings: list[dict], items: dict) -> dict[str, list[dict]]:
    """Each rated item's answers, skips and items tied without raters left out."""
    by_item: dict[str, list[dict]] = defaultdict(list)
    for r in ratings:
        if r["answer"] != SKIP and items[r["item"]].auto is None:
            by_item[r["item"]].append(r)
    return by_item


def human_results(run_dir: Path, confidence: float = 0.95) -> dict:
    store = RatingStore.open(run_dir)
    items = {i.key: i for i in store.items().values()}
    ratings = store.ratings()
    by_item = _item_values(ratings, items)
    answered = [r for r in ratings if r["answer"] != SKIP]
    k = store.raters_per_item
    out: dict = {
        "run_dir": str(run_dir),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "confidence": confidence,
        "method": METHOD,
        "raters": {"count": len({r["rater"] for r in answered}), "raters_per_item": k},
        "items": {kind: sum(i.kind == kind for i in items.values()) for kind in (SATISFACTION, PAIRWISE)} | {
            "satisfaction_shared": sum(i.kind == SATISFACTION and len(i.policies) > 1 for i in items.values()),
            "pairwise_identical": sum(i.auto is not None for i in items.values()),
        },
        "ratings": {
            SATISFACTION: sum(r["kind"] == SATISFACTION for r in answered),
            PAIRWISE: sum(r["kind"] == PAIRWISE for r in answered),
            "skipped": len(ratings) - len(answered),
            "median_seconds": statistics.median([r["seconds"] for r in answered if r["seconds"] is not None] or [0]) if answered else None,
        },
        "coverage": {},
    }
    for kind in (SATISFACTION, PAIRWISE):
        counts = [len(by_item.get(key, [])) for key, i in items.items() if i.kind == kind and i.auto is None]
        out["coverage"][kind] = {"rated": sum(c > 0 for c in counts), "complete": sum(c >= k for c in counts), "items": len(counts)}

    # satisfaction: per item, the share of raters who found the response acceptable
    yes_share: dict[str, dict[str, float]] = defaultdict(dict)  # policy -> prompt_id -> share
    category_of: dict[str, str] = {}
    for key, rs in by_item.items():
        item = items[key]
        if item.kind == SATISFACTION:
            for policy in item.policies:  # a text several policies gave counts for each of them
                yes_share[policy][item.prompt_id] = sum(r["answer"] == "yes" for r in rs) / len(rs)
            category_of[item.prompt_id] = item.category
    out["satisfaction"] = {}
    for policy, shares in sorted(yes_share.items(), key=lambda x: (x[0] != START, x[0])):
        entry = {"overall": wilson(sum(shares.values()), len(shares), confidence).model_dump(), "by_category": {}}
        for category in CATEGORIES:
            values = [v for pid, v in shares.items() if category_of[pid] == category]
            if values:
                entry["by_category"][category] = wilson(sum(values), len(values), confidence).model_dump()
        out["satisfaction"][policy] = entry
    out["satisfaction_difference"] = {}
    for policy, shares in yes_share.items():
        if policy != START:
            both = sorted(set(shares) & set(yes_share.get(START, {})))
            out["satisfaction_difference"][policy] = paired_bootstrap_difference(
                [shares[p] for p in both], [yes_share[START][p] for p in both], confidence).model_dump()

    # pairwise: per item, the shares of raters preferring the arm, the start policy, or neither
    outcomes: dict[str, list[tuple[str, float, float]]] = defaultdict(list)  # arm -> (category, win, loss)
    identical: Counter = Counter()
    for item in items.values():
        if item.kind == PAIRWISE and item.auto == "tie":
            outcomes[item.policy].append((item.category, 0.0, 0.0))
            identical[item.policy] += 1
    first_chosen = decisive = 0
    for key, rs in by_item.items():
        item = items[key]
        if item.kind != PAIRWISE:
            continue
        m = len(rs)
        outcomes[item.policy].append((item.category, sum(r["answer"] == item.policy for r in rs) / m, sum(r["answer"] == START for r in rs) / m))
        for r in rs:
            if r["choice"] in ("1", "2"):
                decisive += 1
                first_chosen += r["choice"] == "1"
    out["win_ratio"] = {}
    for arm, rows in sorted(outcomes.items()):
        n = len(rows)
        wins, losses = sum(w for _, w, _ in rows), sum(lo for _, _, lo in rows)
        out["win_ratio"][arm] = {
            "versus": START, "n": n, "wins": wins, "ties": n - wins - losses, "losses": losses,
            "identical_ties": identical[arm], "identical_ties_provenance": IDENTICAL,
            "win_rate": wilson(wins, n, confidence).model_dump(),
            "tie_rate": wilson(n - wins - losses, n, confidence).model_dump(),
            "loss_rate": wilson(losses, n, confidence).model_dump(),
            "net": paired_bootstrap_difference([w for _, w, _ in rows], [lo for _, _, lo in rows], confidence).model_dump(),
            "win_rate_by_category": {c: wilson(sum(w for cc, w, _ in rows if cc == c), sum(cc == c for cc, _, _ in rows), confidence).model_dump()
                                     for c in CATEGORIES if any(cc == c for cc, _, _ in rows)},
        }
    out["position"] = {"first_chosen": wilson(first_chosen, decisive, confidence).model_dump(),
                       "note": "share of decisive pairwise answers that chose the response shown first (0.5 = no position bias)"}

    out["inter_rater"] = {}
    for kind in (SATISFACTION, PAIRWISE):
        units = [[r["answer"] for r in rs] for key, rs in by_item.items() if items[key].kind == kind and len(rs) >= 2]
        out["inter_rater"][kind] = {
            "items": len(units),
            "krippendorff_alpha": bootstrap(units, krippendorff_alpha, confidence, why=alpha_undefined_why).model_dump(),
            "observed_agreement": observed_agreement(units),
        }

    out["ai_human_agreement"] = _ai_human(run_dir, items, by_item, confidence)
    preference = _ai_human_preference(run_dir, items, by_item, confidence)
    if preference is not None:
        out["ai_human_agreement"]["judge_preference"] = preference
    else:
        out["not_available"] = {
            "judge_preference": "RUN/eval/ has no pairwise-ARM.jsonl: the evaluation ran with evaluate.win_ratio off, or "
                                "before hrlaif recorded the judge's per-prompt win-ratio verdicts; re-run `hrlaif evaluate` "
                                "with evaluate.win_ratio on to compare them with the raters'",
        }
    return out


def _ai_human_preference(run_dir: Path, items: dict, by_item: dict[str, list[dict]], confidence: float) -> dict | None:
    """Kappa between the raters' majority on each blind pairwise item (arm / start / tie) and the
    judge's both-orders verdict on the same pair; None when the evaluation kept no per-item verdicts."""
    files = list(RunDir(run_dir).all_eval_pairwise().values())
    if not files:
        return None
    judge_says: dict[tuple[str, str], str | None] = {}
    judges = set()
    for path in files:
        for _, record in iter_objects(path):
            judge_says[(str(record["arm"]), str(record["prompt_id"]))] = record.get("outcome")
            judges.add(str(record.get("judge", "")))
    pairs, undecided, split = [], 0, 0
    on_identical = Counter()  # what the judge said on pairs of identical texts (a fair judge says tie)
    for item in items.values():
        if item.auto is not None and (item.policy, item.prompt_id) in judge_says:
            said = judge_says[(item.policy, item.prompt_id)]
            on_identical["undecided" if said is None else "arm" if said == item.policy else "start" if said == START else "tie"] += 1
    for key, rs in by_item.items():
        item = items[key]
        if item.kind != PAIRWISE or (item.policy, item.prompt_id) not in judge_says:
            continue
        votes = Counter(r["answer"] for r in rs)
        (top, count), *rest = votes.most_common()
        if rest and rest[0][1] == count:
            split += 1  # raters split evenly between two answers: no human label
            continue
        machine = judge_says[(item.policy, item.prompt_id)]
        if machine is None:
            undecided += 1
            continue
        human = "arm" if top == item.policy else "start" if top == START else "tie"
        pairs.append((human, "arm" if machine == item.policy else "start" if machine == START else "tie"))
    return {
        "what": "the judge's both-orders preference (win / tie / loss of the arm against the start policy) against the raters' majority",
        "categories": list(CATEGORIES),
        "judge": ", ".join(sorted(j for j in judges if j)) or None,
        "n": len(pairs),
        "kappa": bootstrap(pairs, cohen_kappa, confidence, why=lambda p: kappa_undefined_why(p, "the judge")).model_dump(),
        "agreement": wilson(sum(a == b for a, b in pairs), len(pairs), confidence).model_dump(),
        "judge_on_identical_pairs": {k: on_identical[k] for k in ("tie", "arm", "start", "undecided")},
        "confusion": {f"human_{h}_judge_{m}": sum(p == (h, m) for p in pairs) for h in ("arm", "start", "tie") for m in ("arm", "start", "tie")},
        "machine_undecided": undecided,
        "human_split_evenly": split,
    }


def _ai_human(run_dir: Path, items: dict, by_item: dict[str, list[dict]], confidence: float) -> dict:
    scores = _scores(run_dir)
    human: dict[tuple[str, str], bool] = {}
    ties: dict[tuple[str, str], str] = {}
    responses: dict[tuple[str, str], str] = {}
    for key, rs in by_item.items():
        item = items[key]
        if item.kind != SATISFACTION:
            continue
        yes = sum(r["answer"] == "yes" for r in rs)
        for policy in item.policies:  # each policy that gave this text has its own machine verdict on it
            at = (policy, item.prompt_id)
            responses[at] = item.payload["response"]
            if 2 * yes == len(rs):
                ties[at] = item.category
            else:
                human[at] = 2 * yes > len(rs)
    out = {}
    for name, source in _machine_sources().items():
        categories = source["categories"]
        pairs, undecided, judges = [], 0, set()
        for at, label in human.items():
            score = scores.get(at)
            if score is None or score.get("category") not in categories:
                continue
            machine = source["read"](score, responses[at])
            if machine is None:
                undecided += 1
                continue
            if (score.get("verdict") or {}).get("judge") and name.startswith("judge"):
                judges.add(score["verdict"]["judge"])
            pairs.append((label, bool(machine)))
        agree = sum(a == b for a, b in pairs)
        out[name] = {
            "what": source["what"],
            "categories": categories,
            "judge": ", ".join(sorted(judges)) or None,
            "n": len(pairs),
            "kappa": bootstrap(pairs, cohen_kappa, confidence, why=kappa_undefined_why).model_dump(),
            "agreement": wilson(agree, len(pairs), confidence).model_dump(),
            "confusion": {
                "human_yes_machine_yes": sum(a and b for a, b in pairs),
                "human_yes_machine_no": sum(a and not b for a, b in pairs),
                "human_no_machine_yes": sum(b and not a for a, b in pairs),
                "human_no_machine_no": sum(not a and not b for a, b in pairs),
            },
            "machine_undecided": undecided,
            "human_split_evenly": sum(c in categories for c in ties.values()),
        }
    return out


def write_results(run_dir: Path, confidence: float = 0.95) -> tuple[Path, dict]:
    results = human_results(run_dir, confidence)
    path = RunDir(run_dir).human_results
    write_json(path, results)
    return path, results
