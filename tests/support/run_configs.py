"""One builder for the small run configs the CLI tests write, so each test shows only what is
special about its run (its overrides) instead of a near-copy of the whole file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DROP = object()
"""An override value that removes the key, for a test whose run must not have it (a key that is
present, even at its default, can change what the run exercises or its stage fingerprints)."""

BASE: dict[str, Any] = {
    "data": {"max_train_prompts": 8},
    "sample": {"num_samples": 2, "generation": {"max_new_tokens": 8, "batch_size": 8}},
    "judge": {"backend": "simulated", "model": "sim"},
}
"""What (nearly) every test run shares besides run_dir and policy (see run_config): a simulated
judge on 8 prompts, 2 short samples each."""

COMPARE: dict[str, Any] = {
    "data": {"max_eval_prompts": 8},
    "reward": {"epochs": 1, "batch_size": 4},
    "ppo": {"steps": 1, "batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 1, "generation": {"max_new_tokens": 8}},
    "evaluate": {"generation": {"max_new_tokens": 8}, "max_attack_prompts": 0},
}
"""The smallest training and grading sections for a whole `compare`/`run` on tiny models."""


def merge(into: dict, overrides: dict) -> dict:
    """Deep-merge overrides into a copy of `into`: dicts merge key by key, other values replace,
    DROP removes; a dotted key ("evaluate.judge") reaches into nested sections."""
    out = copy.deepcopy(into)
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        if value is DROP:
            node.pop(last, None)
        elif isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last] = merge(node[last], value)
        else:
            node[last] = _without_drops(value)
    return out


def _without_drops(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_drops(v) for k, v in value.items() if v is not DROP}
    return copy.deepcopy(value)


def run_config(folder: Path, model: Path | str, *layers: dict, **overrides: Any) -> dict:
    """run_dir folder/run, policy {path: model, max_length: 256} and BASE, then each layer (e.g.
    COMPARE), then the overrides, deep-merged in that order."""
    config = {"run_dir": str(folder / "run"), "policy": {"path": str(model), "max_length": 256}, **copy.deepcopy(BASE)}
    for layer in (*layers, overrides):
        config = merge(config, layer)
    return config


def write_run_config(folder: Path, model: Path | str, *layers: dict, file: str = "config.yaml", sort_keys: bool = True,
                     **overrides: Any) -> Path:
    """Write run_config(...) as folder/file and return its path. sort_keys=False keeps the order
    the dicts give, for a test whose run reads an order from the file (e.g. study labelers)."""
    path = folder / file
    path.write_text(yaml.safe_dump(run_config(folder, model, *layers, **overrides), sort_keys=sort_keys))
    return path


def pipeline_config(tmp_path: Path, model: Path, backend: str = "simulated") -> Path:
    """A whole `compare` on tiny models with red teaming and 2 PPO steps, checkpointing each step."""
    return write_run_config(tmp_path, model, COMPARE, judge={"backend": backend, "model": str(model)},
                            ppo={"steps": 2, "checkpoint_every": 1},
                            redteam={"num_generated": 8, "max_attacks": 8, "generation": {"max_new_tokens": 8}, "rewrite_max_tokens": 16},
                            evaluate={"max_attack_prompts": 8})
