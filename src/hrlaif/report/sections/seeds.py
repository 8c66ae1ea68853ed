"""The seeds section: the spread across seeds (RUN/seeds.json of `compare --seeds N`)."""

from __future__ import annotations

from hrlaif.report.cells import accuracy, diff, points, report_name
from hrlaif.report.inputs import read_json
from hrlaif.report.sections.run import Section, control_reading
from hrlaif.run_dir import RunDir


def seed_sections(run: RunDir) -> list[Section]:
    """The spread across seeds (RUN/seeds.json of `compare --seeds N`) beside each seed's own
    per-prompt interval."""
    spread = read_json(run.seeds_summary)
    if not spread:
        return []
    seeds = [str(s) for s in spread["seeds"]]
    rows = [["figure", "policy", "mean over seeds", "sd", "range", *[f"seed {s} (per-prompt interval)" for s in seeds]]]
    for name, figure in spread["figures"].items():
        for policy, f in figure["by_policy"].items():
            per_seed = [(diff(e) if e and "diff" in e else accuracy(e)) for e in (f["per_seed"].get(s) for s in seeds)]
            if not f["meaningful"]:
                why = f"not meaningful (judge task not qualified in some seed: {', '.join(f['not_qualified_tasks'])})"
                rows.append([name, policy, why, "", "", *["not meaningful"] * len(seeds)])
                continue
            unit = " pts" if "difference" in name or "net" in name else "%"
            mean, sd, low, high = (points(f[k], unit) for k in ("mean", "sd", "min", "max"))
            rows.append([name, policy, mean, sd, f"{low} to {high}", *per_seed])
    reports = ", ".join(report_name(d) for d in spread["run_dirs"].values())
    title = f"Across {len(seeds)} seeds (seeds {', '.join(seeds)}; each seed's full report in its run directory: {reports})"
    controls = spread.get("positive_control")  # absent from seeds.json written before the oracle arm
    if controls is None:
        return [(title, rows)]
    first = [["seed", "positive control (oracle arm vs start, keyed accuracy)"]] + [[s, control_reading(controls.get(s))] for s in seeds]
    return [("Read first: can each seed see an effect?", first), (title, rows)]
