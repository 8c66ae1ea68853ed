"""Shared fixtures: tiny random models and tokenizers built in a temp folder, no downloads."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Set before anything imports datasets (it reads the variable once): each test session gets its own
# datasets cache, so a folder loaded by an earlier session at the same path (pytest reuses its
# numbered temp folders once /tmp is cleared; ~/.cache is not) is never served from the old cache.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="hrlaif-tests-datasets-")
atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from support.tiny_models import build_tiny_model  # noqa: E402 - after the environment it reads


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path of a tiny random causal LM folder (policy, judge or RM backbone)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
