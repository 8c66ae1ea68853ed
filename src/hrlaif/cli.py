"""The `hrlaif` command: one subcommand per stage, plus `run`, `compare` and `demo`.

Thin by design: each command builds the config, then calls the pipeline or a module.

Each command imports the modules it calls when it runs (config, pipeline, report, the training
and serving stacks): `hrlaif --help` and the command-line parsing load none of them. Only the
light modules every command needs are imported here.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hrlaif import __version__
from hrlaif.cli_errors import console, guard, held_locks
from hrlaif.errors import HrlaifError
from hrlaif.run_dir import ALL_MODES, RunDir
from hrlaif.runlock import RunLock
from hrlaif.train import ranks

app = typer.Typer(
    help="Hybrid RL from AI feedback (HRLAIF, arXiv 2403.08309): sample, label, train a reward model, PPO, evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file (shipped examples: hrlaif config --list-examples).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key, e.g. --set ppo.steps=4 (repeatable; values are YAML)."),
]


def _run_dir_option(value: str) -> Path | str:
    """--run-dir as a Path; a blank one stays a string, which load_config refuses as run_dir
    (as a Path it would be ".", the current folder)."""
    return Path(value) if value.strip() else value


RunDirOpt = Annotated[Path | None, typer.Option("--run-dir", "-r", parser=_run_dir_option, help="Run directory (overrides run_dir in the config).")]
RetryOpt = Annotated[bool, typer.Option("--retry-unscorable", help="Ask the judge again where its cached verdict was unparseable (sets judge.retry_unscorable).")]
ModeOpt = Annotated[str | None, typer.Option("--mode", "-m", help="Labeling mode: rlaif (judge only), hrlaif (hybrid) or oracle (verifier only, the positive control). Default: label.mode of the config.")]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hrlaif {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print hrlaif's version and exit.")] = False,
) -> None:
    """Options before any command (the app's help text is set on `app`)."""


def _lock_run_dir(run_dir: Path, create: bool = True) -> None:
    """Hold RUN/.lock for the rest of this command: a second command on the directory fails at once."""
    lock = RunLock.acquire(run_dir, create=create)
    held_locks.append(lock)
    if lock.stale_note:
        console.print(f"[yellow]{lock.stale_note}[/]", highlight=False)


def _refuse_several_processes() -> None:
    """Under `accelerate launch` with several processes every rank would run the whole command,
    write the same files and fight over the run lock: only the training commands know how to
    share the work (`_rank_aware`); every other command stops all ranks at once, naming them."""
    world = os.environ.get("WORLD_SIZE", "1")
    if world.isdigit() and int(world) > 1 and not ranks.is_leading():
        raise HrlaifError(
            f"this hrlaif command runs as one process (WORLD_SIZE={world}): launch it with --num_processes 1; under several "
            f"processes only {' and '.join(ranks.COMMANDS)} run (rank 0 writes, the other ranks join its training), or call "
            "hrlaif.train.ppo.train_ppo / hrlaif.train.reward.train_reward_model from your own script (README, 'Sharded training')"
        )


def _rank_aware(command):
    """train-rm and ppo under several processes: rank 0 runs the command and is the only one to
    write; the other ranks run no stage, they make rank 0's training calls with it
    (hrlaif.train.ranks) and end with 0 when it ends, so that the launcher reports rank 0's
    exit code and message alone (ranks.follow says why). One process: the command as it is."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        if ranks.world_size() == 1:
            return command(*args, **kwargs)
        if not ranks.is_main_process():
            _quiet_libraries()
            ranks.follow()
            # A follower has left the process group and owns no file: it ends here, without the
            # interpreter's teardown, where a library's C++ thread still joinable at exit aborted it
            # ("terminate called without an active exception", SIGABRT; twice in loaded runs of
            # test_cli_ddp after the stage had finished) and the launcher reported that signal.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        with ranks.lead():
            return command(*args, **kwargs)

    return wrapper


def _quiet_libraries() -> None:
    """Library chatter off: warnings below errors, and the libraries' own progress bars (weight
    loading, dataset maps), which flood a log; each stage prints its start and end instead.
    $HRLAIF_VERBOSE (not 0) leaves them as they are."""
    from hrlaif.environment import disable_library_bars, libraries_verbose

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if libraries_verbose():
        return
    import transformers  # the model stacks load when a command that runs models does

    transformers.logging.set_verbosity_error()
    disable_library_bars()


def _pipeline(config: Path | None, overrides: list[str] | None, run_dir: Path | None, base: dict | None = None):
    from hrlaif.config import load_config
    from hrlaif.pipeline import Pipeline

    extra = list(overrides or [])
    if run_dir is not None:
        extra.append(f"run_dir={run_dir}")
    cfg = load_config(config, extra, base=base)
    _refuse_several_processes()
    _lock_run_dir(Path(cfg.run_dir))  # before anything is written, config.yaml included
    _quiet_libraries()
    pipeline = Pipeline(cfg, console)
    pipeline.save_config()
    return pipeline


def _mode(pipeline, mode: str | None) -> str:
    chosen = mode or pipeline.config.label.mode
    if chosen not in ALL_MODES:
        raise HrlaifError(f"--mode: unknown labeling mode '{chosen}' (known: {', '.join(ALL_MODES)})")
    return chosen


@app.command()
@guard
def sample(config: ConfigOpt = None, set_: SetOpt = None, run_dir: RunDirOpt = None) -> None:
    """Sample K responses per train prompt from the start policy -> RUN/sample/samples.jsonl."""
    console.print(f"wrote {_pipeline(config, set_, run_dir).sample()}")


@app.command()
@guard
def label(config: ConfigOpt = None, set_: SetOpt = None, run_dir: RunDirOpt = None, mode: ModeOpt = None, retry_unscorable: RetryOpt = False) -> None:
    """Turn the samples into preference pairs with the AI judge -> RUN/label-MODE/pairs.jsonl."""
    p = _pipeline(config, [*(set_ or []), *(["judge.retry_unscorable=true"] if retry_unscorable else [])], run_dir)
    console.print(f"wrote {p.label(_mode(p, mode))}")


@app.command()
@guard
def redteam(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    show_text: Annotated[bool, typer.Option("--show-text", help="Also print attacks, harmful answers and kept rewrites (harmful text; off by default).")] = False,
) -> None:
    """AI red teaming for the hrlaif arm: attacks, start-policy answers, harm labels, rewrites -> RUN/redteam/pairs.jsonl.

    Needs only the policy and the judge. The outputs are harmful text by design: they stay in RUN/redteam/ (see its CONTENT_WARNING.txt) and are not printed unless --show-text is given.
    """
    p = _pipeline(config, set_, run_dir)
    console.print(f"wrote {p.redteam(show_text=show_text)}")


@app.command("train-rm")
@guard
@_rank_aware
def train_rm(config: ConfigOpt = None, set_: SetOpt = None, run_dir: RunDirOpt = None, mode: ModeOpt = None) -> None:
    """Train the reward model on the pairs (TRL RewardTrainer) -> RUN/rm-MODE/model."""
    p = _pipeline(config, set_, run_dir)
    console.print(f"wrote {p.train_rm(_mode(p, mode))}")


@app.command()
@guard
@_rank_aware
def ppo(config: ConfigOpt = None, set_: SetOpt = None, run_dir: RunDirOpt = None, mode: ModeOpt = None) -> None:
    """Optimise the policy against the reward model with PPO -> RUN/ppo-MODE/policy (resumes from checkpoints)."""
    p = _pipeline(config, set_, run_dir)
    console.print(f"wrote {p.ppo(_mode(p, mode))}")


@app.command()
@guard
def evaluate(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    modes: Annotated[list[str] | None, typer.Option("--mode", "-m", help="Arms to evaluate (repeatable); default: every arm trained in the run.")] = None,
) -> None:
    """Compare trained arms with the start policy on held-out prompts -> RUN/eval/results.json."""
    p = _pipeline(config, set_, run_dir)
    arms = modes or [m for m in ALL_MODES if any(p.run_dir.manifest(f"{a}-{m}").is_file() for a in p.config.compare.algorithms)]
    if not arms:
        raise HrlaifError(f"{p.run_dir.root}: no trained arm to evaluate; run `hrlaif ppo` first")
    console.print(f"wrote {p.evaluate(arms)}")


@app.command("best-of-n")
@guard
def best_of_n(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    modes: Annotated[list[str] | None, typer.Option("--mode", "-m", help="Arms whose RM picks (repeatable); default: every arm with a trained RM.")] = None,
) -> None:
    """Each trained RM picks among K samples of held-out keyed prompts, graded by the verifier, against a random, the oracle and the longest pick -> RUN/best-of-n/results.json."""
    p = _pipeline(config, set_, run_dir)
    arms = modes or [m for m in ALL_MODES if p.run_dir.manifest(RunDir.rm_stage(m)).is_file()]
    if not arms:
        raise HrlaifError(f"{p.run_dir.root}: no trained reward model to rerank with; run `hrlaif train-rm` first")
    console.print(f"wrote {p.best_of_n(arms)}")


@app.command()
@guard
def report(run_dir: Annotated[Path, typer.Argument(help="Run directory to report on.")]) -> None:
    """Write RUN/report/report.md and report.html from a run's files."""
    from hrlaif.report import write_report

    _lock_run_dir(run_dir, create=False)
    console.print(f"wrote {write_report(run_dir)}")


