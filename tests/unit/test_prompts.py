"""Loading prompt sets: balanced subsets and duplicate ids."""

from __future__ import annotations

import pytest

from hrlaif.errors import HrlaifError
from hrlaif.prompts import load_prompts, round_robin


def test_round_robin_takes_one_from_each_group_in_turn_and_stops_when_exhausted():
    assert round_robin([[1, 2, 3], [4], [5, 6]], 5) == [1, 4, 5, 2, 6]
    assert round_robin([[1], [2]], 10) == [1, 2]
    assert round_robin([], 3) == []


def test_small_bundled_subset_covers_every_category():
    prompts = load_prompts("bundled:train", 8)
    assert [p.category for p in prompts[:4]] == ["math", "multiple_choice", "harmful", "open_ended"]
    assert len(prompts) == 8


def test_duplicate_prompt_ids_are_an_error(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "x", "category": "open_ended"}\n{"id": "a", "prompt": "y", "category": "open_ended"}\n')
    with pytest.raises(HrlaifError, match="appears twice"):
        load_prompts(str(path))
