"""Responses cut off at max_new_tokens are recorded as truncated, from generation to samples.jsonl."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hrlaif.config import GenerationConfig
from hrlaif.jsonl import read_jsonl, write_jsonl
from hrlaif.models import generate, generate_responses, load_causal_lm, load_tokenizer
from hrlaif.records import Prompt, Sample
from hrlaif.sampling import sample_responses

from tiny_models import build_tiny_model

CHATS = [[{"role": "user", "content": f"What is {i} + 7?"}] for i in range(3)]


def _generate(model, tokenizer, max_new_tokens=5):
    return generate_responses(model, tokenizer, CHATS, max_new_tokens=max_new_tokens, temperature=0.0, batch_size=2)


@pytest.mark.parametrize("distinct_pad", [False, True], ids=["pad-is-eos", "pad-is-other"])
def test_a_response_without_an_end_token_is_truncated_and_one_that_ends_on_the_last_token_is_not(tmp_path, distinct_pad):
    folder = build_tiny_model(tmp_path / "m", pad_token="<|endoftext|>" if distinct_pad else "<|im_end|>")
    model, tokenizer = load_causal_lm(folder), load_tokenizer(folder)
    eos = tokenizer.eos_token_id

    model.generation_config.suppress_tokens = [eos]  # never ends: every response runs out of tokens
    cut = _generate(model, tokenizer)
    assert [g.truncated for g in cut] == [True, True, True]

    # Forced to end on its very last allowed token: it finished, exactly at the cap.
    model.generation_config.suppress_tokens = None
    model.generation_config.forced_eos_token_id = eos
    ended = _generate(model, tokenizer)
    assert [g.truncated for g in ended] == [False, False, False]

    # Told to end at once, in a batch that mixes it with nothing else: empty, finished responses.
    model.generation_config.forced_eos_token_id = None
    model.generation_config.sequence_bias = {(eos,): 100.0}
    at_once = _generate(model, tokenizer)
    assert [(g.text, g.truncated) for g in at_once] == [("", False)] * 3


def test_generate_returns_the_texts_of_generate_responses(tiny_model: Path):
    model, tokenizer = load_causal_lm(tiny_model), load_tokenizer(tiny_model)
    full = _generate(model, tokenizer)
    texts = generate(model, tokenizer, CHATS, max_new_tokens=5, temperature=0.0, batch_size=2)
    assert texts == [g.text for g in full]


def test_samples_file_records_truncation_and_old_files_read_as_not_truncated(tmp_path, tiny_model: Path):
    never_ends = tmp_path / "never-ends"
    shutil.copytree(tiny_model, never_ends)
    model = load_causal_lm(never_ends)
    model.generation_config.suppress_tokens = [load_tokenizer(never_ends).eos_token_id]
    model.generation_config.save_pretrained(never_ends)

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
