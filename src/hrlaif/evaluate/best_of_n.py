"""Best-of-n reranking: a reward model judged by what it picks, without RL.

Each held-out keyed prompt has K sampled responses, each graded by the verifier; each RM scores
every response. An RM that learned correctness picks correct responses more often than chance,
and gains more as it picks among more samples (Gao et al. 2022; PPE, Frick et al. 2025). So we
report, per RM, the accuracy of its top pick over k = 1..K against three fixed pickers:

- random: the share of correct samples (the exact expectation of a random pick, not a draw);
- oracle: a correct sample whenever there is one (the ceiling);
- longest: the longest response in characters (the length bias a labeler can teach an RM).

The arithmetic is exact. For k < K, the value at k is the expectation over all C(K, k) subsets
of the K samples, in closed form: rank the samples by the picker's key; the sample at rank r
(0-based) is the pick of a random k-subset with probability C(K-1-r, k-1) / C(K, k). Ties are
split evenly: tied samples share the ranks they span and the pick earns the share of correct
among them, which is the exact expectation of a random tie-break. It is deterministic and makes a
constant RM score exactly the random pick. Every picker is this one rule with another key: the
random pick's key is constant, the oracle's the grade (correct > unknown > cut_off > wrong).

Grades: "correct" and "wrong" as the verifier decided; "cut_off" a response cut off at
max_new_tokens that the verifier could not decide (no finished answer); "unknown" any other
undecided response (no answer found, a timeout, a verifier error). Only "correct" counts as
correct; the (expected) counts of every grade among the picks go beside every accuracy.

`best_of_n` is pure (lists in, a pydantic model out); `grade_groups` and `rm_scores` are the thin
steps that read samples and run a reward model.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from hrlaif.errors import HrlaifError
from hrlaif.records import KEYED_CATEGORIES, Sample
from hrlaif.stats import Difference, Mean, Rate, bootstrap_mean, paired_bootstrap_difference, wilson
from hrlaif.verify import check_answer

Grade = Literal["correct", "wrong", "unknown", "cut_off"]
GRADES: tuple[str, ...] = ("correct", "wrong", "unknown", "cut_off")
# The oracle's key: a correct sample first; failing that, one the verifier could not read.
_ORACLE_KEY = {"correct": 3, "unknown": 2, "cut_off": 1, "wrong": 0}
TIES = "split evenly: tied samples share their ranks, the pick earns the share of correct among them (a random tie-break's expectation)"
SUBSETS = "exact expectation over all C(K, k) subsets of the K samples"


class Drawn(BaseModel):
    """One held-out keyed prompt's K samples: their grades and lengths (characters), in sample order."""

    prompt_id: str
    grades: list[Grade]
    lengths: list[int]


class Pick(BaseModel):
    """A picker's accuracy at one k, with the expected number of prompts whose pick has each grade."""

    accuracy: Rate
    counts: dict[str, float]


class RmPick(Pick):
    """An RM's pick, and the paired per-prompt differences a study's headline reads (fractions)."""

    minus_random: Difference
    minus_longest: Difference
    minus_oracle: float | None  # how far the pick falls below the best available (no interval: it is the oracle's gap)


class CurvePoint(BaseModel):
    k: int
    random: Pick
    oracle: Pick
    longest: Pick
    rms: dict[str, RmPick]
    rm_differences: dict[str, Difference]  # "A - B": A's pick minus B's, paired by prompt


class PairwiseAccuracy(BaseModel):
    """How often the RM scores the correct response of a (correct, wrong) pair of one prompt higher.

    `accuracy` is over pairs (n = pairs; a tie counts half); pairs of one prompt are not
    independent, so `by_prompt` (each prompt's share, averaged, bootstrap over prompts) carries
    the honest interval."""

    accuracy: Rate
    ties: int
    prompts: int
    by_prompt: Mean


class BestOfN(BaseModel):
    prompts: int
    samples_per_prompt: int
    samples: dict[str, int]  # grade counts over all prompts' samples
    prompts_all_correct: int  # no picker can differ on these: they only dilute the differences
    prompts_none_correct: int
    subsets: str = SUBSETS
    ties: str = TIES
    curve: list[CurvePoint]
    pairs: int  # the shared held-out set of decidable pairs (correct vs wrong, same prompt)
    pairwise: dict[str, PairwiseAccuracy]


# --- the arithmetic ------------------------------------------------------------------------------