@app.command()
@guard
def run(config: ConfigOpt = None, set_: SetOpt = None, run_dir: RunDirOpt = None, mode: ModeOpt = None) -> None:
    """The whole pipeline for one labeling mode, resuming where a previous run stopped."""
    p = _pipeline(config, set_, run_dir)
    console.print(f"[bold green]report:[/] {p.run([_mode(p, mode)])}")


@app.command()
@guard
def compare(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Train every arm this many times (seeds seed, seed+1, ...; RUN/seed-S each) and report the spread of the figures across seeds.")] = 1,
) -> None:
    """Start policy vs RLAIF arm vs HRLAIF arm (and the oracle positive control with compare.oracle): same samples, seed and budget, same held-out prompts."""
    p = _pipeline(config, set_, run_dir)
    if seeds == 1:
        from hrlaif.pipeline import compare_modes

        console.print(f"[bold green]report:[/] {p.run(compare_modes(p.config))}")
        return
    from hrlaif.study.runner import compare_over_seeds

    console.print(f"[bold green]report:[/] {compare_over_seeds(p.config, seeds, console)}")


@app.command()
@guard
def study(config: ConfigOpt = None, set_: SetOpt = None, run_dir: RunDirOpt = None) -> None:
    """Start vs RLAIF vs HRLAIF once per labeler (study.labelers), graded alike, side by side.
    Without -c: the bundled study (hrlaif config --example study, ~90 min on 2 CPU cores)."""
    from hrlaif.stages.sources import check_sources
    from hrlaif.study.runner import run_study

    if config is None:
        from importlib.resources import files

        config = Path(str(files("hrlaif") / "configs" / "study.yaml"))
    p = _pipeline(config, set_, run_dir)
    check_sources(p.config)  # before the labelers' shared sampling: each labeler's run reads them again
    console.print(f"[bold green]report:[/] {run_study(p.config, console)}")


