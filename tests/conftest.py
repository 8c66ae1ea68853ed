"""Shared fixtures: tiny random models and tokenizers built in a temp folder, no downloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.tiny_models import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path of a tiny random causal LM folder (policy, judge or RM backbone)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