def pick_shares(grades: Sequence[str], keys: Sequence[float], k: int) -> dict[str, float]:
    """Expected share of each grade in the pick (highest key) of a random k-subset, ties split evenly."""
    size = len(grades)
    if not 1 <= k <= size or len(keys) != size:
        raise ValueError(f"need 1 <= k <= {size} and one key per sample, got k={k}, {len(keys)} keys")
    total = math.comb(size, k)
    weights = [math.comb(size - 1 - r, k - 1) / total for r in range(size)]  # P(rank r is the pick)
    order = sorted(range(size), key=lambda i: -keys[i])
    shares = dict.fromkeys(GRADES, 0.0)
    rank = 0
    for _, group in itertools.groupby(order, key=lambda i: keys[i]):
        members = list(group)
        weight = sum(weights[rank : rank + len(members)]) / len(members)
        for i in members:
            shares[grades[i]] += weight
        rank += len(members)
    return shares


def _shares(prompts: Sequence[Drawn], keys: Sequence[Sequence[float]], k: int) -> list[dict[str, float]]:
    return [pick_shares(d.grades, row, k) for d, row in zip(prompts, keys)]


def _pick(per_prompt: list[dict[str, float]], confidence: float) -> Pick:
    correct = sum(s["correct"] for s in per_prompt)
    counts = {g: round(sum(s[g] for s in per_prompt), 6) for g in GRADES}  # rounded for reading only
    return Pick(accuracy=wilson(correct, len(per_prompt), confidence), counts=counts)


def _diff(a: list[dict[str, float]], b: list[dict[str, float]], confidence: float, seed: int) -> Difference:
    return paired_bootstrap_difference([s["correct"] for s in a], [s["correct"] for s in b], confidence, seed=seed)


def pairwise_accuracy(
    prompts: Sequence[Drawn], scores: Sequence[Sequence[float]], confidence: float = 0.95, seed: int = 0
) -> PairwiseAccuracy:
    """`PairwiseAccuracy` of one RM on every (correct, wrong) pair within each prompt."""
    wins = ties = pairs = 0
    shares = []
    for drawn, score in zip(prompts, scores):
        right = [score[i] for i, g in enumerate(drawn.grades) if g == "correct"]
        wrong = [score[i] for i, g in enumerate(drawn.grades) if g == "wrong"]
        if not right or not wrong:
            continue
        won = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
        ties += sum(r == w for r in right for w in wrong)
        wins += won
        pairs += len(right) * len(wrong)
        shares.append(won / (len(right) * len(wrong)))
    return PairwiseAccuracy(
        accuracy=wilson(wins, pairs, confidence), ties=ties, prompts=len(shares), by_prompt=bootstrap_mean(shares, confidence, seed=seed)
    )


