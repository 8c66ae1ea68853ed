"""Pairs of responses: which to compare, how to ask the judge, and the Pair record they become.

The judge is asked about two responses in both orders, which cancels its position bias.

Lee et al. (RLAIF vs RLHF) found even large labelers pick the same slot after a swap 18% of
the time and small ones 56%: one order alone would mostly measure position, not quality.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from hrlaif.judge.base import Judge, Question
from hrlaif.records import Pair, Provenance, Sample, Verdict, assistant


@dataclass
class Comparison:
    """Outcome of comparing `first` and `second` in both orders.

    winner: 0 (first), 1 (second), None (tie, unscorable, or a lean under the tie margin).
    p_first: probability that `first` is better, averaged over both orders (None without probs).
    how: how the two orders came out: agree | soft (they disagreed, the probabilities leaned) |
    tie | unscorable. `under_margin` says a winner the orders named was dropped because the
    averaged probability leaned less than the tie margin from 0.5.
    """

    winner: int | None
    p_first: float | None
    consistent: bool | None  # both orders named the same response; None if unscorable
    verdicts: tuple[Verdict, Verdict]
    how: str  # agree | soft | tie | unscorable
    under_margin: bool = False

    @property
    def scorable(self) -> bool:
        return all(v.scorable for v in self.verdicts)

    @property
    def chosen_prob(self) -> float | None:
        """The judge's probability that the winner beats the loser (None without a winner or probs)."""
        if self.winner is None or self.p_first is None:
            return None
        return self.p_first if self.winner == 0 else 1.0 - self.p_first


def preference_questions(first: Sample, second_response: str, context: dict | None = None) -> tuple[Question, Question]:
    """The two questions: (first as A, second as B) and the swap."""
    ctx = context if context is not None else reference_context(first)

    def ask(a: str, b: str) -> Question:
        return Question(task="preference", fields={"prompt": first.text, "response_a": a, "response_b": b}, context=ctx)

    return ask(first.response, second_response), ask(second_response, first.response)


def reference_context(sample: Sample) -> dict:
    """What only a simulated judge may use: the key of keyed prompts."""
    if sample.reference is None:
        return {"category": sample.category}
    return {"category": sample.category, "reference": sample.reference, "choices": sample.choices}


def combine(forward: Verdict, backward: Verdict, use_soft: bool = True, tie_margin: float = 0.0) -> Comparison:
    """Merge the two orders. Agreement decides; disagreement is a tie unless soft labels
    (option probabilities) lean one way. When the judge gives probabilities, a winner whose
    averaged probability leans less than `tie_margin` from 0.5 (or leans the other way) is a
    tie too: a judge that barely prefers one response has said nothing."""
    if not (forward.scorable and backward.scorable):
        return Comparison(None, None, None, (forward, backward), "unscorable")
    first_wins_fwd = forward.choice == "A"
    first_wins_bwd = backward.choice == "B"
    p_first = None
    if forward.probs and backward.probs:
        p_first = (forward.probs.get("A", 0.0) + backward.probs.get("B", 0.0)) / 2
    if first_wins_fwd == first_wins_bwd:
        comparison = Comparison(0 if first_wins_fwd else 1, p_first, True, (forward, backward), "agree")
    elif use_soft and p_first is not None and p_first != 0.5:
        comparison = Comparison(0 if p_first > 0.5 else 1, p_first, False, (forward, backward), "soft")
    else:
        return Comparison(None, p_first, False, (forward, backward), "tie")
    if p_first is not None and comparison.chosen_prob - 0.5 < tie_margin:
        comparison.winner, comparison.under_margin = None, True
        if comparison.how == "soft":
            comparison.how = "tie"  # the orders disagreed and the lean is too weak to decide
    return comparison


def compare_all(
    judge: Judge, pairs: list[tuple[Sample, str]], use_soft: bool = True, desc: str = "comparing", tie_margin: float = 0.0,
) -> list[Comparison]:
    """Compare each (sample, other response) pair in both orders with one batch of judge calls."""
    questions: list[Question] = []
    for first, second in pairs:
        questions.extend(preference_questions(first, second))
    verdicts = judge.ask(questions, desc=desc)
    return [combine(verdicts[2 * i], verdicts[2 * i + 1], use_soft, tie_margin) for i in range(len(pairs))]


def group_by_prompt(samples: list[Sample]) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.prompt_id].append(sample)
    return groups


def candidate_pairs(samples: list[Sample]) -> list[tuple[Sample, Sample]]:
    """Every two distinct responses to the same prompt (identical texts teach nothing)."""
    pairs = []
    for group in group_by_prompt(samples).values():
        for a, b in combinations(group, 2):
            if a.response.strip() != b.response.strip():
                pairs.append((a, b))
    return pairs


def pair_from(a: Sample, b: Sample, winner: int, provenance: Provenance, chosen_prob: float = 1.0) -> Pair:
    """The Pair of `a` and `b` with the `winner` (0: a, 1: b) chosen; `chosen_prob` is the
    labeler's probability that it is the better one (1 for a decision by rule)."""
    chosen, rejected = (a, b) if winner == 0 else (b, a)
    chosen_prob = min(1.0, chosen_prob)  # probabilities summed from a server's logprobs may overshoot by rounding
    return Pair(
        prompt_id=a.prompt_id,
        category=a.category,
        prompt=a.messages,
        chosen=assistant(chosen.response),
        rejected=assistant(rejected.response),
        chosen_prob=chosen_prob,
        confidence=abs(chosen_prob - 0.5) * 2,
        reference=a.reference,
        choices=a.choices,
        provenance=provenance,
    )


def preference_pair(a: Sample, b: Sample, comparison: Comparison, mode: str, route: str) -> Pair | None:
    """The pair the judge's preference decided, or None (tie, unscorable, under the margin). A
    judge without probabilities gives a hard label (chosen_prob 1)."""
    if comparison.winner is None:
        return None
    chosen_prob = comparison.chosen_prob if comparison.chosen_prob is not None else 1.0
    provenance = Provenance(
        mode=mode,
        route=route,
        step="preference",
        reason=f"judge preference, both orders ({comparison.how})",
        verdicts=list(comparison.verdicts),
        details={"p_first": comparison.p_first, "consistent": comparison.consistent},
    )
    return pair_from(a, b, comparison.winner, provenance, chosen_prob)
