"""The stages in order, each reading and writing files under one run directory.

A stage whose manifest says it finished with the same fingerprint (its config section plus
its inputs' fingerprints) is skipped, so an interrupted `run` picks up where it stopped and
a changed setting re-runs exactly the stages downstream of it. Each stage lives in its own
module of `hrlaif.stages`; this module is their order (`steps`), `run`, and the status view
that falls out of the order (`status`: each stage complete, stale or missing).

The hrlaif arm also gets AI red teaming (`redteam`, needing only the start policy and the
judge): its pairs join the arm's RM data, so `rm-hrlaif` depends on it when it is enabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rich.console import Console

from hrlaif.config import RunConfig
from hrlaif.errors import HrlaifError
from hrlaif.judge.role import EVAL, LABEL, JudgeRole
from hrlaif.manifest import read_manifest
from hrlaif.run_dir import MODES
from hrlaif.stages import (
    DPO,
    PPO,
    Audit,
    BestOfN,
    BestOfNSample,
    Evaluate,
    JudgeCheck,
    Label,
    Qualified,
    Redteam,
    RewardModel,
    Sample,
    Stage,
    StageContext,
    Step,
    uses_redteam,
)
from hrlaif.stages.power import announce_power
from hrlaif.train.trackers import check_installed

__all__ = ["MODES", "Pipeline", "StageStatus", "status", "steps"]


def steps(config: RunConfig, modes: list[str] | tuple[str, ...]) -> list[Step]:
    """What `run` does, in order: the labeling judge's exam and gate, sampling, per arm its labels
    (red teaming before the hrlaif RM) and training per compare.algorithms, best-of-n reranking by
    every arm's RM when best_of_n.enabled (the RMs trained for it under dpo too), the label audit,
    the grading judge's exam, then evaluation of all arms against the start policy."""
    c = config
    order: list[Step] = [JudgeCheck(LABEL)] if c.judge_check.enabled else []
    order += [Qualified(LABEL), Sample()]
    for mode in modes:
        order.append(Label(mode))
        if uses_redteam(c, mode):
            order.append(Redteam())
        if "ppo" in c.compare.algorithms or c.best_of_n.enabled:  # best-of-n measures the RMs: trained for it under dpo too
            order.append(RewardModel(mode))
        if "ppo" in c.compare.algorithms:
            order.append(PPO(mode))
        if "dpo" in c.compare.algorithms:
            order.append(DPO(mode))
    if c.best_of_n.enabled:
        order += [BestOfNSample(), BestOfN(tuple(modes))]
    order.append(Audit())
    if c.judge_check.enabled and EVAL.separate(c):
        order.append(JudgeCheck(EVAL))
    order.append(Evaluate(tuple(modes)))
    return order


def check_modes(modes: list[str] | tuple[str, ...]) -> None:
    for mode in modes:
        if mode not in MODES:
            raise HrlaifError(f"unknown labeling mode '{mode}' (known: {', '.join(MODES)})")


class StageStatus(NamedTuple):
    name: str
    state: str  # "complete" | "stale" (finished under another fingerprint) | "missing" (never finished)
    fingerprint: str  # what the config asks for
    recorded: str | None  # what the manifest says, if it finished


def status(config: RunConfig, modes: list[str] | tuple[str, ...] = MODES) -> list[StageStatus]:
    """Each stage `run` would reach for `modes`, in order, against the run directory: complete
    (`run` skips it), stale (finished under another fingerprint: `run` re-runs it) or missing.
    A stage downstream of one that will re-run is judged by the fingerprint that one will get,
    so it shows stale too. Builds no judge and loads no model."""
    check_modes(modes)
    ctx = StageContext(config, Console(stderr=True, quiet=True))
    expected: dict[str, str] = {}

    def upstream(name: str, hint: str | None = None) -> str:
        return expected[name] if name in expected else ctx.upstream(name, hint)

    found: list[StageStatus] = []
    for step in steps(config, modes):
        for stage in [*step.implies(ctx), *([step] if isinstance(step, Stage) else [])]:
            if stage.name in expected:
                continue
            fp = expected[stage.name] = ctx.fingerprint(stage, upstream)
            manifest = read_manifest(ctx.run_dir.stage(stage.name)) or {}
            recorded = manifest.get("fingerprint") if manifest.get("complete") else None
            state = "missing" if recorded is None else "complete" if recorded == fp else "stale"
            found.append(StageStatus(stage.name, state, fp, recorded))
    return found


class Pipeline:
    """A run's config and the context its stages share (judges built once, the timeline)."""

    def __init__(self, config: RunConfig, console: Console | None = None) -> None:
        check_installed(config.tracking)  # a tracker that is not installed fails now, not after hours of labeling
        self.ctx = StageContext(config, console)
        self.config = config
        self.run_dir = self.ctx.run_dir
        self.console = self.ctx.console

    def save_config(self) -> None:
        self.ctx.save_config()

    def fingerprint(self, stage: Stage) -> str:
        """`stage`'s fingerprint here, its needed stages' read from their manifests."""
        return self.ctx.fingerprint(stage)

    # One line per stage, for the commands that run one stage (cli.py) and for tests.
    def judge_check(self, role: JudgeRole = LABEL) -> Path:
        return self.ctx.run_stage(JudgeCheck(role))

    def sample(self) -> Path:
        return self.ctx.run_stage(Sample())

    def label(self, mode: str) -> Path:
        return self.ctx.run_stage(Label(mode))

    def redteam(self, show_text: bool = False) -> Path:
        return self.ctx.run_stage(Redteam(show_text=show_text))

    def train_rm(self, mode: str) -> Path:
        return self.ctx.run_stage(RewardModel(mode))

    def ppo(self, mode: str) -> Path:
        return self.ctx.run_stage(PPO(mode))

    def dpo(self, mode: str) -> Path:
        return self.ctx.run_stage(DPO(mode))

    def evaluate(self, modes: list[str]) -> Path:
        return self.ctx.run_stage(Evaluate(tuple(modes)))

    def best_of_n(self, modes: list[str]) -> Path:
        self.ctx.run_stage(BestOfNSample())
        return self.ctx.run_stage(BestOfN(tuple(modes)))

    def report(self) -> Path:
        from hrlaif.report import write_report  # the report's plotting stack loads when a report is written

        self.console.print("[bold cyan]report[/]")
        return write_report(self.run_dir.root)

    def run(self, modes: list[str]) -> Path:
        """Every step of `steps` in order, then the report and the summary lines."""
        check_modes(modes)
        self.save_config()
        announce_power(self.config, self.console)  # before anything trains: what these sizes can detect
        for step in steps(self.config, modes):
            step.run(self.ctx)
        report = self.report()
        self.ctx.summary(report)
        return report
