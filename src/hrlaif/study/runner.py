"""Running several comparisons under one root: one per seed (`compare --seeds N`) or one per
labeler (`hrlaif study`, in this process or `study.jobs` spawned processes), each a run
directory of its own, sharing one judge cache so a judge several of them use is examined and
asked once; then the summary across them, and the root's report."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from rich.console import Console

from hrlaif.config import RunConfig
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import write_json
from hrlaif.judge import shared_cache
from hrlaif.manifest import read_manifest
from hrlaif.pipeline import Pipeline, compare_modes
from hrlaif.run_dir import RunDir
from hrlaif.runlock import RunLock
from hrlaif.stages import BestOfNSample
from hrlaif.stages.base import judge_label
from hrlaif.stages.power import announce_power
from hrlaif.study.seeds import seed_spread
from hrlaif.study.summary import study_summary


def _write_report(root: Path) -> Path:
    from hrlaif.report import write_report  # the report's plotting stack loads when a report is written

    return write_report(root)


def compare_over_seeds(config: RunConfig, seeds: int, console: Console | None = None) -> Path:
    """`compare` trained `seeds` times (seeds config.seed.., RUN/seed-S each, one shared judge
    cache so a judge is examined and asked once), then RUN/seeds.json with the spread of the
    headline figures across seeds, and RUN/report/ with it. Returns the report's path."""
    root = RunDir(config.run_dir)
    judge = shared_cache(config.judge, root.root)
    run_dirs = {}
    for k in range(seeds):
        seed = config.seed + k
        sub = config.model_copy(update={"seed": seed, "run_dir": root.seed_run(seed).root, "judge": judge})
        (console or Console(stderr=True)).print(f"[bold magenta]seed {seed}[/] ({k + 1} of {seeds}) -> {sub.run_dir}")
        pipeline = Pipeline(sub, console)
        pipeline.save_config()
        pipeline.run(compare_modes(sub))
        run_dirs[seed] = Path(sub.run_dir)
    write_json(root.seeds_summary, seed_spread(run_dirs))
    return _write_report(root.root)


def run_study(config: RunConfig, console: Console | None = None) -> Path:
    """`hrlaif study`: the whole comparison once per labeler in `study.labelers` (RUN/NAME each,
    every other setting equal, graded by the same `evaluate.judge`), then RUN/study.json and
    RUN/report/ putting the labelers side by side. The labelers share the start policy's samples
    (copied: sampling does not depend on the judge) and one judge cache file, so a judge that
    several use, such as the grading judge, is examined and asked once. Returns the report's path."""
    console = console or Console(stderr=True)
    root = RunDir(config.run_dir)
    announce_power(config, console)  # before any labeler trains (their own runs say it again, in their logs)
    names = list(config.study.labelers) or [config.judge.backend]
    evaluate = config.evaluate
    if evaluate.judge is not None:
        evaluate = evaluate.model_copy(update={"judge": shared_cache(evaluate.judge, root.root)})
    subs: dict[str, RunConfig] = {}
    for name in names:
        judge = config.labeler_judge(name) if config.study.labelers else config.judge
        subs[name] = config.model_copy(update={"run_dir": root.labeler_run(name).root, "judge": shared_cache(judge, root.root), "evaluate": evaluate})
    jobs = min(config.study.jobs, len(subs))
    if jobs > 1:
        _run_labelers_in_processes(subs, jobs, console)
    else:
        first: Path | None = None
        for k, (name, sub) in enumerate(subs.items()):
            console.print(f"[bold magenta]labeler {name}[/] ({k + 1} of {len(subs)}: {judge_label(sub.judge)}) -> {sub.run_dir}")
            # Each labeler's folder is a run directory of its own: a `compare` started on it by hand
            # while the study runs (or a second study) is refused, as on any run directory.
            with RunLock.acquire(sub.run_dir):
                _run_labeler(sub, first, console)
            first = first or Path(sub.run_dir)
    write_json(root.study_summary, study_summary({name: Path(sub.run_dir) for name, sub in subs.items()}, config.evaluate.confidence))
    return _write_report(root.root)


