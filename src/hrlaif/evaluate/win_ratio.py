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


def win_ratio(judge: Judge, trained: list[Sample], start: list[Sample], confidence: float = 0.95, desc: str = "win ratio") -> WinRatio:
    """Strict both-orders rule: a win needs both orders to prefer the trained response;
    disagreement is a tie (soft labels are for training, not for the headline metric)."""
    start_by_id = {s.prompt_id: s for s in start}
    pairs = [(t, start_by_id[t.prompt_id].response) for t in trained if t.prompt_id in start_by_id]
    comparisons = compare_all(judge, pairs, use_soft=False, desc=desc)
    outcome = []
    unscorable = 0
    for c in comparisons:
        if not c.scorable:
            unscorable += 1
        else:
            outcome.append(1 if c.winner == 0 else -1 if c.winner == 1 else 0)
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
