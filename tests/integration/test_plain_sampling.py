"""Plain sampling means the model's raw softmax (issue 25, item 8): a generation_config.json that
sets a repetition_penalty, min_p or no_repeat_ngram_size must not shape the samples of the sample
stage or of PPO's rollouts, whose log-probs, KL and judge all read the raw logits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hrlaif.config import GenerationConfig
from hrlaif.models import load_causal_lm
from hrlaif.sampling import sample_responses
from hrlaif.train.ppo import train_ppo

from support.ppo import PROMPTS, tiny_config
from support.ppo import one_thread as one_thread  # fixtures shared with test_ppo
from support.ppo import reward_model_path as reward_model_path

SHAPING = {"repetition_penalty": 5.0, "min_p": 0.3, "no_repeat_ngram_size": 1, "top_k": 3}


@pytest.fixture(scope="module")
def shaped_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model, the same weights, with a generation_config.json that shapes sampling."""
    folder = tmp_path_factory.mktemp("shaped") / "model"
    shutil.copytree(tiny_model, folder)
    path = folder / "generation_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps(config | SHAPING))
    assert load_causal_lm(folder).generation_config.repetition_penalty == 5.0
    return folder


def test_the_sample_stage_ignores_the_models_generation_config(tiny_model, shaped_model):
    generation = GenerationConfig(max_new_tokens=16, temperature=1.0, top_p=1.0, batch_size=8)
    plain = sample_responses(PROMPTS, str(tiny_model), generation, num_samples=2, seed=3)
    shaped = sample_responses(PROMPTS, str(shaped_model), generation, num_samples=2, seed=3)
    assert [s.response for s in shaped] == [s.response for s in plain]
    assert len({s.response for s in plain}) > 1  # real, varied text: the equality is not trivial
    assert load_causal_lm(shaped_model).generation_config.repetition_penalty == 5.0  # the model's own file is untouched


def test_ppo_rollouts_ignore_the_models_generation_config(tiny_model, shaped_model, reward_model_path, tmp_path):
    config = tiny_config(steps=1, generation=GenerationConfig(max_new_tokens=12, temperature=1.0, top_p=1.0))
    rows = {}
    for name, policy in (("plain", tiny_model), ("shaped", shaped_model)):
        train_ppo(config, policy_path=str(policy), reward_model_path=str(reward_model_path), prompts=PROMPTS,
                  out_dir=tmp_path / name, max_length=128)
        rows[name] = json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[0])
    # the same weights and seed: the same rollout, so the same scores, KL and lengths
    for key in ("objective/score_mean", "objective/kl", "charts/response_length", "charts/eos_fraction"):
        assert rows["shaped"][key] == rows["plain"][key], key
    saved = json.loads((tmp_path / "shaped" / "policy" / "generation_config.json").read_text())
    assert saved["repetition_penalty"] == 5.0, "the trained policy keeps the model's generation_config"