@app.command()
@guard
def status(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    modes: Annotated[list[str] | None, typer.Option("--mode", "-m", help="Arms to look at (repeatable: rlaif, hrlaif, oracle); default: those compare runs (oracle with compare.oracle on).")] = None,
) -> None:
    """Each stage a run of this config reaches: complete (a run skips it), stale (finished with other settings: a run re-runs it) or missing. Changes nothing.

    With --run-dir and no -c, the config is the one that run directory was run with (RUN/config.yaml)."""
    from hrlaif.config import load_config
    from hrlaif.pipeline import status as stage_status

    if config is None and run_dir is not None and RunDir(run_dir).config.is_file():
        config = RunDir(run_dir).config
    cfg = load_config(config, [*(set_ or []), *([f"run_dir={run_dir}"] if run_dir is not None else [])])
    rows = stage_status(cfg, modes or None)
    console.print(f"{RunDir(cfg.run_dir).root}:", highlight=False)
    colour = {"complete": "green", "stale": "yellow", "missing": "red"}
    for row in rows:
        console.print(f"  {row.name:<24} [{colour[row.state]}]{row.state}[/]", highlight=False)
    counts = {state: sum(r.state == state for r in rows) for state in colour}
    console.print(", ".join(f"{n} {state}" for state, n in counts.items() if n), highlight=False)


@app.command("config")
@guard
def show_config(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    example: Annotated[str | None, typer.Option("--example", "-e", help="Print a shipped example config as written, e.g. --example study > study.yaml.")] = None,
    list_examples: Annotated[bool, typer.Option("--list-examples", help="Name the shipped example configs.")] = False,
) -> None:
    """Print the config as a run would use it (file + --set overrides + defaults), as YAML; or a
    shipped example config (--example NAME, --list-examples), which a pip install has no path to."""
    from hrlaif import examples
    from hrlaif.config import dump_config, load_config

    if list_examples:
        for name, summary in examples.list_examples():
            typer.echo(f"{name}\t{summary}")
        return
    if example is not None:
        typer.echo(examples.example_text(example), nl=False)
        return
    loaded = load_config(config, [*(set_ or []), *([f"run_dir={run_dir}"] if run_dir is not None else [])])
    typer.echo(dump_config(loaded), nl=False)


