"""Preference win ratio of a trained policy against the start policy, judge asked in both orders."""

from __future__ import annotations

from pydantic import BaseModel

from hrlaif.judge.base import Judge
from hrlaif.labeling.pairwise import compare_all
from hrlaif.records import Sample
from hrlaif.stats import Difference, Rate, paired_bootstrap_difference, wilson


class WinRatio(BaseModel):
    wins: int
    ties: int
    losses: int
    unscorable: int
    n: int  # scorable comparisons
    win_rate: Rate
    tie_rate: Rate
    loss_rate: Rate
    net: Difference  # win rate minus loss rate, paired bootstrap interval
    position_consistency: Rate  # share of comparisons where both orders agreed


class PairwiseVerdict(BaseModel):
    """The judge's verdict on one prompt's (trained, start) pair, kept per item so that human
    raters' blind pairwise answers can be compared with it (RUN/eval/pairwise-ARM.jsonl)."""

    prompt_id: str
    category: str
    arm: str
    outcome: str | None  # the arm's name, "start" or "tie"; None: unscorable
    consistent: bool  # both orders named the same response
    judge: str


def win_ratio(judge: Judge, trained: list[Sample], start: list[Sample], confidence: float = 0.95, desc: str = "win ratio",
              verdicts: list[PairwiseVerdict] | None = None) -> WinRatio:
    """Strict both-orders rule: a win needs both orders to prefer the trained response;
    disagreement is a tie (soft labels are for training, not for the headline metric).
    `verdicts`, when given, receives one PairwiseVerdict per compared prompt."""
    start_by_id = {s.prompt_id: s for s in start}
    compared = [t for t in trained if t.prompt_id in start_by_id]
    pairs = [(t, start_by_id[t.prompt_id].response) for t in compared]
    comparisons = compare_all(judge, pairs, use_soft=False, desc=desc)
    outcome = []
    unscorable = 0
    for sample, c in zip(compared, comparisons):
        result = None
        if not c.scorable:
            unscorable += 1
        else:
            outcome.append(1 if c.winner == 0 else -1 if c.winner == 1 else 0)
            result = {1: sample.policy, -1: "start", 0: "tie"}[outcome[-1]]
        if verdicts is not None:
            verdicts.append(PairwiseVerdict(prompt_id=sample.prompt_id, category=sample.category, arm=sample.policy, outcome=result,
                                            consistent=bool(c.consistent), judge=judge.name))
    n = len(outcome)
    wins, losses = outcome.count(1), outcome.count(-1)
    consistent = sum(1 for c in comparisons if c.consistent)
    return WinRatio(
        wins=wins,
        ties=n - wins - losses,
        losses=losses,
        unscorable=unscorable,
        n=n,
        win_rate=wilson(wins, n, confidence),
        tie_rate=wilson(n - wins - losses, n, confidence),
        loss_rate=wilson(losses, n, confidence),
        net=paired_bootstrap_difference([float(o == 1) for o in outcome], [float(o == -1) for o in outcome], confidence),
        position_consistency=wilson(consistent, n, confidence),
    )
