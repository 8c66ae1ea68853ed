"""The prompt and red-team sets shipped inside the package, found wherever it is installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hrlaif.errors import HrlaifError

BUNDLED = {
    "train": "train.jsonl",
    "eval": "eval.jsonl",
    "reach_train": "reach_train.jsonl",  # keyed prompts in a 135M policy's reach (reach_sets.py)
    "reach_eval": "reach_eval.jsonl",
    "attacks_train": "attacks_train.jsonl",
    "attacks_eval": "attacks_eval.jsonl",
    "redteam_seeds": "redteam_seeds.yaml",
    "toxicity_prompts": "toxicity_prompts.jsonl",
    "demo_config": "demo.yaml",
}


def bundled_path(name: str) -> Path:
    """The file of the bundled set `name` (one of BUNDLED), e.g. bundled_path("train")."""
    if name not in BUNDLED:
        raise HrlaifError(f"unknown bundled data set '{name}'; known: {', '.join(BUNDLED)}")
    return Path(str(resources.files(__name__) / BUNDLED[name]))
