"""The reach sets (issue 29): reproducible, sized for power, split by fact, balanced, and graded
right by the project's own verifier when answered the way a model answers."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from hrlaif.config import DataConfig
from hrlaif.data import bundled_path, reach_facts
from hrlaif.data.reach_sets import FAMILIES, SIZES, build
from hrlaif.jsonl import read_jsonl
from hrlaif.prompts import load_prompts
from hrlaif.records import Prompt
from hrlaif.verify import check_answer

SPLITS = ("train", "eval")


@pytest.fixture(scope="module")
def sets() -> dict[str, list[Prompt]]:
    return {split: read_jsonl(bundled_path(f"reach_{split}"), Prompt) for split in SPLITS}


def family(p: Prompt) -> str:
    return p.extra["family"]


def stem(p: Prompt) -> str:
    return p.text.split("\n", 1)[0]


def digits(p: Prompt) -> tuple[int, int]:
    x, y = (int(d) for d in re.findall(r"\d+", stem(p)))
    return x, y


def right_and_wrong(p: Prompt) -> tuple[str, str]:
    right = p.choices["AB".index(p.reference)]
    return right, next(c for c in p.choices if c != right)


def test_same_seed_same_bytes(tmp_path) -> None:
    assert build(tmp_path) == {"train": 540, "eval": 440}
    for split in SPLITS:
        assert (tmp_path / f"reach_{split}.jsonl").read_bytes() == bundled_path(f"reach_{split}").read_bytes(), split


def test_another_seed_other_questions(tmp_path) -> None:
    build(tmp_path, seed=1)
    assert (tmp_path / "reach_eval.jsonl").read_bytes() != bundled_path("reach_eval").read_bytes()


@pytest.mark.parametrize("split", SPLITS)
def test_sizes(sets, split) -> None:
    prompts = sets[split]
    assert Counter(map(family, prompts)) == SIZES[split]
    assert all(p.category in ("math", "multiple_choice") and p.reference for p in prompts)  # every item keyed
    assert len({p.id for p in prompts}) == len({p.text for p in prompts}) == len(prompts)
    assert all(p.id.startswith(f"reach-{split}-{family(p)}-") for p in prompts)
    assert len(sets["eval"]) >= 400 and len(sets["train"]) >= 300


def test_split_by_fact_not_only_by_text(sets) -> None:
    train, held_out = sets["train"], sets["eval"]
    assert not {p.text for p in train} & {p.text for p in held_out}
    assert not {p.extra["fact"] for p in train} & {p.extra["fact"] for p in held_out}
    # Read from the question itself, not from `extra`: no sum and no (question, answer) on both sides.
    sums = {split: {tuple(sorted(digits(p))) for p in sets[split] if family(p) != "mc2_facts"} for split in SPLITS}
    assert not sums["train"] & sums["eval"] and len(sums["train"] | sums["eval"]) == 45
    asked = {split: {(stem(p), right_and_wrong(p)[0]) for p in sets[split] if family(p) == "mc2_facts"} for split in SPLITS}
    assert asked["train"] and asked["eval"] and not asked["train"] & asked["eval"]
    # Nor an entity: a capital question in eval names a country no train question names.
    countries = {
        split: {re.sub(r"What is the capital of (.*)\?", r"\1", stem(p)) for p in sets[split] if p.extra["topic"] == "capital"}
        for split in SPLITS
    }
    assert countries["train"] and countries["eval"] and not countries["train"] & countries["eval"]


@pytest.mark.parametrize("split", SPLITS)
def test_right_option_is_a_in_half(sets, split) -> None:
    for name in ("mc2_facts", "mc2_sums"):
        letters = Counter(p.reference for p in sets[split] if family(p) == name)
        assert set(letters) == {"A", "B"} and abs(letters["A"] - letters["B"]) <= 1, (name, letters)


def test_every_fact_asked_before_any_twice(sets) -> None:
    for split in SPLITS:
        per_fact = Counter(p.extra["fact"] for p in sets[split] if family(p) == "mc2_facts")
        assert max(per_fact.values()) - min(per_fact.values()) <= 1, split
        assert len(per_fact) >= 130, split  # distinct facts, not rewordings, carry the power


def test_references_agree_with_the_facts(sets) -> None:
    """Each key recomputed from the question text and the hand-written fact base."""
    capitals = dict(reach_facts.CAPITALS)
    sounds = dict(reach_facts.SOUNDS)
    colors = {thing: color for thing, color, _ in reach_facts.COLORS}
    opposite = {a: b for pair in reach_facts.OPPOSITES for a, b in (pair, pair[::-1])}
    tier = {thing: n for n, things in enumerate(reach_facts.SIZES) for thing in things}
    assert len(sets["train"]) >= 300 and len(sets["eval"]) >= 400
    for p in sets["train"] + sets["eval"]:
        if family(p) == "add1":
            assert p.reference == str(sum(digits(p))) and p.choices is None, p.id
            continue
        assert len(p.choices) == 2 and p.choices[0] != p.choices[1], p.id
        right, wrong = right_and_wrong(p)
        question = stem(p)
        if family(p) == "mc2_sums":
            total = sum(digits(p))
            assert right == str(total) and 1 <= abs(int(wrong) - total) <= 2 and int(wrong) not in digits(p), p.id
        elif m := re.fullmatch(r"Which of these is (.*)\?", question):
            assert right in reach_facts.GROUPS[m[1]] and wrong not in reach_facts.GROUPS[m[1]], p.id
        elif m := re.fullmatch(r"What is the capital of (.*)\?", question):
            assert capitals[m[1]] == right != wrong, p.id
        elif m := re.fullmatch(r"What sound does an? (.*) make\?", question):
            assert sounds[m[1]] == right != wrong, p.id
        elif m := re.fullmatch(r"Which animal says '(.*)'\?", question):
            assert sounds[right] == m[1] != sounds[wrong], p.id
        elif m := re.fullmatch(r"What color is (.*)\?", question):
            assert colors[m[1]] == right != wrong, p.id
        elif m := re.fullmatch(r"What is the opposite of '(.*)'\?", question):
            assert opposite[m[1]] == right and wrong not in (m[1], right), p.id
        else:
            assert question in ("Which is bigger?", "Which is smaller?"), p.id
            bigger = question == "Which is bigger?"
            assert (tier[right] - tier[wrong]) * (1 if bigger else -1) >= 2, p.id


def natural_answers(p: Prompt) -> list[tuple[str, bool]]:
    """Ways a model writes a right (True) and a wrong (False) answer to `p`."""
    if family(p) == "add1":
        (x, y), total = digits(p), p.reference
        off = str(int(total) + 1)
        return [(f"The answer is {total}.", True), (total, True), (f"{x} + {y} = {total}", True), (f"{x} + {y} = {total}.", True),
                (f"The answer is {off}.", False), (off, False), (f"{x} + {y} = {off}", False)]  # fmt: skip
    right, wrong = right_and_wrong(p)
    ref, other = p.reference, "B" if p.reference == "A" else "A"
    answers = [(f"The answer is {ref}.", True), (ref, True), (f"{ref}. {right}", True), (f"The answer is {right}.", True), (right, True),
               (f"The answer is {other}.", False), (other, False), (f"{other}. {wrong}", False), (wrong, False)]  # fmt: skip
    if family(p) == "mc2_sums":
        sum_text = stem(p).removeprefix("What is ").removesuffix("?")
        answers += [(f"{sum_text} = {right}", True), (f"{sum_text} = {wrong}", False)]
    return answers


@pytest.mark.parametrize("name", FAMILIES)
def test_verifier_grades_natural_answers(sets, name) -> None:
    """The check labeling and evaluation use (hrlaif.verify.check_answer) on every item."""
    failures = []
    for p in sets["train"] + sets["eval"]:
        if family(p) != name:
            continue
        for response, right in natural_answers(p):
            check = check_answer(p.category, response, p.reference, p.choices)
            if check.correct is not right:
                failures.append(f"{p.id} {response!r}: {check.outcome} ({check.detail})")
    assert any(family(p) == name for p in sets["train"] + sets["eval"]), f"no {name} items: nothing was checked"
    assert not failures, "\n".join(failures[:20])


def test_the_config_selects_them() -> None:
    data = DataConfig(train_prompts="bundled:reach_train", eval_prompts="bundled:reach_eval", max_eval_prompts=12)
    assert len(load_prompts(data.train_prompts, None, data, "train")) == 540
    capped = load_prompts(data.eval_prompts, data.max_eval_prompts, data, "eval")
    assert len(capped) == 12 and set(map(family, capped)) == set(FAMILIES)  # a capped read still sees every family
