"""The bundled prompt and red-team sets: valid, balanced, disjoint, and reproducible."""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction

import pytest
import yaml

from hrlaif.data import BUNDLED, bundled_path
from hrlaif.data.build_prompts import build, read_lines
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import read_jsonl
from hrlaif.records import CATEGORIES, Prompt

SIZES = {"train": 75, "eval": 50}


@pytest.fixture(scope="module")
def prompts() -> dict[str, list[Prompt]]:
    return {split: read_jsonl(bundled_path(split), Prompt) for split in SIZES}


def test_every_bundled_file_exists() -> None:
    assert {*SIZES, "attacks_train", "attacks_eval", "redteam_seeds"} <= BUNDLED.keys()  # the sets the tests below read
    for name in BUNDLED:
        assert bundled_path(name).is_file(), name


def test_unknown_set_is_named() -> None:
    with pytest.raises(HrlaifError, match="nope"):
        bundled_path("nope")


@pytest.mark.parametrize("split", list(SIZES))
def test_sizes_and_balance(prompts, split) -> None:
    records = prompts[split]
    assert Counter(p.category for p in records) == {c: SIZES[split] for c in CATEGORIES}
    assert len({p.id for p in records}) == len(records)
    assert records and all(p.id.startswith(f"{split}-{p.category}-") for p in records)
    assert len({p.text for p in records}) == len(records)


def test_train_and_eval_are_disjoint(prompts) -> None:
    assert prompts["train"] and prompts["eval"] and not {p.text for p in prompts["train"]} & {p.text for p in prompts["eval"]}


def test_multiple_choice_is_well_formed(prompts) -> None:
    assert sum(p.category == "multiple_choice" for p in prompts["train"] + prompts["eval"]) == SIZES["train"] + SIZES["eval"]
    for p in prompts["train"] + prompts["eval"]:
        if p.category != "multiple_choice":
            assert p.choices is None
            continue
        assert len(p.choices) == 4 and len(set(p.choices)) == 4, p.id
        assert p.reference in ("A", "B", "C", "D"), p.id  # not `in "ABCD"`: "" and "AB" are in that string
        for letter, option in zip("ABCD", p.choices):
            assert f"\n{letter}. {option}\n" in p.text, p.id
        assert p.text.endswith("Answer with the letter of the correct option.")


def test_math_references_are_numbers(prompts) -> None:
    assert sum(p.category == "math" for p in prompts["train"] + prompts["eval"]) == SIZES["train"] + SIZES["eval"]
    for p in prompts["train"] + prompts["eval"]:
        if p.category == "math":
            Fraction(p.reference)  # raises on anything that is not a plain number or a/b
        elif p.category in ("harmful", "open_ended"):
            assert p.reference is None


def test_generator_is_deterministic(tmp_path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert build(first) == {"train": 300, "eval": 200}
    build(second)
    for split in SIZES:
        shipped = bundled_path(split).read_bytes()
        assert (first / f"{split}.jsonl").read_bytes() == (second / f"{split}.jsonl").read_bytes() == shipped


def test_hand_written_lists_are_distinct() -> None:
    harmful, open_ended = read_lines("harmful_prompts.txt"), read_lines("open_ended_prompts.txt")
    assert len(harmful) == len(open_ended) == 125
    assert not set(harmful) & set(open_ended)


def test_redteam_seeds_and_attacks() -> None:
    seeds = yaml.safe_load(bundled_path("redteam_seeds").read_text(encoding="utf-8"))
    assert all(isinstance(text, str) and text for text in seeds["topics"].values())
    for name, strategy in seeds["strategies"].items():
        assert strategy["description"] and "{request}" in strategy["template"], name
    attacks = {}
    for split in ("attacks_train", "attacks_eval"):
        lines = bundled_path(split).read_text(encoding="utf-8").splitlines()
        attacks[split] = [json.loads(line) for line in lines if line.strip()]
        for a in attacks[split]:
            assert set(a) == {"id", "topic", "strategy", "prompt"} and a["prompt"].strip()
            assert a["topic"] in seeds["topics"] and a["strategy"] in seeds["strategies"]
    assert (len(attacks["attacks_train"]), len(attacks["attacks_eval"])) == (80, 48)
    train, held_out = ({a["prompt"] for a in attacks[s]} for s in attacks)
    assert len(train) == 80 and len(held_out) == 48 and not train & held_out
    assert not (train | held_out) & set(read_lines("harmful_prompts.txt"))