@app.command("env")
@guard
def show_env() -> None:
    """Print the versions of Python, hrlaif and its libraries, and the devices torch sees, for a bug report."""
    from hrlaif.environment import describe_environment

    for name, value in describe_environment():
        typer.echo(f"{name}: {value}")


@app.command()
@guard
def demo(
    run_dir: RunDirOpt = None,
    set_: SetOpt = None,
) -> None:
    """The embedded default end to end: SmolLM2 policy, local SmolLM2 judge, bundled prompts."""
    import yaml

    from hrlaif.data import bundled_path

    base = yaml.safe_load(bundled_path("demo_config").read_text(encoding="utf-8"))
    p = _pipeline(None, set_, run_dir if run_dir is not None else Path(base.get("run_dir", "runs/demo")), base=base)
    from hrlaif.pipeline import compare_modes

    console.print(f"[bold green]report:[/] {p.run(compare_modes(p.config))}")


@app.command()
@guard
def verify(
    input_file: Annotated[Path, typer.Argument(help="JSONL with category (math|multiple_choice|harmful) and response; reference for math and multiple choice, and choices for multiple choice.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the records with `correct` (true/false/null) and `extracted`, or for harmful rows `refused` (true/null) and `refusal_pattern`.")],
) -> None:
    """Check responses with the rule-based verifiers and, for harmful prompts, the refusal patterns (to debug labels)."""
    from hrlaif.verify.batch import verify_file

    counts = verify_file(input_file, output)
    console.print(f"wrote {output}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@app.command()
@guard
def audit(run_dir: Annotated[Path, typer.Argument(help="Run directory whose labels to audit.")]) -> None:
    """Label quality per arm: agreement with gold on keyed prompts, position consistency, length bias."""
    from hrlaif.stages.audit import write_audit

    _lock_run_dir(run_dir, create=False)
    path, report = write_audit(run_dir)
    for mode, r in report.items():
        console.print(f"[bold]{mode}[/] ({r['judge']}): gold agreement {_rate_text(r['gold_agreement']['all_keyed'])}; "
                      f"position consistency {_rate_text(r['position_consistency'])}; longer wins {_rate_text(r['length_bias'])}")
    from hrlaif.labeling.audit import label_quality_lines

    for line in label_quality_lines(report):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"wrote {path}")


@app.command()
@guard
def dpo(config: ConfigOpt = None, set_: SetOpt = None, run_dir: RunDirOpt = None, mode: ModeOpt = None) -> None:
    """Train the policy directly on the arm's RM pairs with TRL's DPOTrainer (LoRA by default) -> RUN/dpo-MODE/policy."""
    p = _pipeline(config, set_, run_dir)
    console.print(f"wrote {p.dpo(_mode(p, mode))}")


@app.command()
@guard
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run directory whose pairs to export.")],
    format_: Annotated[str, typer.Option("--format", "-f", help="trl (prompt/chosen/rejected, conversational), openrlhf (whole-conversation chosen/rejected) or jsonl (our records).")] = "trl",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for MODE/train.jsonl and MODE/test.jsonl (default RUN/export/FORMAT).")] = None,
    mode: Annotated[list[str] | None, typer.Option("--mode", "-m", help="Arm to export (repeatable; default: every labeled arm).")] = None,
) -> None:
    """Write the pairs each arm's reward model trained on (labels, plus red-team pairs where used) for TRL, OpenRLHF or as JSONL."""
    from hrlaif.export import export_run

    _lock_run_dir(run_dir, create=False)
    for name, counts in export_run(run_dir, format_, out, mode).items():
        redteam = f" + {counts['redteam_pairs']} red-team" if "redteam_pairs" in counts else ""
        console.print(f"{name}: {counts['label_pairs']} label pairs{redteam} -> {counts['folder']} "
                      f"(train {counts['train_pairs']}, test {counts['test_pairs']}: the RM's held-out pairs)", highlight=False)
        console.print(f"  read from {counts['read']}", highlight=False)


