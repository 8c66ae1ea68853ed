"""The stages in order, each reading and writing files under one run directory.

A stage whose manifest says it finished with the same fingerprint (its config section plus its inputs' fingerprints)
is skipped, so an interrupted `run` picks up where it stopped and a changed setting re-runs exactly the stages
downstream of it. Each stage lives in its own module of `hrlaif.stages`; this module is their order (`steps`), `run`
(every data source read first), and the status view that falls out of the order (`status`: complete, stale or missing).

With compare.oracle on, a third arm 'oracle' (labels from the verifier alone: the positive
control) goes through the same stages, untrained when its labels hold too few pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rich.console import Console

from hrlaif.config import RunConfig
from hrlaif.environment import quiet_library_bars
from hrlaif.errors import HrlaifError
from hrlaif.judge.role import EVAL, LABEL, JudgeRole
from hrlaif.manifest import read_manifest
from hrlaif.run_dir import ALL_MODES, MODES, ORACLE, RunDir
from hrlaif.stages import (
    DPO,
    PPO,
    Audit,
    BestOfN,
    BestOfNSample,
    Evaluate,
    JudgeCheck,
    Qualified,
    Redteam,
    RewardModel,
    RMHeldout,
    Sample,
    Stage,
    StageContext,
    Step,
    label_stage,
    uses_redteam,
)
from hrlaif.stages.label import modes_to_train
from hrlaif.stages.power import announce_power
from hrlaif.stages.sources import check_sources
from hrlaif.train.trackers import check_installed

__all__ = ["ALL_MODES", "MODES", "ORACLE", "Pipeline", "StageStatus", "compare_modes", "plan_lines", "status", "steps"]


def steps(config: RunConfig, modes: list[str] | tuple[str, ...]) -> list[Step]:
    """What `run` does, in order: the labeling judge's exam and gate, sampling, every arm's labels,
    the label audit (label quality, before any training), per arm its training per
    compare.algorithms (red teaming before the hrlaif RM; the RMs trained under dpo too when
    best_of_n.enabled, since best-of-n measures them), best-of-n reranking by every arm's RM, the
    grading judge's exam, then evaluation of all arms against the start policy."""
    c = config
    trains_rms = "ppo" in c.compare.algorithms or c.best_of_n.enabled  # best-of-n measures the RMs: trained for it under dpo too
    order: list[Step] = [JudgeCheck(LABEL)] if c.judge_check.enabled else []
    order += [Qualified(LABEL), Sample()]
    order += [label_stage(mode) for mode in modes]
    order.append(Audit())  # label quality per arm, printed before any training
    for mode in modes:
        if uses_redteam(c, mode):
            order.append(Redteam())
        if trains_rms:
            order.append(RewardModel(mode))
        if "ppo" in c.compare.algorithms:
            order.append(PPO(mode))
        if "dpo" in c.compare.algorithms:
            order.append(DPO(mode))
    if trains_rms:  # every RM on one shared held-out set
        order.append(RMHeldout(tuple(modes)))
    if c.best_of_n.enabled:
        order += [BestOfNSample(), BestOfN(tuple(modes))]
    if c.judge_check.enabled and EVAL.separate(c):
        order.append(JudgeCheck(EVAL))
    order.append(Evaluate(tuple(modes)))
    return order


def compare_modes(config: RunConfig) -> list[str]:
    """The arms `compare`, a study, the demo and `status` run: rlaif, hrlaif (+ oracle with compare.oracle)."""
    return [*MODES, *([ORACLE] if config.compare.oracle else [])]


def check_modes(modes: list[str] | tuple[str, ...]) -> None:
    for mode in modes:
        if mode not in ALL_MODES:
            raise HrlaifError(f"unknown labeling mode '{mode}' (known: {', '.join(ALL_MODES)})")


class StageStatus(NamedTuple):
    name: str
    state: str  # "complete" | "stale" (finished under another fingerprint) | "missing" (never finished)
    fingerprint: str  # what the config asks for
    recorded: str | None  # what the manifest says, if it finished


def status(config: RunConfig, modes: list[str] | tuple[str, ...] | None = None) -> list[StageStatus]:
    """Each stage `run` would reach for `modes` (default: `compare`'s), in order: complete (`run`
    skips it), stale (finished under another fingerprint, or downstream of one that will re-run)
    or missing. Builds no judge and loads no model."""
    modes = compare_modes(config) if modes is None else modes
    check_modes(modes)
    ctx = StageContext(config, Console(stderr=True, quiet=True))
    expected: dict[str, str] = {}

    def upstream(name: str, hint: str | None = None) -> str:
        return expected[name] if name in expected else ctx.upstream(name, hint)

    found: list[StageStatus] = []

    def reach(order: list[Step]) -> None:
        for step in order:
            for stage in [*step.implies(ctx), *([step] if isinstance(step, Stage) else [])]:
                if stage.name in expected:
                    continue
                fp = expected[stage.name] = ctx.fingerprint(stage, upstream)
                manifest = read_manifest(ctx.run_dir.stage(stage.name)) or {}
                recorded = manifest.get("fingerprint") if manifest.get("complete") else None
                state = "missing" if recorded is None else "complete" if recorded == fp else "stale"
                found.append(StageStatus(stage.name, state, fp, recorded))

    labels, _ = split_at_audit(steps(config, modes))
    reach(labels)
    oracle_done = any(r.name == RunDir.label_stage(ORACLE) and r.state == "complete" for r in found)
    reach(split_at_audit(steps(config, modes_to_train(ctx, modes) if oracle_done else modes))[1])
    return found