def _run_labelers_in_processes(subs: dict[str, RunConfig], jobs: int, console: Console) -> None:
    """`study.jobs` > 1: sample once here, then each labeler in a spawned process of its own
    (torch shares one thread pool per process, so processes, not threads, run models side by side),
    its output in RUN/NAME/study.log; the console gets each labeler's stage as it starts. Labelers
    are independent: one failing lets the others finish, then the study stops naming it."""
    names = list(subs)
    first = Path(subs[names[0]].run_dir)
    with RunLock.acquire(first):
        console.print(f"[bold magenta]sampling once for {len(subs)} labelers[/] -> {first}")
        pipeline = Pipeline(subs[names[0]], console)
        pipeline.save_config()
        pipeline.sample()
        if pipeline.config.best_of_n.enabled:  # the labelers share best-of-n's samples too
            pipeline.ctx.run_stage(BestOfNSample())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1  # no affinity call on macOS
    threads = None if os.environ.get("OMP_NUM_THREADS") else max(1, cores // jobs)
    console.print(f"[bold magenta]{len(subs)} labelers, {jobs} at a time[/]" + (f", {threads} torch thread(s) each" if threads else ""))
    failures: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {}
        for name, sub in subs.items():
            log = RunDir(sub.run_dir).study_log
            running[pool.submit(_labeler_process, sub, None if Path(sub.run_dir) == first else first, log, threads)] = (name, log)
            console.print(f"labeler [bold]{name}[/] ({judge_label(sub.judge)}): output in {log}")
        shown: dict[str, str | None] = {}
        while running:
            done, _ = wait(running, timeout=15, return_when=FIRST_COMPLETED)
            for name, sub in subs.items():
                current = _running_stage(Path(sub.run_dir))
                if current and shown.get(name) != current:
                    console.print(f"labeler [bold]{name}[/]: {current}")
                shown[name] = current or shown.get(name)
            for future in done:
                name, log = running.pop(future)
                try:
                    console.print(f"labeler [bold]{name}[/]: done in {future.result() / 60:.1f} min")
                except Exception as exc:  # noqa: BLE001 - reported per labeler, raised below
                    failures[name] = f"{name} ({exc}; output in {log})"
                    console.print(f"[red]labeler {name} failed:[/] {exc} (output in {log})", highlight=False)
    if failures:
        raise HrlaifError(f"study: {len(failures)} of {len(subs)} labelers failed: " + "; ".join(failures.values()))


def _running_stage(run_dir: Path) -> str | None:
    """The stage a labeler's process is in: its most recently started, unfinished manifest."""
    started = [(m.get("started_at", ""), d.name) for d in run_dir.glob("*/") if (m := read_manifest(d)) and not m.get("complete")]
    return max(started)[1] if started else None


def _labeler_process(sub: RunConfig, first: Path | None, log: Path, threads: int | None) -> float:
    """A spawned process's whole work: one labeler, every line of output in `log`. Returns seconds."""
    started = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("a", buffering=1, encoding="utf-8")
    for fd in (1, 2):  # progress bars and library warnings write to the descriptors, not to sys.stderr's object
        os.dup2(out.fileno(), fd)
    if threads:
        os.environ.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
        import torch  # after OMP_NUM_THREADS is set, in the spawned process only

        torch.set_num_threads(threads)
    import transformers  # in the spawned process only

    transformers.logging.set_verbosity_error()
    console = Console(file=sys.stderr, width=120)
    with RunLock.acquire(sub.run_dir, command=f"hrlaif study (labeler {Path(sub.run_dir).name}, PID {os.getpid()})"):
        _run_labeler(sub, first, console)
    return time.perf_counter() - started


def _run_labeler(sub: RunConfig, first: Path | None, console: Console) -> None:
    """One labeler of a study: the whole comparison in sub.run_dir, sampling copied from `first`."""
    pipeline = Pipeline(sub, console)
    pipeline.save_config()
    here = RunDir(sub.run_dir)
    for stage in ("sample", here.BEST_OF_N_SAMPLE_STAGE):
        if first is not None and not here.stage(stage).exists() and (read_manifest(RunDir(first).stage(stage)) or {}).get("complete"):
            # Same policy, prompts, settings and seed: the same samples. Copied whole (manifest
            # included), then renamed, so a kill mid-copy leaves no half folder.
            tmp = here.stage_copy(stage)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(RunDir(first).stage(stage), tmp)
            tmp.rename(here.stage(stage))
    pipeline.run(compare_modes(sub))