@app.command("export-prompts")
@guard
def export_prompts(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    format_: Annotated[str, typer.Option("--format", "-f", help="trl (prompt + category, reference, choices: what HybridReward reads) or openrlhf (prompt + a label object for hrlaif reward-server).")] = "trl",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for train.jsonl (or test.jsonl with --split eval).")] = Path("prompts"),
    split: Annotated[str, typer.Option("--split", help="train: data.train_prompts -> train.jsonl; eval: data.eval_prompts -> test.jsonl.")] = "train",
) -> None:
    """Write the config's prompts (read through data.format, e.g. a gsm8k or mmlu preset) as a prompt dataset for GRPO with hrlaif's reward."""
    from hrlaif.config import load_config
    from hrlaif.export import export_prompts as write_prompts

    cfg = load_config(config, set_)
    _quiet_libraries()
    path, counts = write_prompts(cfg, format_, out, split)
    console.print(f"wrote {path}: {sum(counts.values())} prompts (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")", highlight=False)
    if format_ == "openrlhf":
        console.print("OpenRLHF: --prompt_data FOLDER --input_key prompt --label_key label --apply_chat_template "
                      "--remote_rm_url http://HOST:PORT/get_reward (hrlaif reward-server)", highlight=False)


@app.command("judge-check")
@guard
def judge_check(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the per-task results (JSON).")] = Path("judge_check.json"),
    retry_unscorable: RetryOpt = False,
) -> None:
    """Examine the configured judge on known-answer items per task (cached and budgeted like labeling) -> OUT.json."""
    from hrlaif.config import load_config
    from hrlaif.jsonl import write_json
    from hrlaif.judge import build_judge, judge_cache_path
    from hrlaif.judge.qualify import qualify_judge
    from hrlaif.report.console import exam_table

    cfg = load_config(config, [*(set_ or []), *(["judge.retry_unscorable=true"] if retry_unscorable else [])])
    if output.is_dir():
        raise HrlaifError(f"--output {output}: is a directory; give a file name")
    cache_path = judge_cache_path(cfg.judge, cfg.run_dir)
    run_root = Path(cfg.run_dir).resolve()
    if any(path is not None and run_root in path.resolve().parents for path in (cache_path, output)):
        _lock_run_dir(Path(cfg.run_dir))  # it writes into the run (its judge cache, or --output): not under a running `label`
    _quiet_libraries()
    judge = build_judge(cfg.judge, seed=cfg.seed, cache_path=cache_path)
    try:
        result = qualify_judge(judge, cfg.judge_check, soft_labels=cfg.label.soft_labels, tie_margin=cfg.label.tie_margin)
    finally:
        judge.close()
    write_json(output, result)
    console.print(exam_table(result))
    failed = [t for t, r in result["tasks"].items() if not r["qualified"]]
    console.print(f"wrote {output}: " + ("qualified on every task" if result["qualified"] else f"NOT qualified on {', '.join(failed)}"))


@app.command("reward-server")
@guard
def reward_server(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    reward_model: Annotated[str | None, typer.Option("--rm", help="Reward model folder (e.g. RUN/rm-hrlaif/model) whose score of each query is added to the rule reward; default: rules only.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it on this machine (plain HTTP, no authentication).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (OpenRLHF's default 5000).")] = 5000,
) -> None:
    """Serve the hybrid reward (ppo.hybrid weights; optionally plus an RM) as OpenRLHF's remote reward model: POST /get_reward."""
    try:
        from hrlaif.reward.server import listen, load_scorer, serve
    except ImportError as exc:
        raise HrlaifError(f"reward-server needs the web stack ({exc.name} missing): pip install 'hrlaif[reward-server]'") from None
    from hrlaif.config import load_config

    cfg = load_config(config, set_)
    sock = listen(host, port)
    _quiet_libraries()
    scorer = load_scorer(cfg.ppo.hybrid, reward_model, cfg.policy.max_length, cfg.reward_server)
    console.print(f"serving the hybrid reward{' + ' + reward_model if reward_model else ' (rules only)'} on http://{host}:{port}/get_reward ; stop with Ctrl-C")
    serve(scorer, sock)


def _rate_text(rate: dict) -> str:
    from hrlaif.stats import Rate

    return Rate(**rate).text()


from hrlaif.human.cli import human_app  # noqa: E402  (sub-app; its web stack loads only when serving)

app.add_typer(human_app, name="human-eval")


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
