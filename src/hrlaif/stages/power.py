"""Power, said up front (issue 29): before a run trains anything, the smallest effect its sizes can
detect, for keyed accuracy on its eval prompts and, when on, for best-of-n; printed and kept in
RUN/power.json, which the report repeats beside each HRLAIF-vs-RLAIF reading.

Counts prompts only (reads the prompt files); loads no model. A source that cannot be read here
(a hub dataset without the hub) gives no number and says why; the stage that needs it fails later.
"""

from __future__ import annotations

from rich.console import Console

from hrlaif.config import DataConfig, RunConfig
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import write_json
from hrlaif.power import ASSUMED_DISCORDANCE, ASSUMED_SD, mcnemar_mde, paired_mde
from hrlaif.prompts import load_prompts
from hrlaif.records import KEYED_CATEGORIES
from hrlaif.run_dir import RunDir

ALPHA, POWER = 0.05, 0.8


def keyed_count(spec: str, limit: int | None, data: DataConfig) -> tuple[int | None, str | None]:
    """How many keyed prompts a stage would read from `spec` (capped at `limit`), or None and why not."""
    try:
        return sum(p.category in KEYED_CATEGORIES for p in load_prompts(spec, limit, data, "eval")), None
    except Exception as exc:  # noqa: BLE001 - a power note never stops a run; the stage that reads the prompts says it properly
        return None, str(exc) if isinstance(exc, HrlaifError) else f"{type(exc).__name__}: {exc}"


def design_power(config: RunConfig) -> dict:
    """The smallest detectable effects (fractions) of this config's sizes, with what they assume."""
    c = config
    n, why = keyed_count(c.data.eval_prompts, c.data.max_eval_prompts, c.data)
    found = {"alpha": ALPHA, "power": POWER, "keyed_accuracy": {
        "n": n, "assumed_discordance": ASSUMED_DISCORDANCE, "unreadable": why,
        "min_detectable_effect": mcnemar_mde(n, ASSUMED_DISCORDANCE, alpha=ALPHA, power=POWER) if n else None,
        "method": "McNemar, one greedy answer per prompt and arm (hrlaif.power.mcnemar_mde)"}}
    if c.best_of_n.enabled:
        b = c.best_of_n
        n, why = keyed_count(b.prompts, b.max_prompts, c.data)
        found["best_of_n"] = {"n": n, "k": b.num_samples, "assumed_sd": ASSUMED_SD, "unreadable": why,
                              "min_detectable_effect": paired_mde(n, ASSUMED_SD, alpha=ALPHA, power=POWER) if n else None,
                              "method": "paired per-prompt best-of-K accuracy, normal approximation (hrlaif.power.paired_mde)"}
    return found


def power_lines(found: dict) -> list[str]:
    """One line per measure: n, the effect and the assumption it rests on."""
    at = f"at {100 * found['power']:.0f}% power, two-sided {100 * found['alpha']:.0f}%"
    k = found["keyed_accuracy"]
    if k["n"] and k["min_detectable_effect"] >= k["assumed_discordance"]:
        lines = [f"power: keyed accuracy on {k['n']} keyed eval prompts cannot detect a difference between two arms {at}: even "
                 f"every discordant prompt (assumed {100 * k['assumed_discordance']:.0f}%) going one way would not show (McNemar)"]
    elif k["n"]:
        lines = [f"power: keyed accuracy on {k['n']} keyed eval prompts detects a difference between two arms of "
                 f"{100 * k['min_detectable_effect']:.1f} pts or more {at} (McNemar; assumed discordance "
                 f"{100 * k['assumed_discordance']:.0f}%: the share of prompts one arm gets right and the other wrong)"]
    else:
        lines = [f"power: keyed accuracy: no keyed eval prompts counted ({k['unreadable'] or 'none in data.eval_prompts'}): it measures nothing"]
    b = found.get("best_of_n")
    if b and b["n"]:
        lines.append(f"power: best-of-{b['k']} on {b['n']} held-out keyed prompts detects a difference between two RMs of "
                     f"{100 * b['min_detectable_effect']:.1f} pts or more {at} (paired; assumed per-prompt SD {b['assumed_sd']:.2f})")
    elif b:
        lines.append(f"power: best-of-n: no keyed prompts counted ({b['unreadable'] or 'none in best_of_n.prompts'})")
    return lines


def announce_power(config: RunConfig, console: Console, write: bool = True) -> dict:
    """Print the power lines before anything trains, and keep them in RUN/power.json."""
    found = design_power(config)
    found["lines"] = power_lines(found)
    for line in found["lines"]:
        console.print(f"[bold]{line}[/]", highlight=False)
    if write:
        run = RunDir(config.run_dir)
        run.root.mkdir(parents=True, exist_ok=True)
        write_json(run.power, found)
    return found
