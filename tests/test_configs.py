"""The example configs under src/hrlaif/configs/ load through the CLI's own loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "src" / "hrlaif" / "configs").glob("*.yaml"))


def test_there_are_example_configs() -> None:
    assert {p.name for p in CONFIGS} >= {"cpu-small.yaml", "gpu-api-judge.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_parses(path: Path) -> None:
    config = load_config(path)
    assert config.run_dir == Path("runs") / path.stem  # each example writes to a run dir of its own name


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_loads_through_the_cli(path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert f"run_dir: runs/{path.stem}" in result.output