def best_of_n(
    prompts: Sequence[Drawn],
    scores: dict[str, Sequence[Sequence[float]]],
    *,
    ks: Sequence[int] | None = None,
    rm_differences: Sequence[tuple[str, str]] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> BestOfN:
    """Best-of-k accuracy of each RM's pick (`scores[name][p][i]`: RM `name`'s score of sample i of
    prompt p) against the random, oracle and longest picks, for each k in `ks` (default 1..K).

    Accuracies are Wilson intervals over prompts of the per-prompt expected accuracy (values in
    [0, 1]: at least as wide as a mean's interval needs). Differences are paired by prompt
    (bootstrap, `seed`). `rm_differences` lists the (A, B) pairs of RMs to subtract, A minus B
    (default: every pair, in the order of `scores`). The bootstraps dominate the time: about 20 s
    on one core for 260 prompts x 32 samples x 2 RMs at every k; `ks` asks for fewer points."""
    if not prompts:
        raise HrlaifError("best-of-n: no prompts")
    size = len(prompts[0].grades)
    for drawn in prompts:
        if len(drawn.grades) != size or len(drawn.lengths) != size:
            raise HrlaifError(
                f"best-of-n: prompt {drawn.prompt_id!r} has {len(drawn.grades)} grades and {len(drawn.lengths)} lengths, "
                f"the first prompt {size} samples: every prompt needs the same K"
            )
    for name, table in scores.items():
        if len(table) != len(prompts) or any(len(row) != size for row in table):
            raise HrlaifError(f"best-of-n: RM {name!r} must score {size} samples of each of the {len(prompts)} prompts")
        if not all(math.isfinite(x) for row in table for x in row):
            raise HrlaifError(f"best-of-n: RM {name!r} gave a score that is not a finite number (NaN or inf): no order to pick by")
    ks = list(ks) if ks is not None else list(range(1, size + 1))
    if any(not 1 <= k <= size for k in ks):
        raise HrlaifError(f"best-of-n: every k must lie in 1..{size}, got {ks}")
    contrasts = list(rm_differences) if rm_differences is not None else list(itertools.combinations(scores, 2))
    for a, b in contrasts:
        if a not in scores or b not in scores:
            raise HrlaifError(f"best-of-n: no scores for RM {a if a not in scores else b!r} (have {', '.join(scores)})")

    keys = {
        "random": [[0.0] * size for _ in prompts],
        "oracle": [[_ORACLE_KEY[g] for g in d.grades] for d in prompts],
        "longest": [d.lengths for d in prompts],
    }
    curve = []
    for k in ks:
        fixed = {name: _shares(prompts, table, k) for name, table in keys.items()}
        rm_picks = {name: _shares(prompts, table, k) for name, table in scores.items()}
        oracle_rate = _pick(fixed["oracle"], confidence).accuracy.rate
        rms = {}
        for name, picks in rm_picks.items():
            base = _pick(picks, confidence)
            rms[name] = RmPick(
                **base.model_dump(),
                minus_random=_diff(picks, fixed["random"], confidence, seed),
                minus_longest=_diff(picks, fixed["longest"], confidence, seed),
                minus_oracle=base.accuracy.rate - oracle_rate,
            )
        curve.append(
            CurvePoint(
                k=k,
                **{name: _pick(picks, confidence) for name, picks in fixed.items()},
                rms=rms,
                rm_differences={f"{a} - {b}": _diff(rm_picks[a], rm_picks[b], confidence, seed) for a, b in contrasts},
            )
        )
    correct = [d.grades.count("correct") for d in prompts]
    pairwise = {name: pairwise_accuracy(prompts, table, confidence, seed) for name, table in scores.items()}
    return BestOfN(
        prompts=len(prompts),
        samples_per_prompt=size,
        samples={g: sum(d.grades.count(g) for d in prompts) for g in GRADES},
        prompts_all_correct=sum(c == size for c in correct),
        prompts_none_correct=sum(c == 0 for c in correct),
        curve=curve,
        pairs=sum(d.grades.count("correct") * d.grades.count("wrong") for d in prompts),
        pairwise=pairwise,
    )


# --- the thin steps: samples in, grades and scores out -------------------------------------------


def group_samples(samples: Sequence[Sample]) -> list[list[Sample]]:
    """Samples grouped by prompt (in first-seen order), each group in sample_index order."""
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        if s.category not in KEYED_CATEGORIES:
            raise HrlaifError(
                f"best-of-n: prompt {s.prompt_id!r} is {s.category}; only keyed prompts ({', '.join(KEYED_CATEGORIES)}) can be graded"
            )
        groups.setdefault(s.prompt_id, []).append(s)
    return [sorted(g, key=lambda s: s.sample_index) for g in groups.values()]


def grade(sample: Sample, timeout_s: float = 2.0) -> Grade:
    """The verifier's grade of one keyed sample (the same check evaluation's accuracy uses)."""
    check = check_answer(
        sample.category, sample.response, sample.reference or "", sample.choices, timeout_s=timeout_s, truncated=sample.truncated
    )
    if check.correct is not None:
        return "correct" if check.correct else "wrong"
    return "cut_off" if sample.truncated else "unknown"


def grade_groups(groups: Sequence[Sequence[Sample]], timeout_s: float = 2.0) -> list[Drawn]:
    return [Drawn(prompt_id=g[0].prompt_id, grades=[grade(s, timeout_s) for s in g], lengths=[len(s.response) for s in g]) for g in groups]


def rm_scores(reward_models: dict[str, str | Path], groups: Sequence[Sequence[Sample]], max_length: int = 1024,
              batch_size: int = 8) -> dict[str, list[list[float]]]:
    """Each reward model's score of every sample (prompt + response), shaped as `groups`; RMs that
    share a backbone share its forward pass (`train.reward_head.score_chats`)."""
    from hrlaif.train.reward_head import score_chats  # torch

    chats = [[m.model_dump() for m in s.messages] + [{"role": "assistant", "content": s.response}] for g in groups for s in g]
    found = {}
    for name, flat in score_chats(reward_models, chats, max_length, batch_size).items():
        scores = iter(flat)
        found[name] = [[next(scores) for _ in g] for g in groups]
    return found


# --- the headline a study reads, and the stage's whole work ----------------------------------------

# RMs subtracted in this order (A before B gives "A - B"): the oracle arm first, then HRLAIF, then
# RLAIF, then any other arm by name; so "hrlaif - rlaif" and "oracle - ..." come out the right way round.
CONTRAST_ORDER = ("oracle", "hrlaif", "rlaif")


def contrasts(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of RMs, A minus B, A the earlier in CONTRAST_ORDER (others after, by name)."""
    ranked = sorted(names, key=lambda n: (CONTRAST_ORDER.index(n) if n in CONTRAST_ORDER else len(CONTRAST_ORDER), n))
    return list(itertools.combinations(ranked, 2))


def correct_shares(prompts: Sequence[Drawn], keys: Sequence[Sequence[float]], k: int) -> list[float]:
    """Per prompt, the expected share correct of the pick (highest key) of a random k-subset."""
    return [pick_shares(d.grades, row, k)["correct"] for d, row in zip(prompts, keys)]


def headline(per_prompt: dict[str, Sequence[float]], random: Sequence[float], *, confidence: float = 0.95, seed: int = 0,
             alpha: float = 0.05, power: float = 0.8) -> dict:
    """The figures a study's answer rests on, from per-prompt best-of-K accuracies (`per_prompt[RM]`,
    `random`: the random pick's, the share of correct samples), paired by prompt, fractions:

    - positive_control: the oracle RM's pick minus the random pick ({diff, low, high, n}; None without an oracle RM);
    - hrlaif_vs_rlaif_bon: the HRLAIF RM's pick minus the RLAIF RM's (None unless both exist);
    - min_detectable_effect: the smallest HRLAIF-vs-RLAIF difference these n prompts detect (paired,
      normal approximation, `power`, two-sided `alpha`) at the observed SD of the per-prompt
      differences; at the assumed SD when there is no such pair or the picks never differ;
    - eval_keyed_items: the prompts (n); `power` says how the effect was found."""
    from statistics import stdev

    from hrlaif.power import ASSUMED_SD, paired_mde

    n = len(random)
    for name, values in per_prompt.items():
        if len(values) != n:
            raise HrlaifError(f"best-of-n headline: RM {name!r} has {len(values)} prompts, the random pick {n}")

    def paired(a: Sequence[float], b: Sequence[float]) -> dict:
        return paired_bootstrap_difference(list(a), list(b), confidence, seed=seed).model_dump()

    both = "hrlaif" in per_prompt and "rlaif" in per_prompt
    diffs = [a - b for a, b in zip(per_prompt["hrlaif"], per_prompt["rlaif"])] if both else []
    observed = stdev(diffs) if len(diffs) > 1 else 0.0
    sd, source = (observed, "observed") if observed > 0 else (ASSUMED_SD, "assumed")
    return {
        "positive_control": paired(per_prompt["oracle"], random) if "oracle" in per_prompt else None,
        "hrlaif_vs_rlaif_bon": paired(per_prompt["hrlaif"], per_prompt["rlaif"]) if both else None,
        "min_detectable_effect": paired_mde(n, sd, alpha=alpha, power=power) if n else None,
        "eval_keyed_items": n,
        "power": {
            "method": "paired per-prompt difference, normal approximation (hrlaif.power.paired_mde)",
            "alpha": alpha, "power": power, "n": n, "sd": sd, "sd_source": source,
            "discordance": sum(d != 0 for d in diffs) / len(diffs) if diffs else None,  # prompts where the two picks differ
            "assumed_sd": ASSUMED_SD,
            "min_detectable_effect_at_assumed_sd": paired_mde(n, ASSUMED_SD, alpha=alpha, power=power) if n else None,
        },
    }


def rerank(samples: Sequence[Sample], reward_models: dict[str, str | Path], *, max_length: int = 1024, confidence: float = 0.95,
           seed: int = 0, timeout_s: float = 2.0, batch_size: int = 32) -> dict:
    """The best-of-n stage's work: group and grade the samples, score them with each RM, and the
    curve, pairwise accuracies, RM differences and headline (at k = K) as one JSON-ready dict."""
    groups = group_samples(samples)
    drawn = grade_groups(groups, timeout_s)
    # Batches of 32: 30% less time per text than 8 on 2 CPU threads (SmolLM2, reach prompts), small for a GPU.
    scores = rm_scores(reward_models, groups, max_length=max_length, batch_size=batch_size)
    result = best_of_n(drawn, scores, rm_differences=contrasts(list(scores)), confidence=confidence, seed=seed)
    size = result.samples_per_prompt
    per_prompt = {name: correct_shares(drawn, table, size) for name, table in scores.items()}
    random = correct_shares(drawn, [[0.0] * size for _ in drawn], size)
    return {
        "headline": headline(per_prompt, random, confidence=confidence, seed=seed),
        "reward_models": list(scores),
        "k": size,
        **result.model_dump(mode="json"),
        "per_prompt": [{"prompt_id": d.prompt_id, "grades": d.grades, "lengths": d.lengths, "scores": {n: scores[n][i] for n in scores}}
                       for i, d in enumerate(drawn)],
    }
