"""Experiment trackers for the training stages: TensorBoard, wandb, trackio, mlflow.

The RM logs through TRL's own `report_to` (transformers' integrations), PPO through accelerate's
trackers; both read `tracking` (config.TrackingConfig) and name their run NAME/STAGE. Neither
library says a word when a named tracker is not installed (accelerate drops it at debug level),
so `check_installed` fails first, naming the config key. Trackers are a view: what the report
reads stays RUN/ppo-MODE/metrics.jsonl and RUN/rm-MODE/summary.json.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hrlaif.config import TrackingConfig
from hrlaif.errors import HrlaifError

# tracker name -> the module that must import, and what to install
REQUIREMENTS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb"), "trackio": ("trackio", "trackio"), "mlflow": ("mlflow", "mlflow")}


def check_installed(tracking: TrackingConfig) -> list[str]:
    """`tracking.report_to`, each one checked to be importable."""
    for name in tracking.report_to:
        module, package = REQUIREMENTS[name]
        if importlib.util.find_spec(module) is None:
            raise HrlaifError(f"tracking.report_to: '{name}' is not installed (pip install {package}), or drop it from tracking.report_to")
    return list(tracking.report_to)


def run_name(tracking: TrackingConfig, run_dir: Path, stage: str) -> str:
    """NAME/STAGE: one prefix per run directory, so a run's RM and PPO sort together."""
    return f"{tracking.run_name or Path(run_dir).resolve().name}/{stage}"


@contextlib.contextmanager
def trainer_environment(tracking: TrackingConfig, tensorboard_dir: Path) -> Iterator[None]:
    """What transformers' integrations read from the environment only: TensorBoard's folder, and
    the wandb project / mlflow experiment (a user's own WANDB_PROJECT / MLFLOW_EXPERIMENT_NAME win).
    Restored on exit."""
    wanted = {"TENSORBOARD_LOGGING_DIR": str(tensorboard_dir)}
    for key in ("WANDB_PROJECT", "MLFLOW_EXPERIMENT_NAME"):
        wanted[key] = os.environ.get(key, tracking.project)
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def flat_config(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as the flat scalars trackers store as hyperparameters (`ppo/lora/r`)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_config(value, f"{name}/"))
        else:
            out[name] = value if isinstance(value, (bool, int, float, str)) or value is None else str(value)
    return out


def accelerate_trackers(tracking: TrackingConfig, out_dir: Path, name: str) -> list:
    """`log_with` for accelerate's Accelerator, each tracker built here with its own project and
    the run name (accelerate's init_trackers gives all of them one project name). TensorBoard
    writes to out_dir/tensorboard (accelerate's own would nest a project folder). Nothing starts
    before `start_trackers`."""
    # Imported here on purpose: the pipeline checks trackers (check_installed) before any training
    # stage, and accelerate loads torch.
    from accelerate.tracking import MLflowTracker, TensorBoardTracker, TrackioTracker, WandBTracker

    build = {
        "tensorboard": lambda: TensorBoardTracker("tensorboard", str(out_dir)),
        "wandb": lambda: WandBTracker(os.environ.get("WANDB_PROJECT", tracking.project), name=name),
        "trackio": lambda: TrackioTracker(tracking.project, name=name),
        "mlflow": lambda: MLflowTracker(experiment_name=tracking.project, run_name=name),  # MLFLOW_EXPERIMENT_NAME wins
    }
    return [build[tracker]() for tracker in check_installed(tracking)]


def start_trackers(accelerator, tracking: TrackingConfig, config: dict[str, Any], resumed_at: int) -> None:
    """Start the trackers. A run resumed at step N has TensorBoard drop what an earlier attempt
    logged after N, so replayed steps are not drawn twice. The config goes to the trackers that
    keep one (TensorBoard's hparams would add a folder per start; RUN/config.yaml has it)."""
    for tracker in accelerator.log_with:
        if tracker.name == "tensorboard" and resumed_at:
            tracker.init_kwargs["purge_step"] = resumed_at + 1
    accelerator.init_trackers(tracking.project)
    flat = flat_config(config)
    for tracker in accelerator.trackers:
        if tracker.name != "tensorboard":
            tracker.store_init_configuration(flat)
