"""Build the reach sets (reach_train.jsonl, reach_eval.jsonl): keyed prompts in a small policy's reach.

A study sees an effect only where labels can differ between its arms, so only on prompts the
policy gets right some of the time. A pilot with SmolLM2-135M-Instruct found three families
there (sampled accuracy ~33-55%, many prompts with both right and wrong samples):

- mc2_facts: two-option multiple choice on easy facts (the hand-written `reach_facts`);
- mc2_sums: two-option multiple choice on a one-digit sum, the wrong option near the answer;
- add1: a one-digit sum answered freely, the reference the number (the prompt asks for the
  number: unasked, the policy talks past a short max_new_tokens).

Train and eval are split by the fact, not the question text: every country, thing, word pair,
animal and sum belongs to one side, and a question's wrong option comes from its own side, so
no eval fact reaches training in any wording. Each record names its family, topic and fact in
`extra`; within a split and family the right option is A in half the questions.

Measured on these files (the first 30 eval prompts of each family, 4 samples each, the embedded
SmolLM2 at temperature 0.9 and max_new_tokens 48): mc2_facts 50% right, mc2_sums 52%, add1 32%
(34% of its answers cut off), with 21, 22 and 15 of the 30 prompts answered both right and wrong.

Run `python -m hrlaif.data.reach_sets [--out-dir DIR]`; the same seed gives the same files.
Select them with data.train_prompts: bundled:reach_train, data.eval_prompts: bundled:reach_eval.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations, zip_longest
from pathlib import Path
from typing import TypeVar

from hrlaif.data import reach_facts as facts
from hrlaif.data.build_prompts import HERE, LETTERS, SEED, builder_cli, mc_text
from hrlaif.jsonl import write_jsonl
from hrlaif.records import Prompt

FAMILIES = ("mc2_facts", "mc2_sums", "add1")
# Sized for power: the eval side is at least 400 keyed items. The sums have only 45 distinct
# pairs of digits (22 or 23 a side), so their questions repeat a sum in other wordings.
SIZES = {
    "train": {"mc2_facts": 300, "mc2_sums": 120, "add1": 120},
    "eval": {"mc2_facts": 240, "mc2_sums": 100, "add1": 100},
}
SPLITS = ("train", "eval")
DIGITS = range(1, 10)
# A bare "What is 3 + 4?" sends SmolLM2 into prose: at max_new_tokens 48 (study.yaml) 68% of its
# answers were cut off before a number, 14% right (96 samples); asked for the number, 30% were
# cut off and 26-33% right, with more prompts answered both right and wrong. "Add 3 and 4." and
# "What is the sum of 3 and 4?" did worse still (3 right of 28, 0 of 16).
ADD1_WORDINGS = (
    "What is {x} + {y}? Answer with a number.",
    "What is {x} + {y}? Give only the number.",
    "What is {x} plus {y}? Answer with a number.",
)
MAX_SIZE_PAIRS_PER_THING = 3  # so that comparisons of sizes do not crowd out the other topics

T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    """One question before its options are lettered: `wrong` is None for a free-form one."""

    family: str
    topic: str
    fact: str  # what the question tests; no fact is on both sides of the split
    stem: str
    right: str
    wrong: str | None = None


Unit = list[Question]  # every wording of one fact


def split_halves(r: random.Random, strata: Sequence[Sequence[T]]) -> dict[str, list[T]]:
    """Half of every stratum to each side (alternating, so odd strata even out overall)."""
    sides: dict[str, list[T]] = {"train": [], "eval": []}
    turn = 0
    for stratum in strata:
        shuffled = list(stratum)
        r.shuffle(shuffled)
        for item in shuffled:
            sides[SPLITS[turn % 2]].append(item)
            turn += 1
    return sides


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


# --- mc2_facts: one builder per topic, each given its side's share of the facts ----------


def group_units(members: dict[str, list[str]]) -> list[Unit]:
    """'Which of these is a fruit?': a member against a member of another (not close) group."""
    units = []
    for label, names in members.items():
        others = [n for other, ns in members.items() if other != label and frozenset((label, other)) not in facts.CLOSE_GROUPS for n in ns]
        for name in names:
            units.append([Question("mc2_facts", "group", f"group:{name}", f"Which of these is {label}?", name, w) for w in others])
    return units


def capital_units(pairs: list[tuple[str, str]]) -> list[Unit]:
    return [
        [
            Question("mc2_facts", "capital", f"capital:{country}", f"What is the capital of {country}?", city, w)
            for _, w in pairs
            if w != city
        ]
        for country, city in pairs
    ]


def sound_units(pairs: list[tuple[str, str]]) -> list[Unit]:
    """An animal's sound, asked both ways ('What sound does a cow make?', "Which animal says 'moo'?")."""
    units = []
    for animal, sound in pairs:
        fact = f"sound:{animal}"
        units.append(
            [Question("mc2_facts", "sound", fact, f"What sound does {_a(animal)} make?", sound, w) for a, w in pairs if a != animal]
            + [Question("mc2_facts", "sound", fact, f"Which animal says '{sound}'?", animal, a) for a, _ in pairs if a != animal]
        )
    return units


