"""Sampling on a tiny random model: order, seeds per pass, and prompts that do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrlaif.config import GenerationConfig
from hrlaif.errors import HrlaifError
from hrlaif.models import load_causal_lm
from hrlaif.records import Prompt
from hrlaif.sampling import context_length, sample_responses

GEN = GenerationConfig(max_new_tokens=6, temperature=1.0, top_p=1.0, batch_size=2)


def prompts(n: int = 3) -> list[Prompt]:
    return [Prompt(id=f"p{i}", category="open_ended", prompt=f"Tell me about item number {i}.") for i in range(n)]


def test_samples_come_in_prompt_order_with_their_index(tiny_model: Path) -> None:
    samples = sample_responses(prompts(), str(tiny_model), GEN, num_samples=2, seed=3, policy_name="start")
    assert [(s.prompt_id, s.sample_index) for s in samples] == [("p0", 0), ("p0", 1), ("p1", 0), ("p1", 1), ("p2", 0), ("p2", 1)]
    assert all(s.policy == "start" and s.text.startswith("Tell me") for s in samples)


def test_more_samples_keep_the_ones_drawn_before(tiny_model: Path) -> None:
    two = sample_responses(prompts(), str(tiny_model), GEN, num_samples=2, seed=3)
    three = sample_responses(prompts(), str(tiny_model), GEN, num_samples=3, seed=3)
    kept = [s.response for s in three if s.sample_index < 2]
    assert kept == [s.response for s in two], "pass k uses seed + k whatever num_samples is"
    other = sample_responses(prompts(), str(tiny_model), GEN, num_samples=2, seed=4)
    assert [s.response for s in other] != [s.response for s in two], "another seed draws other samples"


def test_context_is_capped_by_the_model_positions(tiny_model: Path) -> None:
    model = load_causal_lm(str(tiny_model))
    positions = model.config.max_position_embeddings
    assert context_length(model, positions + 1000) == positions
    assert context_length(model, 64) == 64


def test_a_prompt_too_long_for_the_context_is_refused_with_its_id(tiny_model: Path) -> None:
    long = Prompt(id="too-long", category="open_ended", prompt="word " * 400)
    with pytest.raises(HrlaifError, match="too-long"):
        sample_responses([*prompts(1), long], str(tiny_model), GEN, max_length=128)
    with pytest.raises(HrlaifError, match="no room"):
        sample_responses(prompts(1), str(tiny_model), GenerationConfig(max_new_tokens=200), max_length=128)
