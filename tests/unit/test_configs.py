"""The example configs under src/hrlaif/configs/ load through the CLI's own loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import load_config
from hrlaif.errors import HrlaifError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "src" / "hrlaif" / "configs").glob("*.yaml"))


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


@pytest.mark.parametrize(
    "override, message",
    [
        ("ppo.stepz=3", "unknown config key 'ppo.stepz'; did you mean 'ppo.steps'?"),
        ("trackng.report_to=[]", "unknown config key 'trackng'; did you mean 'tracking'?"),
        ("ppo.hybrid.verified_wieght=2", "unknown config key 'ppo.hybrid.verified_wieght'; did you mean 'ppo.hybrid.verified_weight'?"),
        ("study.labelers={x: {bakend: simulated}}", "study.labelers.x: unknown config key 'bakend'; did you mean 'backend'?"),
        ("zzz=1", "unknown config key 'zzz'"),  # nothing close: no guess
    ],
)
def test_an_unknown_key_gets_a_did_you_mean_in_one_line(override: str, message: str) -> None:
    result = CliRunner().invoke(app, ["config", "--set", override])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert message in text, result.output
    if override.startswith("zzz"):
        assert "did you mean" not in text


def test_report_to_takes_trls_spellings() -> None:
    """tracking.report_to as TRL takes it: one tracker as a string, 'none', 'all' (every known
    tracker that is installed); lists work as before."""
    import importlib.util

    def report_to(value: str) -> list[str]:
        return load_config(None, [f"tracking.report_to={value}"]).tracking.report_to

    assert report_to("wandb") == ["wandb"]
    assert report_to("none") == [] and report_to("[none]") == []
    installed = [name for name in ("tensorboard", "wandb", "trackio", "mlflow") if importlib.util.find_spec(name) is not None]
    assert "tensorboard" in installed and report_to("all") == installed
    assert report_to("[tensorboard, wandb]") == ["tensorboard", "wandb"] and report_to("[]") == []
    result = CliRunner().invoke(app, ["config", "--set", "tracking.report_to=[wandb, none]"])
    assert result.exit_code == 2 and "'none' stands alone" in result.output, result.output
    result = CliRunner().invoke(app, ["config", "--set", "tracking.report_to=neptune"])
    assert result.exit_code == 2 and "unknown tracker 'neptune'" in result.output, result.output


def test_a_mini_batch_larger_than_the_rollout_is_an_error(tmp_path: Path) -> None:
    """It would silently be the whole rollout: one gradient step per epoch (issue 27)."""
    path = tmp_path / "c.yaml"
    path.write_text("ppo:\n  batch_size: 4\n  mini_batch_size: 8\n", encoding="utf-8")
    with pytest.raises(HrlaifError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and "'ppo.mini_batch_size' (8)" in message and "'ppo.batch_size' (4)" in message
    assert load_config(None, ["ppo.batch_size=4", "ppo.mini_batch_size=4"]).ppo.mini_batch_size == 4


@pytest.mark.parametrize("key", ["run_dir", "judge.templates_dir", "judge.cache_file"])
def test_an_empty_path_is_an_error_naming_its_key(tmp_path: Path, key: str) -> None:
    """Path("") is Path("."): an empty value would silently mean the current folder (issue 27)."""
    section, _, name = key.rpartition(".")
    path = tmp_path / "c.yaml"
    path.write_text(f"{section}:\n  {name}: ''\n" if section else f"{name}: ''\n", encoding="utf-8")
    for load in (lambda: load_config(path), lambda: load_config(None, [f"{key}=''"])):
        with pytest.raises(HrlaifError, match=f"config key '{key}': .*must not be empty"):
            load()