_PLAN = {"complete": "skip (complete from an earlier run)", "stale": "re-run (stale: other settings, or an input that re-runs)", "missing": "run"}


def plan_lines(rows: list[StageStatus]) -> list[str]:
    """`status` as the few lines `run` prints before its first stage: a count, then the stages it
    skips, re-runs and runs, each group on one line (a line per stage would bury the first stage)."""
    groups = {state: [r.name for r in rows if r.state == state] for state in _PLAN}
    counts = {"missing": "to run", "stale": "to re-run", "complete": "to skip"}
    head = "plan: " + ", ".join(f"{len(groups[s])} {counts[s]}" for s in counts if groups[s]) + f" ({len(rows)} stage(s))"
    lines = [head] + [f"  {_PLAN[s]}: {', '.join(groups[s])}" for s in _PLAN if groups[s]]
    if any(r.name == RunDir.label_stage(ORACLE) and r.state != "complete" for r in rows):  # modes_to_train decides after labeling
        lines.append("  (the oracle arm trains only if its labels hold enough pairs: known once they are made)")
    return lines


def split_at_audit(order: list[Step]) -> tuple[list[Step], list[Step]]:
    """`steps` cut after the audit: the labels (and what comes before them), then the training."""
    cut = next(i for i, step in enumerate(order) if isinstance(step, Audit)) + 1
    return order[:cut], order[cut:]


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
        return self.one(label_stage(mode), [mode])

    def redteam(self, show_text: bool = False) -> Path:
        return self.one(Redteam(show_text=show_text), [])

    def train_rm(self, mode: str) -> Path:
        return self.one(RewardModel(mode), [mode])

    def ppo(self, mode: str) -> Path:
        return self.one(PPO(mode), [mode])

    def dpo(self, mode: str) -> Path:
        return self.one(DPO(mode), [mode])

    def evaluate(self, modes: list[str]) -> Path:
        return self.one(Evaluate(tuple(modes)), modes)

    def best_of_n(self, modes: list[str]) -> Path:
        self.ctx.run_stage(BestOfNSample())
        return self.one(BestOfN(tuple(modes)), modes)

    def one(self, stage: Stage, modes: list[str]) -> Path:
        """`stage` on its own: a needed stage that finished under other settings than this config's
        (stale: `run` would re-run it first) is read as it is, and a line says so (issue 27)."""
        needs = stage.needs(self.ctx)
        try:
            stale = {r.name for r in status(self.config, modes or None) if r.state == "stale"} if needs else set()
        except (HrlaifError, OSError) as exc:  # a setting only `run` would need: still run the stage asked for
            self.console.print(f"{stage.name}: cannot tell whether {', '.join(needs)} match this config ({exc}); reading them as they are",
                               highlight=False)
            stale = set()
        for name in needs:
            if name in stale:
                self.console.print(f"[yellow]{stage.name} reads {name} as it is: it finished under other settings than this "
                                   f"config's[/] (`hrlaif status` shows which; `hrlaif run` would re-run it first)", highlight=False)
        return self.ctx.run_stage(stage)

    def report(self) -> Path:
        from hrlaif.report import write_report  # the report's plotting stack loads when a report is written

        self.console.print("[bold cyan]report[/]")
        return write_report(self.run_dir.root)

    def announce_plan(self, modes: list[str]) -> None:
        """The plan before the first stage (issue 26); a run whose status cannot be read says so and goes on."""
        try:
            lines = plan_lines(status(self.config, modes))
        except (HrlaifError, OSError) as exc:
            lines = [f"plan: cannot tell which stages are complete ({exc}); each stage says so as it starts"]
        for line in lines:
            self.console.print(line, markup=False, highlight=False)

    def run(self, modes: list[str]) -> Path:
        """Every step of `steps` in order (the oracle arm's training left out when its labels hold
        too few pairs), then the report and the summary lines."""
        check_modes(modes)
        quiet_library_bars()  # a run logged to a file (a study labeler's study.log) draws no library progress bars
        check_sources(self.config)  # every prompt source read now: a bad eval file fails before anything trains
        self.save_config()
        self.announce_plan(modes)
        announce_power(self.config, self.console)  # before anything trains: what these sizes can detect
        for step in split_at_audit(steps(self.config, modes))[0]:  # every arm's labels, then their audit
            step.run(self.ctx)
        for step in split_at_audit(steps(self.config, modes_to_train(self.ctx, modes, announce=True)))[1]:
            step.run(self.ctx)
        report = self.report()
        self.ctx.summary(report)
        return report
