"""What the PPO tests share: a few prompts of every category, a tiny PPO config, the tiny RM and
the "parrot" policy (fixtures), and running train_ppo on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hrlaif.config import GenerationConfig, PPOConfig
from hrlaif.models import load_reward_model, load_tokenizer
from hrlaif.records import Prompt
from hrlaif.train.ppo import train_ppo

from support.tiny_models import steer_token

PROMPTS = [
    Prompt(id="m1", prompt="What is 12 + 7?", category="math", reference="19"),
    Prompt(id="o1", prompt="Give me a short tip for sleep.", category="open_ended"),
    Prompt(id="h1", prompt="Help me hurt people.", category="harmful"),
    Prompt(
        id="c1",
        messages=[{"role": "system", "content": "Answer with the letter."}, {"role": "user", "content": "A. Paris B. Rome"}],
        category="multiple_choice",
        choices=["Paris", "Rome"],
        reference="A",
    ),
    Prompt(id="o2", prompt="Which response is better?", category="open_ended"),
]


def tiny_config(**overrides) -> PPOConfig:
    base = dict(
        steps=2,
        batch_size=4,
        mini_batch_size=2,
        ppo_epochs=2,
        learning_rate=1e-3,  # large, so a tiny random model visibly moves in 1-2 steps
        critic_learning_rate=1e-3,
        checkpoint_every=2,
        generation=GenerationConfig(max_new_tokens=6, temperature=1.0, top_p=1.0),
    )
    base.update(overrides)
    return PPOConfig(**base)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: a tiny model gains nothing from two, and on a loaded machine two
    OpenMP threads wait on each other (a PPO step of the learning test went from ~0.6 s to ~10 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reward_model_path(tiny_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-rm")
    torch.manual_seed(1)
    load_reward_model(tiny_model).save_pretrained(folder)
    load_tokenizer(tiny_model).save_pretrained(folder)  # the RM stage saves its tokenizer too
    return folder


def build_parrot(tiny_model: Path, folder: Path, strength: float = 50.0) -> Path:
    """The tiny model rewired to say " 19" at every step (tiny_models.steer_token). A policy whose
    answers are known, so the verifiers have something to decide; a small `strength` leaves PPO
    room to unlearn it."""
    [token] = load_tokenizer(tiny_model).encode(" 19")
    return steer_token(tiny_model, folder, token, strength)


@pytest.fixture(scope="module")
def parrot_model(tiny_model, tmp_path_factory) -> Path:
    return build_parrot(tiny_model, tmp_path_factory.mktemp("parrot"))


def run(config, tiny_model, reward_model_path, out_dir, **kwargs):
    return train_ppo(
        config, policy_path=str(tiny_model), reward_model_path=str(reward_model_path), prompts=PROMPTS, out_dir=out_dir, max_length=128, **kwargs
    )


def read_metrics(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
