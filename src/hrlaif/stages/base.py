"""The one shape of every stage, and the context the stages run in.

A `Stage` declares its folder name, the stages it needs, its fingerprint (its config sections
plus the fingerprints of what it needs) and its body. `StageContext.run_stage` does the rest,
once for all of them: skip a stage whose manifest says it finished with the same fingerprint,
otherwise `prepare`, run the body inside `manifest.stage()` (which writes the manifest last),
record what the judge spent, print "NAME: done in T" and keep the timeline for the summary.

A `Step` is something `run` does between stages that leaves no manifest (the audit, a judge's
qualification gate); a stage is a step with a manifest.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import NamedTuple, Protocol

from rich.console import Console

from hrlaif.config import RunConfig, dump_config
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import atomic_path
from hrlaif.judge import build_judge, judge_cache_path
from hrlaif.judge.role import LABEL, JudgeRole
from hrlaif.manifest import StageRecord, is_complete, read_manifest, stage
from hrlaif.run_dir import RunDir


class Upstream(Protocol):
    """A needed stage's fingerprint: from its manifest when running (`hint` says what to run
    when it has not finished), or the one it would get, for the status view."""

    def __call__(self, name: str, hint: str | None = None) -> str: ...


class Step:
    """Something `Pipeline.run` does in order; a Stage when it leaves a manifest."""

    def implies(self, ctx: StageContext) -> list[Stage]:
        """Stages this step runs on its own (a qualification gate runs its judge's exam)."""
        return []

    def run(self, ctx: StageContext) -> object:
        raise NotImplementedError


class Stage(Step):
    name: str = ""

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        """The stages whose outputs and fingerprints this one takes (they must have finished)."""
        return ()

    def judged(self, ctx: StageContext) -> bool:
        """Whether the labeling judge answers in this stage: its usage then goes into the manifest."""
        return False

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        raise NotImplementedError

    def output(self, ctx: StageContext) -> Path:
        """The path the stage hands back (its main output)."""
        raise NotImplementedError

    def before(self, ctx: StageContext) -> None:
        """Checks and notes before the fingerprint is computed (a qualification gate, a warning)."""

    def prepare(self, ctx: StageContext) -> None:
        """Run before the stage folder is claimed (after the skip check)."""

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        """Read the inputs, hand over to the package doing the work, write the outputs, set
        record.counts / extra / compute."""
        raise NotImplementedError

    def run(self, ctx: StageContext) -> Path:
        return ctx.run_stage(self)


class StageTime(NamedTuple):
    """One stage as this run reached it, for the end-of-run summary."""

    name: str
    status: str  # "ran" | "skipped"
    wall_s: float = 0.0
    judge_calls: int = 0
    cost_usd: float = 0.0


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def file_hash(path: Path) -> str:
    path = Path(path)
    if path.is_dir():
        raise HrlaifError(f"{path}: is a directory, expected a JSON-lines file")
    if not path.is_file():
        raise HrlaifError(f"{path}: file not found")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def judge_label(config) -> str:
    """A judge's name as its config gives it, without building the judge."""
    return f"{config.backend}:{config.model}"


class StageContext:
    """What a stage runs with: the config, the run directory, the judges (built once, when a
    stage first asks), the console, and the timeline of the stages reached."""

    def __init__(self, config: RunConfig, console: Console | None = None) -> None:
        self.config = config
        self.run_dir = RunDir(config.run_dir)
        self.console = console or Console(stderr=True)
        self.timeline: list[StageTime] = []
        self._judges: dict[str, object] = {}

    def save_config(self) -> None:
        self.run_dir.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.run_dir.config) as tmp:
            tmp.write_text(dump_config(self.config), encoding="utf-8")

    # ------------------------------------------------------------------ judges
    def judge(self, role: JudgeRole = LABEL):
        """The judge of `role`, built on first use; the grading judge is the labeling judge
        unless `evaluate.judge` is set."""
        if not role.separate(self.config):
            return self.judge(LABEL)
        if role.name not in self._judges:
            j = role.config(self.config)
            self.console.print(f"[bold]{role.title}[/]: {j.backend} ({j.model})")
            self._judges[role.name] = build_judge(j, seed=self.config.seed, cache_path=judge_cache_path(j, self.run_dir.root))
        return self._judges[role.name]

    # ------------------------------------------------------------------ running a stage
    def upstream(self, name: str, hint: str | None = None) -> str:
        """The fingerprint a finished stage recorded; an error when it has not finished."""
        manifest = read_manifest(self.run_dir.stage(name))
        if not manifest or not manifest.get("complete"):
            raise HrlaifError(f"stage '{name}' has not finished in {self.run_dir.root}: {hint or 'run it first'}")
        return manifest["fingerprint"]

    def fingerprint(self, stage_: Stage, upstream: Upstream | None = None) -> str:
        """`stage_`'s fingerprint, its needed stages' fingerprints read from their manifests
        (or given by `upstream`)."""
        return stage_.fingerprint(self, upstream or self.upstream)

    def run_stage(self, stage_: Stage) -> Path:
        """Skip `stage_` when complete with its fingerprint; else run it. Returns its output."""
        stage_.before(self)
        fp = self.fingerprint(stage_)
        out = stage_.output(self)
        name = stage_.name
        if is_complete(self.run_dir.stage(name), fp):
            self.console.print(f"[dim]{name}: already complete, skipped[/]")
            self.timeline.append(StageTime(name, "skipped"))
            return out
        self.console.print(f"[bold cyan]{name}[/]")
        stage_.prepare(self)
        judged = stage_.judged(self)
        judge = self.judge(LABEL) if judged else None
        before = judge.stats.model_dump() if judge is not None else {}
        started = time.monotonic()
        with stage(name, self.run_dir.stage(name), fp) as record:
            stage_.body(self, record)
            if judge is not None:
                now = judge.stats.model_dump()
                record.judge = {k: round(now[k] - before.get(k, 0), 6) for k in now} | {"judge": judge.name}
        done = StageTime(name, "ran", time.monotonic() - started, record.judge.get("calls", 0), record.judge.get("cost_usd", 0.0))
        self.timeline.append(done)
        self.console.print(f"{name}: done in {duration(done.wall_s)}" + (f", {done.judge_calls} judge calls" if judged else ""),
                           highlight=False)
        return out

    def summary(self, report: Path | None = None) -> None:
        """The end-of-run lines: each stage reached (ran, with its wall time, or skipped), the
        labeling judge's calls and cost, and where the report is."""
        ran = [t for t in self.timeline if t.status == "ran"]
        self.console.print(f"[bold]summary:[/] {len(ran)} stage(s) ran in {duration(sum(t.wall_s for t in ran))}, "
                           f"{len(self.timeline) - len(ran)} skipped (already complete)", highlight=False)
        for t in self.timeline:
            self.console.print(f"  {t.name:<24} {'skipped' if t.status == 'skipped' else duration(t.wall_s)}", highlight=False)
        judge = self._judges.get(LABEL.name)
        if judge is not None:
            stats = judge.stats
            self.console.print(f"  judge '{judge.name}': {stats.calls} calls, {stats.cache_hits} from cache, "
                               f"${stats.cost_usd:.4f}", highlight=False)
        if report is not None:
            self.console.print(f"  report: {report}", highlight=False)