def color_units(things: list[tuple[str, str, list[str]]]) -> list[Unit]:
    return [
        [Question("mc2_facts", "color", f"color:{thing}", f"What color is {thing}?", color, w) for w in wrong]
        for thing, color, wrong in things
    ]


def opposite_units(pairs: list[tuple[str, str]]) -> list[Unit]:
    """A word's opposite, asked from either end; the wrong option is a word of another pair."""
    units = []
    for one, other in pairs:
        words = [w for pair in pairs if pair != (one, other) for w in pair]
        units.append(
            [
                Question("mc2_facts", "opposite", f"opposite:{one}/{other}", f"What is the opposite of '{a}'?", b, w)
                for a, b in ((one, other), (other, one))
                for w in words
            ]
        )
    return units


def size_units(r: random.Random, tiers: list[tuple[int, str]]) -> list[Unit]:
    """'Which is bigger?' / 'Which is smaller?' between things two or more size tiers apart."""
    pairs = [(a, b) for a, b in combinations(sorted(tiers), 2) if b[0] - a[0] >= 2]
    r.shuffle(pairs)
    degree: dict[str, int] = {}
    units = []
    for (_, small), (_, big) in pairs:
        if degree.get(small, 0) < MAX_SIZE_PAIRS_PER_THING and degree.get(big, 0) < MAX_SIZE_PAIRS_PER_THING:
            degree[small], degree[big] = degree.get(small, 0) + 1, degree.get(big, 0) + 1
            fact = f"size:{small}<{big}"
            units.append(
                [
                    Question("mc2_facts", "size", fact, "Which is bigger?", big, small),
                    Question("mc2_facts", "size", fact, "Which is smaller?", small, big),
                ]
            )
    return units


def fact_units(seed: int) -> dict[str, list[list[Unit]]]:
    """Per side, the units of every fact topic, each topic's facts halved between the sides."""
    r = random.Random(f"{seed}:reach:facts")
    groups = split_halves(r, [[(label, name) for name in names] for label, names in facts.GROUPS.items()])
    capitals = split_halves(r, [facts.CAPITALS])
    sounds = split_halves(r, [facts.SOUNDS])
    colors = split_halves(r, [facts.COLORS])
    opposites = split_halves(r, [facts.OPPOSITES])
    sizes = split_halves(r, [[(tier, thing) for thing in things] for tier, things in enumerate(facts.SIZES)])
    topics = {}
    for side in SPLITS:
        members = {label: [n for lab, n in groups[side] if lab == label] for label in facts.GROUPS}
        topics[side] = [
            group_units(members), capital_units(capitals[side]), sound_units(sounds[side]),
            color_units(colors[side]), opposite_units(opposites[side]), size_units(r, sizes[side]),
        ]  # fmt: skip
    return topics


# --- mc2_sums and add1: one split of the 45 pairs of digits serves both ------------------


