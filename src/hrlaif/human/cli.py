"""`hrlaif human-eval`: serve a run's evaluation responses to raters, add raters, compute results,
move ratings in and out as JSONL.

The imports inside the commands are deliberate: `hrlaif.cli` loads this sub-app on every `hrlaif`
command, so the store, the results (pydantic, statistics) and the web stack load only for the
command that uses them; `hrlaif.cli` itself (for `_lock_run_dir`) imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hrlaif.cli_errors import console, guard
from hrlaif.errors import HrlaifError

human_app = typer.Typer(
    help="Human evaluation of a finished compare/demo run: a web app for raters, results, agreement with the machine verdicts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

RunArg = Annotated[Path, typer.Argument(help="Run directory of a finished `hrlaif compare` or `hrlaif demo` (it holds eval/).")]


def _store(run_dir: Path):
    from hrlaif.human.store import RatingStore

    return RatingStore.open(run_dir)


def _locked_store(run_dir: Path):
    """The store, with the run's lock held first: opening it syncs items into RUN/human/, and the
    command writes there, so not under a running `label` or `evaluate`. (`serve` does not lock:
    raters are added and ratings exported while it runs; the store's own transactions keep those
    consistent.)"""
    from hrlaif.cli import _lock_run_dir

    _lock_run_dir(run_dir, create=False)
    return _store(run_dir)


@human_app.command()
@guard
def serve(
    run_dir: RunArg,
    host: Annotated[str, typer.Option(help="Address to listen on. 127.0.0.1 keeps it on this machine; raters elsewhere need a reachable address (plain HTTP: use a trusted network or a TLS proxy).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    raters_per_item: Annotated[int | None, typer.Option("--raters-per-item", help="How many raters each item should get (kept in the store; default 3, or what was set before).")] = None,
) -> None:
    """Serve the run's evaluation responses to raters (satisfaction and blind pairwise items)."""
    try:
        from hrlaif.human.app import create_app  # noqa: F401  (fails early without the web stack)
    except ImportError as exc:
        raise HrlaifError(f"human-eval serve needs the web stack ({exc.name} missing): pip install 'hrlaif[human]'") from None
    from hrlaif.human.app import serve as run_server
    from hrlaif.reward.server import listen

    sock = listen(host, port, "human-eval serve")  # before the store is made: a busy port leaves nothing behind
    store = _store(run_dir)
    if raters_per_item is not None:
        store.set_raters_per_item(raters_per_item)
    counts = store.item_counts()
    console.print(f"serving {run_dir}: {counts['satisfaction']} satisfaction items ({counts['shared']} of them a text several policies gave, "
                  f"rated once for all of them) and {counts['pairwise'] - counts['tied']} pairwise items (and {counts['tied']} pair(s) of "
                  f"identical texts, tied without raters), {store.raters_per_item} raters per item, {len(store.raters())} rater(s)")
    console.print(f"listening on http://{host}:{port}/ ; each rater opens the link from `hrlaif human-eval add-rater {run_dir} NAME`")
    console.print(f"answers are saved in {store.path}; stop with Ctrl-C")
    run_server(run_dir, sock)


@human_app.command("add-rater")
@guard
def add_rater(
    run_dir: RunArg,
    name: Annotated[str, typer.Argument(help="The rater's name, as it will appear in exports and results.")],
    url: Annotated[str, typer.Option(help="Address the rater will reach the server at.")] = "http://127.0.0.1:8765",
    new_token: Annotated[bool, typer.Option("--new-token", help="Replace an existing rater's link (the old one stops working).")] = False,
) -> None:
    """Create a rater and print their personal link (the token is shown once; only its hash is stored)."""
    token = _locked_store(run_dir).add_rater(name, new_token=new_token)
    console.print(f"link for {name} (keep it private; it is shown only now):")
    print(f"{url.rstrip('/')}/?token={token}")


@human_app.command()
@guard
def results(
    run_dir: RunArg,
    confidence: Annotated[float, typer.Option(help="Level of the intervals.")] = 0.95,
) -> None:
    """Human satisfaction, win ratio, inter-rater and AI-human agreement -> RUN/human/results.json."""
    from hrlaif.cli import _lock_run_dir
    from hrlaif.human.agreement import Statistic
    from hrlaif.human.results import write_results
    from hrlaif.stats import Difference, Rate

    _lock_run_dir(run_dir, create=False)  # writes RUN/human/results.json
    path, r = write_results(run_dir, confidence)
    console.print(f"{r['raters']['count']} rater(s); {r['ratings']['satisfaction']} satisfaction and {r['ratings']['pairwise']} pairwise answers "
                  f"({r['ratings']['skipped']} skipped)")
    for policy, entry in r["satisfaction"].items():
        console.print(f"human satisfaction [bold]{policy}[/]: {Rate(**entry['overall']).text()}")
    for arm, diff in r["satisfaction_difference"].items():
        console.print(f"  {arm} - start: {Difference(**diff).text()}")
    for arm, w in r["win_ratio"].items():
        console.print(f"human win ratio [bold]{arm}[/] vs start: win {Rate(**w['win_rate']).text()}, loss {Rate(**w['loss_rate']).text()}, "
                      f"net {Difference(**w['net']).text()}" + (f"; {w['identical_ties']} identical pair(s) counted as ties without raters" if w["identical_ties"] else ""))
    for kind, ir in r["inter_rater"].items():
        console.print(f"inter-rater alpha ({kind}): {Statistic(**ir['krippendorff_alpha']).text()}")
    for name, a in r["ai_human_agreement"].items():
        console.print(f"AI-human kappa {name}{' (' + a['judge'] + ')' if a['judge'] else ''}: {Statistic(**a['kappa']).text()}")
    console.print(f"wrote {path}")


@human_app.command("export")
@guard
def export(
    run_dir: RunArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write, one rating a line.")],
) -> None:
    """Write every rating as JSONL (rater name, item, answer, what was shown first, time taken); no tokens."""
    from hrlaif.jsonl import write_jsonl

    count = write_jsonl(output, _locked_store(run_dir).ratings())
    console.print(f"wrote {count} rating(s) to {output}")


@human_app.command("import")
@guard
def import_(
    run_dir: RunArg,
    input_file: Annotated[Path, typer.Argument(help="JSONL written by `human-eval export` (of this run or a copy of it).")],
) -> None:
    """Add exported ratings to this run's store (ratings already present are skipped; a conflict is an error)."""
    from hrlaif.jsonl import iter_objects

    added, present = _locked_store(run_dir).import_ratings(list(iter_objects(input_file)))
    console.print(f"imported {added} rating(s) from {input_file}; {present} already present")

