"""Best-of-n reranking: the exact subset arithmetic against brute force, the fixed pickers' closed
forms, grades that are not correct, and one real (tiny, random) reward model scoring samples."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch

from hrlaif.errors import HrlaifError
from hrlaif.evaluate.best_of_n import Drawn, best_of_n, grade, grade_groups, group_samples, pairwise_accuracy, pick_shares, rm_scores
from hrlaif.records import Message, Sample


def _brute_force(grades: list[str], keys: list[float], k: int) -> dict[str, float]:
    """Every k-subset, its top-keyed samples sharing the pick evenly: the definition, enumerated."""
    shares: dict[str, float] = {}
    subsets = list(itertools.combinations(range(len(grades)), k))
    for subset in subsets:
        top = max(keys[i] for i in subset)
        tied = [i for i in subset if keys[i] == top]
        for i in tied:
            shares[grades[i]] = shares.get(grades[i], 0.0) + 1 / len(tied) / len(subsets)
    return shares


def test_pick_shares_equal_the_enumerated_expectation_with_ties() -> None:
    rng = random.Random(0)
    for _ in range(60):
        size = rng.randint(1, 7)
        grades = [rng.choice(["correct", "wrong", "unknown", "cut_off"]) for _ in range(size)]
        keys = [float(rng.randint(0, 3)) for _ in range(size)]  # few values: many ties
        for k in range(1, size + 1):
            got, want = pick_shares(grades, keys, k), _brute_force(grades, keys, k)
            assert sum(got.values()) == pytest.approx(1.0)
            for g, share in got.items():
                assert share == pytest.approx(want.get(g, 0.0), abs=1e-12), (grades, keys, k, g)


def test_fixed_pickers_have_their_closed_forms() -> None:
    grades = ["wrong", "correct", "wrong", "unknown", "correct", "wrong"]
    size, correct = len(grades), 2
    for k in range(1, size + 1):
        # a constant key (every sample tied) is the random pick: the share correct, at every k
        assert pick_shares(grades, [1.0] * size, k)["correct"] == pytest.approx(correct / size)
        # a key that puts correct first is the oracle: 1 - C(K - c, k) / C(K, k)
        oracle = pick_shares(grades, [g == "correct" for g in grades], k)["correct"]
        assert oracle == pytest.approx(1 - math.comb(size - correct, k) / math.comb(size, k))
    # k = 1 is one random sample whatever the key; k = K is the top-keyed sample
    assert pick_shares(grades, [5, 4, 3, 2, 1, 0], 1)["correct"] == pytest.approx(correct / size)
    assert pick_shares(grades, [5, 4, 3, 2, 1, 0], size) == {"correct": 0, "wrong": 1, "unknown": 0, "cut_off": 0}
    with pytest.raises(ValueError):
        pick_shares(grades, [0.0] * size, size + 1)


PROMPTS = [
    Drawn(prompt_id="a", grades=["correct", "wrong", "wrong"], lengths=[10, 50, 20]),
    Drawn(prompt_id="b", grades=["wrong", "correct", "unknown"], lengths=[30, 10, 90]),
    Drawn(prompt_id="c", grades=["cut_off", "correct", "wrong"], lengths=[400, 5, 6]),
    Drawn(prompt_id="d", grades=["correct", "correct", "correct"], lengths=[1, 2, 3]),
    Drawn(prompt_id="e", grades=["wrong", "unknown", "cut_off"], lengths=[1, 2, 3]),
]
# "good" ranks every correct sample first; "long" copies the length bias; "flat" cannot tell.
GOOD = [[2.0 if g == "correct" else -1.0 for g in d.grades] for d in PROMPTS]
LONG = [[float(n) for n in d.lengths] for d in PROMPTS]
FLAT = [[0.5] * 3 for _ in PROMPTS]


def test_best_of_n_curve_against_random_oracle_and_longest() -> None:
    result = best_of_n(PROMPTS, {"good": GOOD, "long": LONG, "flat": FLAT}, rm_differences=[("good", "long")])
    assert (result.prompts, result.samples_per_prompt) == (5, 3)
    assert result.samples == {"correct": 6, "wrong": 5, "unknown": 2, "cut_off": 2}
    assert (result.prompts_all_correct, result.prompts_none_correct) == (1, 1)
    assert [p.k for p in result.curve] == [1, 2, 3]
    for point in result.curve:
        rms = point.rms
        assert rms["good"].accuracy.rate == pytest.approx(point.oracle.accuracy.rate), "a perfect RM is the oracle"
        assert rms["flat"].accuracy.rate == pytest.approx(point.random.accuracy.rate), "a tied RM is the random pick"
        assert rms["long"].accuracy.rate == pytest.approx(point.longest.accuracy.rate)
        assert rms["good"].minus_oracle == pytest.approx(0.0)
        for pick in (point.random, point.oracle, point.longest, *rms.values()):
            assert sum(pick.counts.values()) == pytest.approx(5), "every prompt's pick has one grade"
            assert pick.accuracy.n == 5 and pick.counts["correct"] == pytest.approx(pick.accuracy.successes)
        assert set(point.rm_differences) == {"good - long"}
    # random: (1/3 + 1/3 + 1/3 + 1 + 0) / 5 at every k; oracle at K: 4 of 5 prompts have a correct sample
    assert all(p.random.accuracy.rate == pytest.approx(2 / 5) for p in result.curve)
    top = result.curve[-1]
    assert top.oracle.accuracy.rate == pytest.approx(4 / 5)
    assert top.longest.counts == {"correct": 1, "wrong": 1, "unknown": 1, "cut_off": 2}, "cut off and unknown are not correct"
    assert top.rms["good"].minus_random.diff == pytest.approx(4 / 5 - 2 / 5) and top.rms["good"].minus_random.n == 5
    assert top.rm_differences["good - long"].diff == pytest.approx(4 / 5 - 1 / 5)
    head = top.rm_differences["good - long"].model_dump()
    assert set(head) == {"diff", "low", "high", "n"} and head["low"] <= head["diff"] <= head["high"]
    assert result == best_of_n(PROMPTS, {"good": GOOD, "long": LONG, "flat": FLAT}, rm_differences=[("good", "long")]), "deterministic"
    default = best_of_n(PROMPTS, {"good": GOOD, "long": LONG, "flat": FLAT}, ks=[3])
    assert [p.k for p in default.curve] == [3] and set(default.curve[0].rm_differences) == {"good - long", "good - flat", "long - flat"}


def test_pairwise_accuracy_on_the_shared_decidable_pairs() -> None:
    result = best_of_n(PROMPTS, {"good": GOOD, "long": LONG, "flat": FLAT}, ks=[1])
    assert result.pairs == 2 + 1 + 1  # correct x wrong within a, b, c; d has no wrong, e no correct
    good, long_, flat = (result.pairwise[n] for n in ("good", "long", "flat"))
    assert good.accuracy.rate == 1.0 and good.accuracy.n == 4 and good.prompts == 3
    assert flat.accuracy.rate == 0.5 and flat.ties == 4, "a tie counts half"
    assert long_.accuracy.successes == 0 + 0 + 0 and long_.by_prompt.mean == 0.0
    assert pairwise_accuracy(PROMPTS[3:], GOOD[3:]).accuracy.n == 0, "no decidable pair: no rate"


def test_bad_shapes_say_what_is_wrong() -> None:
    with pytest.raises(HrlaifError, match="same K"):
        best_of_n([*PROMPTS, Drawn(prompt_id="x", grades=["correct"], lengths=[1])], {})
    with pytest.raises(HrlaifError, match="must score 3 samples"):
        best_of_n(PROMPTS, {"good": GOOD[:4]})
    with pytest.raises(HrlaifError, match="not a finite number"):
        best_of_n(PROMPTS, {"nan": [[float("nan")] * 3 for _ in PROMPTS]})
    with pytest.raises(HrlaifError, match="1..3"):
        best_of_n(PROMPTS, {"good": GOOD}, ks=[4])
    with pytest.raises(HrlaifError, match="no scores for RM 'rlaif'"):
        best_of_n(PROMPTS, {"good": GOOD}, rm_differences=[("good", "rlaif")])


def _sample(response: str, index: int, *, prompt_id: str = "m1", truncated: bool = False) -> Sample:
    return Sample(
        prompt_id=prompt_id,
        messages=[Message(role="user", content="What is 12 + 7?")],
        category="math",
        reference="19",
        response=response,
        sample_index=index,
        policy="start",
        truncated=truncated,
    )


def test_the_verifier_grades_correct_wrong_unknown_and_cut_off() -> None:
    assert grade(_sample("12 + 7 = 19. The answer is 19.", 0)) == "correct"
    assert grade(_sample("The answer is 20.", 0)) == "wrong"
    assert grade(_sample("I am not sure how to add these.", 0)) == "unknown"
    assert grade(_sample("Let me add 12 and 7 step by step: first 12 + 7", 0, truncated=True)) == "cut_off"
    assert grade(_sample("The answer is 19. Then I keep talking and", 0, truncated=True)) == "correct", "a finished answer counts"


def test_a_tiny_reward_model_scores_samples_and_reranks(tiny_model) -> None:
    model = tiny_model  # a causal LM folder: loaded as a reward model it gets a new score head
    responses = ["The answer is 19.", "The answer is 20.", "I cannot help with that request.", "The answer is 19."]
    samples = [_sample(r, i, prompt_id=p) for p in ("m1", "m2") for i, r in enumerate(responses)]
    groups = group_samples(list(reversed(samples)))
    assert [[s.sample_index for s in g] for g in groups] == [[0, 1, 2, 3]] * 2 and [g[0].prompt_id for g in groups] == ["m2", "m1"]
    torch.manual_seed(0)  # the score head on top of a causal LM is new: drawn from the global RNG
    scores = rm_scores({"tiny": model}, groups, max_length=64, batch_size=3)["tiny"]
    torch.manual_seed(0)
    again = rm_scores({"tiny": model}, groups, max_length=64, batch_size=8)["tiny"]
    assert [pytest.approx(row, abs=1e-5) for row in scores] == again, "batching does not change a score"
    assert [len(row) for row in scores] == [4, 4] and all(math.isfinite(x) for row in scores for x in row)
    assert scores[0][0] == pytest.approx(scores[0][3], abs=1e-5) and scores[0] == pytest.approx(scores[1], abs=1e-5), (
        "same text, same score"
    )
    drawn = grade_groups(groups)
    assert drawn[0].grades == ["correct", "wrong", "unknown", "correct"] and drawn[0].lengths == [len(r) for r in responses]
    result = best_of_n(drawn, {"tiny": scores})

    # Two RMs on one backbone share its forward pass and score as their own classifiers do.
    from hrlaif.models import load_reward_model, load_tokenizer
    from hrlaif.train.reward import score_texts

    heads = {}
    for name, seed in (("a", 1), ("b", 2)):
        torch.manual_seed(seed)
        rm = load_reward_model(model)
        rm.save_pretrained(heads.setdefault(name, model.parent / f"rm-{name}"))
        load_tokenizer(model).save_pretrained(heads[name])
    both = rm_scores(heads, groups, max_length=64)
    for name, path in heads.items():
        tokenizer, rm = load_tokenizer(path, padding_side="right"), load_reward_model(path)
        rm.config.pad_token_id = tokenizer.pad_token_id
        chats = [[m.model_dump() for m in s.messages] + [{"role": "assistant", "content": s.response}] for g in groups for s in g]
        assert [x for row in both[name] for x in row] == pytest.approx(score_texts(rm, tokenizer, chats, 64), abs=1e-5)
    assert both["a"] != both["b"]
    assert result.curve[0].rms["tiny"].accuracy.rate == pytest.approx(0.5)  # k = 1: one random sample
    assert result.pairs == 4 and result.pairwise["tiny"].accuracy.n == 4


def test_only_keyed_prompts_can_be_graded() -> None:
    open_ended = Sample(prompt_id="o", messages=[Message(role="user", content="Tips for sleep?")], category="open_ended", response="Sleep.")
    with pytest.raises(HrlaifError, match="only keyed prompts"):
        group_samples([open_ended])
