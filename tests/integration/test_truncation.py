"""Responses cut off at max_new_tokens are recorded as truncated, from generation to samples.jsonl."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrlaif.config import GenerationConfig
from hrlaif.jsonl import read_jsonl, write_jsonl
from hrlaif.models import generate, generate_responses, load_causal_lm, load_tokenizer
from hrlaif.records import Prompt, Sample
from hrlaif.sampling import sample_responses

from support.tiny_models import build_tiny_model, steer_token

CHATS = [[{"role": "user", "content": f"What is {i} + 7?"}] for i in range(3)]


def _generate(model, tokenizer, max_new_tokens=5):
    return generate_responses(model, tokenizer, CHATS, max_new_tokens=max_new_tokens, temperature=0.0, batch_size=2)


def eos_steered(folder: Path, target: Path, strength: float) -> Path:
    """The model at `folder` rewired in its weights (generation samples plainly: a
    generation_config would not steer it) so that it never ends (negative `strength`) or ends at
    once (positive)."""
    return steer_token(folder, target, load_tokenizer(folder).eos_token_id, strength)


@pytest.mark.parametrize("distinct_pad", [False, True], ids=["pad-is-eos", "pad-is-other"])
def test_a_response_without_an_end_token_is_truncated_and_one_that_ends_on_the_last_token_is_not(tmp_path, distinct_pad):
    folder = build_tiny_model(tmp_path / "m", pad_token="<|endoftext|>" if distinct_pad else "<|im_end|>")
    tokenizer = load_tokenizer(folder)

    never_ends = load_causal_lm(eos_steered(folder, tmp_path / "never-ends", -50.0))
    cut = _generate(never_ends, tokenizer)  # every response runs out of tokens
    assert [g.truncated for g in cut] == [True, True, True]
    assert all(g.text for g in cut)

    ends_at_once = load_causal_lm(eos_steered(folder, tmp_path / "ends-at-once", 50.0))
    # Ends on its very last allowed token (the first, with a cap of one): it finished, exactly at the cap.
    ended = _generate(ends_at_once, tokenizer, max_new_tokens=1)
    assert [(g.text, g.truncated) for g in ended] == [("", False)] * 3

    # Ends at once under a larger cap, in a batch that mixes it with nothing else: empty, finished responses.
    at_once = _generate(ends_at_once, tokenizer)
    assert [(g.text, g.truncated) for g in at_once] == [("", False)] * 3


def test_generate_returns_the_texts_of_generate_responses(tiny_model: Path):
    model, tokenizer = load_causal_lm(tiny_model), load_tokenizer(tiny_model)
    full = _generate(model, tokenizer)
    texts = generate(model, tokenizer, CHATS, max_new_tokens=5, temperature=0.0, batch_size=2)
    assert texts == [g.text for g in full]


def test_samples_file_records_truncation_and_old_files_read_as_not_truncated(tmp_path, tiny_model: Path):
    never_ends = eos_steered(tiny_model, tmp_path / "never-ends", -50.0)

    prompts = [Prompt(id="p0", category="math", prompt="What is 12 + 7?", reference="19")]
    gen = GenerationConfig(max_new_tokens=4, temperature=1.0, top_p=1.0)
    samples = sample_responses(prompts, str(never_ends), gen, num_samples=2)
    assert [s.truncated for s in samples] == [True, True]
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, samples)
    assert [s.truncated for s in read_jsonl(path, Sample)] == [True, True]

    old = samples[0].model_dump(exclude={"truncated"})
    write_jsonl(path, [old])
    assert read_jsonl(path, Sample)[0].truncated is False