def sum_units(pairs: list[tuple[int, int]]) -> dict[str, list[Unit]]:
    """Both families' units for these digit pairs: either order, and (mc2) every near wrong sum
    that is not one of the two digits (a response restating "3 + 5 = 8" must name only one option)."""
    mc2, add1 = [], []
    for a, b in pairs:
        total, fact = a + b, f"sum:{a}+{b}"
        orders = [(a, b)] if a == b else [(a, b), (b, a)]
        wrong = [total + d for d in (-2, -1, 1, 2) if total + d > 0 and total + d not in (a, b)]
        mc2.append([Question("mc2_sums", "sum", fact, f"What is {x} + {y}?", str(total), str(w)) for x, y in orders for w in wrong])
        add1.append([Question("add1", "sum", fact, t.format(x=x, y=y), str(total)) for x, y in orders for t in ADD1_WORDINGS])
    return {"mc2_sums": [mc2], "add1": [add1]}


# --- assembly -----------------------------------------------------------------------------


def pick(r: random.Random, topics: list[list[Unit]], count: int, what: str) -> list[Question]:
    """`count` questions, every fact once before any fact twice, topics taking turns."""
    for units in topics:
        for unit in units:
            r.shuffle(unit)
        r.shuffle(units)
    picked: list[Question] = []
    for depth in range(max(len(u) for units in topics for u in units)):
        for row in zip_longest(*topics):
            for unit in row:
                if unit is not None and depth < len(unit) and len(picked) < count:
                    picked.append(unit[depth])
    if len(picked) < count:
        raise ValueError(f"{what}: only {len(picked)} distinct questions, need {count}")
    return picked


def record(question: Question, split: str, number: int, letter: str | None) -> dict:
    """The Prompt record of a question; `letter` puts the right option at A or B (mc2 only)."""
    extra = {"family": question.family, "topic": question.topic, "fact": question.fact}
    base = {"id": f"reach-{split}-{question.family}-{number:04d}"}
    if question.wrong is None:
        return base | {"prompt": question.stem, "category": "math", "reference": question.right, "choices": None, "extra": extra}
    options = [question.right, question.wrong] if letter == "A" else [question.wrong, question.right]
    return base | {
        "prompt": mc_text(question.stem, options),
        "category": "multiple_choice",
        "reference": letter,
        "choices": options,
        "extra": extra,
    }


def records(seed: int = SEED) -> dict[str, list[dict]]:
    """Both splits' records, families interleaved so that a capped read (data.max_*_prompts)
    still sees each of them."""
    units: dict[str, dict[str, list[list[Unit]]]] = {side: {} for side in SPLITS}
    for side, topics in fact_units(seed).items():
        units[side]["mc2_facts"] = topics
    digit_pairs = split_halves(random.Random(f"{seed}:reach:sums"), [[(a, b) for a in DIGITS for b in DIGITS if a <= b]])
    for side in SPLITS:
        units[side] |= sum_units(digit_pairs[side])
    out: dict[str, list[dict]] = {}
    for side in SPLITS:
        by_family = []
        for family in FAMILIES:
            r = random.Random(f"{seed}:reach:{side}:{family}")
            questions = pick(r, units[side][family], SIZES[side][family], f"{side} {family}")
            letters = (list(LETTERS[:2]) * len(questions))[: len(questions)]
            r.shuffle(letters)
            by_family.append(
                [record(q, side, n, letter if q.wrong else None) for n, (q, letter) in enumerate(zip(questions, letters), start=1)]
            )
        out[side] = [rec for row in zip_longest(*by_family) for rec in row if rec is not None]
        for rec in out[side]:
            Prompt.model_validate(rec)
    texts = {side: [rec["prompt"] for rec in out[side]] for side in SPLITS}
    assert all(len(set(t)) == len(t) for t in texts.values()), "a question repeats within a split"
    facts_of = {side: {rec["extra"]["fact"] for rec in out[side]} for side in SPLITS}
    assert not facts_of["train"] & facts_of["eval"], "a fact is on both sides"
    assert not set(texts["train"]) & set(texts["eval"]), "a question is on both sides"
    return out


def build(out_dir: Path | str = HERE, seed: int = SEED) -> dict[str, int]:
    """Write reach_train.jsonl and reach_eval.jsonl into `out_dir`; returns the record count of each."""
    return {side: write_jsonl(Path(out_dir) / f"reach_{side}.jsonl", recs) for side, recs in records(seed).items()}


def main(argv: list[str] | None = None) -> None:
    builder_cli(__doc__, build, lambda side: f"reach_{side}.jsonl", SEED, argv)


if __name__ == "__main__":
    main()
