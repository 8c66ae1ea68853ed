"""Experiment trackers (`tracking.report_to`): the RM through TRL's report_to, PPO through
accelerate's trackers, on tiny random models; TensorBoard files are read back and compared with
metrics.jsonl; a tracker that is not installed fails first, naming the config key."""

from __future__ import annotations

import os
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import RewardConfig, TrackingConfig, load_config
from hrlaif.errors import HrlaifError
from hrlaif.train.ppo import TIMING_KEYS, train_ppo
from hrlaif.train.reward import train_reward_model
from hrlaif.train.trackers import run_name

from support.ppo import PROMPTS, read_metrics, tiny_config
from support.ppo import one_thread as one_thread  # noqa: F401  (autouse fixture: one torch thread)
from support.ppo import reward_model_path as reward_model_path  # a fixture: a tiny random RM folder
from support.samples import pairs


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard holds under `folder`: tag -> [(step, value)] (purged steps dropped)."""
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_ppo_logs_its_metrics_to_tensorboard_through_accelerate(tiny_model, reward_model_path, tmp_path):
    """Every metrics.jsonl value (bar the step counter) is in TensorBoard at its step, and a resumed
    run adds its steps once: the trackers show what the report reads."""
    def ppo(steps):
        return train_ppo(tiny_config(steps=steps), policy_path=str(tiny_model), reward_model_path=str(reward_model_path),
                         prompts=PROMPTS, out_dir=tmp_path, max_length=128, tracking=TrackingConfig(), run_name="demo/ppo-rlaif")

    ppo(2)
    assert ppo(3)["resumed_from_step"] == 2
    rows = read_metrics(tmp_path)
    board = scalars(tmp_path / "tensorboard")
    assert set(board) == {k for k in rows[0] if k != "charts/step"}
    for key, logged in board.items():
        assert [step for step, _ in logged] == [1, 2, 3], key
        if key not in TIMING_KEYS:
            assert [v for _, v in logged] == pytest.approx([r[key] for r in rows], rel=1e-5, abs=1e-6), key


def test_rm_logs_to_tensorboard_through_trl_with_the_run_name(tiny_model, tmp_path):
    before = {k: os.environ.get(k) for k in ("TENSORBOARD_LOGGING_DIR", "WANDB_PROJECT", "MLFLOW_EXPERIMENT_NAME")}
    summary = train_reward_model(pairs(), str(tiny_model), RewardConfig(epochs=1, batch_size=2, eval_fraction=0.0), tmp_path,
                                 max_length=64, tracking=TrackingConfig(), run_name="demo/rm-rlaif")
    board = scalars(tmp_path / "tensorboard")
    assert [v for _, v in board["train/loss"]] == pytest.approx([e["loss"] for e in summary["log"]], rel=1e-4)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    args_text = acc.Tensors("args/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"run_name": "demo/rm-rlaif"' in args_text
    assert {k: os.environ.get(k) for k in before} == before  # the environment is restored


def test_no_tracker_writes_no_tensorboard(tiny_model, tmp_path):
    train_reward_model(pairs(), str(tiny_model), RewardConfig(epochs=1, batch_size=2, eval_fraction=0.0), tmp_path,
                       max_length=64, tracking=TrackingConfig(report_to=[]))
    assert (tmp_path / "model").is_dir()
    assert not (tmp_path / "tensorboard").exists() and not list(tmp_path.rglob("events.out.tfevents.*"))


def test_run_name_is_shared_by_a_runs_stages(tmp_path):
    assert run_name(TrackingConfig(), tmp_path / "demo", "rm-hrlaif") == "demo/rm-hrlaif"
    assert run_name(TrackingConfig(), tmp_path / "demo", "ppo-hrlaif") == "demo/ppo-hrlaif"
    assert run_name(TrackingConfig(run_name="exp1"), tmp_path / "demo", "ppo-rlaif") == "exp1/ppo-rlaif"


def test_a_tracker_that_is_not_installed_is_a_clear_error(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # how Python marks a module as absent: import and find_spec fail
    with pytest.raises(HrlaifError, match=r"tracking.report_to: 'wandb' is not installed \(pip install wandb\)"):
        train_reward_model(pairs(), str(tiny_model), RewardConfig(epochs=1), tmp_path / "rm", max_length=64,
                           tracking=TrackingConfig(report_to=["tensorboard", "wandb"]))
    assert not (tmp_path / "rm").exists()  # nothing trained, nothing written
    with pytest.raises(HrlaifError, match="'wandb' is not installed"):
        train_ppo(tiny_config(), policy_path=str(tiny_model), reward_model_path=str(tiny_model), prompts=PROMPTS,
                  out_dir=tmp_path / "ppo", tracking=TrackingConfig(report_to=["wandb"]))
    # a pipeline command fails before its first stage, with the one-line error and exit 2
    result = CliRunner().invoke(app, ["sample", "--run-dir", str(tmp_path / "run"), "--set", "tracking.report_to=[wandb]"])
    assert result.exit_code == 2, result.output
    assert "tracking.report_to: 'wandb' is not installed" in result.output
    assert not (tmp_path / "run" / "sample").exists()


def test_an_unknown_tracker_names_the_key():
    with pytest.raises(HrlaifError, match=r"tracking.report_to.*unknown tracker 'neptune'"):
        load_config(None, ["tracking.report_to=[neptune]"])
    assert load_config(None, ["tracking.report_to=[]"]).tracking.report_to == []
