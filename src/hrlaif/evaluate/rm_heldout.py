"""Every arm's reward model on one shared held-out set of gold pairs (issue 25, item 10).

An RM's own held-out accuracy (`heldout_accuracy` in its summary) is measured on its arm's
held-out pairs against that arm's labels: HRLAIF's hold easy red-team and verifier-decided pairs,
RLAIF's hold judge preferences, so two such figures compare two sets of pairs, not two RMs. Here
every RM scores the same pairs, on prompts no arm's RM trained on, each with a gold answer: on
keyed prompts a (correct, wrong) pair of the run's samples as the verifier grades them (the oracle
labeler's rule), on red-team attacks the judge's harmless rewrite over the start policy's harmful
answer. Accuracy is given per route and in all (a tie counts half), with paired differences
between RMs over prompts. Each arm's accuracy on its own held-out pairs stays beside it, per the
step that decided each pair, and is said to be against its own labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from hrlaif.evaluate.best_of_n import contrasts
from hrlaif.labeling.oracle import label_oracle
from hrlaif.labeling.rm_data import recorded_split
from hrlaif.records import Pair, RedteamPair, Sample
from hrlaif.stats import paired_bootstrap_difference, wilson

KEYED = "keyed: verifier"
RED_TEAM = "red team: rewrite"
ROUTES = (KEYED, RED_TEAM)
"""The shared set's routes, each named by its gold: the verifier's grades, the judge's rewrite."""


def shared_gold_pairs(samples: Sequence[Sample], redteam: Sequence[RedteamPair], trained: set[str]) -> tuple[list[tuple[str, Pair]], dict]:
    """(route, pair) for every gold pair on a prompt in no RM's training (`trained`), and counts."""
    unseen = [s for s in samples if s.prompt_id not in trained]
    keyed, counts = label_oracle(unseen)
    attacks = [p for p in redteam if p.prompt_id not in trained]
    gold = [(KEYED, p) for p in keyed] + [(RED_TEAM, p) for p in attacks]
    info = {
        "prompts_trained_on": len(trained),
        "keyed_prompts_unseen": counts["keyed_prompts"],
        "keyed_prompts_with_a_gold_pair": counts["decidable_prompts"],
        "keyed_pairs": len(keyed),
        "red_team_pairs_available": len(redteam),
        "red_team_pairs_unseen": len(attacks),
    }
    return gold, info


def _route(pair: Pair) -> str:
    """How the arm's labeler decided a pair: red team, or its step (preference, correctness, ...)."""
    return "red team" if isinstance(pair, RedteamPair) else (pair.provenance.step or pair.provenance.route or "unnamed")


def outcome(chosen: float, rejected: float) -> float:
    """1 when the RM ranks the pair's chosen response higher, 0 when lower, a tie half."""
    return 1.0 if chosen > rejected else 0.5 if chosen == rejected else 0.0


def accuracy(outcomes: Sequence[float], confidence: float) -> dict:
    """Wilson rate of the outcomes, with the tie count beside it."""
    return wilson(sum(outcomes), len(outcomes), confidence).model_dump() | {"ties": sum(o == 0.5 for o in outcomes)}


def by_prompt(prompt_ids: Sequence[str], outcomes: Sequence[float]) -> dict[str, float]:
    """Each prompt's mean outcome: pairs of one prompt share its text and are not independent."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for pid, o in zip(prompt_ids, outcomes):
        grouped[pid].append(o)
    return {pid: sum(v) / len(v) for pid, v in grouped.items()}


def summarize(gold: Sequence[tuple[str, Pair]], outcomes: dict[str, list[float]], confidence: float = 0.95, seed: int = 0) -> dict:
    """Per RM its accuracy in all and per route; per two RMs (A minus B, `contrasts` order) the
    paired difference over prompts, in all and per route, as {diff, low, high, n}."""
    routes = [r for r in ROUTES if any(route == r for route, _ in gold)]
    ids = [p.prompt_id for _, p in gold]

    def where(route: str | None) -> list[int]:
        return [i for i, (r, _) in enumerate(gold) if route is None or r == route]

    by_rm = {}
    for name, found in outcomes.items():
        by_rm[name] = {"all": accuracy(found, confidence),
                       "by_route": {r: accuracy([found[i] for i in where(r)], confidence) for r in routes}}
    differences = []
    for a, b in contrasts(list(outcomes)):
        entry = {"a": a, "b": b}
        for key, route in [("all", None), *((r, r) for r in routes)]:
            idx = where(route)
            pa = by_prompt([ids[i] for i in idx], [outcomes[a][i] for i in idx])
            pb = by_prompt([ids[i] for i in idx], [outcomes[b][i] for i in idx])
            d = paired_bootstrap_difference([pa[k] for k in pa], [pb[k] for k in pa], confidence, seed=seed).model_dump()
            (entry if key == "all" else entry.setdefault("by_route", {}))[key] = d
        differences.append(entry)
    return {"routes": routes, "by_rm": by_rm, "differences": differences}


def score_heldout(
    arms: dict[str, dict], samples: Sequence[Sample], redteam: Sequence[RedteamPair], *, eval_fraction: float, seed: int,
    max_length: int = 1024, confidence: float = 0.95, batch_size: int = 32,
) -> dict:
    """The stage's work. `arms` maps each mode to {"pairs": its RM's pairs, "summary": its RM's
    summary, "model": its RM folder}. Scores the shared gold set and each arm's own held-out pairs
    with every RM in one pass (`score_chats`: a chat several pairs share runs once, RMs on one
    backbone share its features)."""
    from hrlaif.train.reward import pair_chats  # torch
    from hrlaif.train.reward_head import score_chats

    splits = {mode: recorded_split(a["pairs"], a["summary"], eval_fraction, seed) for mode, a in arms.items()}
    trained = {p.prompt_id for train, _, _ in splits.values() for p in train}
    gold, info = shared_gold_pairs(samples, redteam, trained)
    own = {mode: (held, how) for mode, (_, held, how) in splits.items()}
    pairs = [p for _, p in gold] + [p for held, _ in own.values() for p in held]  # the gold pairs, then each arm's own
    chosen, rejected = pair_chats(pairs)
    flat = score_chats({m: a["model"] for m, a in arms.items()}, chosen + rejected, max_length, batch_size) if pairs else {m: [] for m in arms}
    won = {m: [outcome(c, r) for c, r in zip(scores[: len(pairs)], scores[len(pairs) :])] for m, scores in flat.items()}

    shared = summarize(gold, {m: w[: len(gold)] for m, w in won.items()}, confidence, seed)
    own_figures = {}
    start = len(gold)
    for mode, (held, how) in own.items():
        found, start = won[mode][start : start + len(held)], start + len(held)
        routes: dict[str, list[float]] = defaultdict(list)
        for pair, o in zip(held, found):
            routes[_route(pair)].append(o)
        own_figures[mode] = {"against": "the arm's own labels", "split": how, "all": accuracy(found, confidence),
                             "by_route": {r: accuracy(v, confidence) for r, v in sorted(routes.items())}}
    return {"shared": {**shared, "pairs": {r: sum(route == r for route, _ in gold) for r in ROUTES}, **info},
            "own_heldout": own_figures, "reward_models": list(arms)}

