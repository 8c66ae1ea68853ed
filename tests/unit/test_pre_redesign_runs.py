"""Run directories made by the pre-redesign Pipeline (tests/fixtures/pre_redesign_runs) resume
with every stage they finished skipped: the stages compute the fingerprints the old code wrote,
for the shipped example configs and variants, and a changed setting makes exactly its stages
stale. A stage added since that only scores what the run trained (`rm-heldout`, issue 25 item 10:
every RM on one shared held-out set) is missing in them, and nothing else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hrlaif.config import load_config
from hrlaif.pipeline import MODES, status

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pre_redesign_runs"
RECORDED: dict[str, dict[str, str]] = json.loads((FIXTURES / "fingerprints.json").read_text(encoding="utf-8"))
ADDED_SINCE = {"rm-heldout"}  # scoring only, in runs that train a reward model


def _copy(name: str, tmp_path: Path) -> Path:
    """The fixture `name` as a run directory under tmp_path, its config's RUN_DIR filled in."""
    run = tmp_path / name
    shutil.copytree(FIXTURES / name, run)
    config = run / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("RUN_DIR", str(run)), encoding="utf-8")
    return config


def test_every_fixture_is_listed() -> None:
    assert sorted(RECORDED) == sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    assert len(RECORDED) == 10


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_an_old_run_directory_is_complete_stage_by_stage(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # one process, as the fixtures were made
    rows = status(load_config(_copy(name, tmp_path)), MODES)
    added = {r.name for r in rows} - set(RECORDED[name])
    trains_rms = any(n.startswith("rm-") for n in RECORDED[name])
    assert added == (ADDED_SINCE if trains_rms else set()), "the stages `compare` reaches are the old run()'s, and the scoring added since"
    assert len(rows) == len(RECORDED[name]) + len(added), "no stage twice"
    assert all(r.state == "missing" for r in rows if r.name in added), "a stage added since is missing, not stale"
    for row in [r for r in rows if r.name not in added]:
        assert row.state == "complete", f"{name}/{row.name}: {row.state} (expected {RECORDED[name][row.name]}, computed {row.fingerprint})"
        assert row.fingerprint == RECORDED[name][row.name]


def test_a_changed_setting_makes_exactly_its_stages_stale(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = _copy("default", tmp_path)

    def states(*overrides: str) -> dict[str, str]:
        return {r.name: r.state for r in status(load_config(config, list(overrides)), MODES) if r.name not in ADDED_SINCE}

    assert set(states().values()) == {"complete"}
    # The KL coefficient is PPO's alone: both PPO stages re-run and so does evaluation, which
    # rests on their policies; labels, reward models and red teaming stay.
    assert {n for n, s in states("ppo.kl_coef=0.1").items() if s != "complete"} == {"ppo-rlaif", "ppo-hrlaif", "eval"}
    assert all(s == "stale" for n, s in states("ppo.kl_coef=0.1").items() if n.startswith("ppo-"))
    # A labeling setting: both arms' labels and everything trained on them; not sampling, not red teaming.
    assert {n for n, s in states("label.tie_margin=0.2").items() if s != "complete"} == {
        "judge-check", "label-rlaif", "label-hrlaif", "rm-rlaif", "rm-hrlaif", "ppo-rlaif", "ppo-hrlaif", "eval"}
    # The red-team share cap is applied when the RM data is put together: the hrlaif RM and what follows.
    assert {n for n, s in states("redteam.max_share=0.1").items() if s != "complete"} == {"rm-hrlaif", "ppo-hrlaif", "eval"}
    # Results-neutral settings re-run nothing.
    assert set(states("ppo.gradient_checkpointing=true", "reward.gradient_checkpointing=false").values()) == {"complete"}


def test_a_stage_never_finished_is_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = _copy("default", tmp_path)
    shutil.rmtree(tmp_path / "default" / "rm-hrlaif")
    rows = {r.name: r for r in status(load_config(config), MODES)}
    assert rows["rm-hrlaif"].state == "missing" and rows["rm-hrlaif"].recorded is None
    assert rows["ppo-hrlaif"].state == "complete", "its fingerprint is the one the missing RM will get again"


def test_the_status_command_prints_each_stage(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from hrlaif.cli import app

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = _copy("dpo-only-no-redteam", tmp_path)
    shutil.rmtree(tmp_path / "dpo-only-no-redteam" / "eval")
    result = CliRunner().invoke(app, ["status", "-c", str(config), "--set", "dpo.beta=0.2"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines() if line.startswith("  ")}
    assert lines == {"judge-check": "complete", "sample": "complete", "label-rlaif": "complete", "dpo-rlaif": "stale",
                     "label-hrlaif": "complete", "dpo-hrlaif": "stale", "eval": "missing"}
    assert "4 complete, 2 stale, 1 missing" in result.output
    assert not (tmp_path / "dpo-only-no-redteam" / "eval").exists(), "status changes nothing"


def test_status_of_a_run_directory_reads_the_config_it_was_run_with(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from hrlaif.cli import app

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _copy("soft-labels", tmp_path)
    result = CliRunner().invoke(app, ["status", "--run-dir", str(tmp_path / "soft-labels")])
    assert result.exit_code == 0, result.output
    assert f"{len(RECORDED['soft-labels'])} complete" in result.output and "stale" not in result.output
    assert "rm-heldout" in result.output and "1 missing" in result.output, "the scoring added since is still to run"
