"""The study sections (`hrlaif study`, RUN/study.json): each labeler's arms side by side."""

from __future__ import annotations

from hrlaif.report.cells import accuracy, diff, rate, report_name
from hrlaif.report.inputs import read_json
from hrlaif.report.sections.run import Section, control_reading
from hrlaif.run_dir import RunDir
from hrlaif.train.monitor import ALPHA


def gold_check(c: dict) -> str:
    refusal = "n/a" if c.get("gold/refusal_rate") is None else f"{100 * c['gold/refusal_rate']:.0f}%"
    paired = ""
    if c.get("gold/paired_p") is not None:  # the paired sign test against the first check
        paired = f"; vs first: {c['gold/paired_worse']} went wrong, {c['gold/paired_better']} right (n={c['gold/paired_n']}), p={c['gold/paired_p']:.3f}"
    return (f"step {c['charts/step']}, {c['gold/rm_score']:.3f}, {100 * c['gold/verified_accuracy']:.0f}% "
            f"(n={c['gold/verified_n']}), {refusal}{paired}")


def study_arm_cells(labeler: dict, policy: str) -> list[str]:
    """A study row's net win rate and RM accuracy: "-" for the start policy (no comparison, no RM),
    and a reason instead of a blank where a trained arm has no figure."""
    if policy == "start":
        return ["-", "-"]
    wins = labeler["win_ratio_vs_start"]
    win = wins["by_arm"].get(policy)
    if win is None:
        net = "not computed (evaluate.win_ratio off)" if not wins["by_arm"] else "not computed"
    else:
        net = diff(win["net"]) if wins["meaningful"] else "not meaningful (grading judge not qualified on preference)"
    rms = labeler["rm_heldout_accuracy"]
    rm = rate(rms[policy]) if rms.get(policy) else ("no held-out pairs" if policy in rms else "- (no reward model)")
    return [net, rm]


def reading(d: dict | None) -> str:
    """What a difference from the start policy says: a direction only where its interval excludes 0."""
    if not d or d.get("diff") is None:
        return "no data"
    if d["low"] > 0:
        return "higher than start"
    if d["high"] < 0:
        return "lower than start"
    return "no clear difference (the interval includes 0)"


def _has_data(f: dict) -> bool:
    """Whether any policy holds an item for this figure (refusal rates need harmful eval prompts)."""
    return any((r or {}).get("n") for r in f["by_policy"].values())


def study_reading(study: dict) -> Section:
    """The study's answer first: each arm's paired difference from start, per figure that means
    something, read as higher / lower / no clear difference; a figure with no item is said once."""
    rows = [["labeler", "arm", "figure", "difference from start (paired, 95% interval)", "reading"]]
    for labeler, s in study["labelers"].items():  # the reading rule first: can this labeler's comparison see an effect?
        rows.append([labeler, "oracle (positive control)", "accuracy on keyed prompts (paired, decided)",
                     "; ".join(diff(d) for d in (s.get("positive_control") or {}).get("by_arm", {}).values()) or "-",
                     control_reading(s.get("positive_control")) if "positive_control" in s else "not recorded (summary written before the oracle arm)"])
    empty = []
    for labeler, s in study["labelers"].items():
        for name, f in s["figures"].items():
            if not _has_data(f):
                empty.append(name)
                continue
            for arm, d in f["difference_from_start"].items():
                if f["meaningful"]:
                    rows.append([labeler, arm, name, diff(d), reading(d)])
                else:
                    rows.append([labeler, arm, name, "not meaningful", f"grading judge not qualified on {', '.join(f['not_qualified_tasks'])}"])
    title = "What this study shows (each arm against the start policy on the same prompts)"
    return (title, rows, _no_items(empty)) if empty else (title, rows)


def _no_items(names: list[str]) -> str:
    return "no item in the eval set (no harmful prompt): " + "; ".join(dict.fromkeys(names))


def study_sections(run: RunDir) -> list[Section]:
    """`hrlaif study` (RUN/study.json): each labeler's arms side by side, each figure with who decided it."""
    study = read_json(run.study_summary)
    if not study:
        return []
    labelers = study["labelers"]
    first = next(iter(labelers.values()))
    shown = [name for name in first["figures"] if any(_has_data(s["figures"][name]) for s in labelers.values())]
    win = any(s["win_ratio_vs_start"]["by_arm"] for s in labelers.values())
    basis = first.get("rm_heldout_basis", "each RM's own held-out pairs and labels")  # summaries before the shared set say neither
    rows = [["labeler (qualified by its exam?)", "policy", *shown, *(["net win rate vs start (grading judge)"] if win else []),
             f"RM held-out accuracy ({basis})"]]
    for labeler, s in labelers.items():
        qualified = {True: "yes", False: "no", None: "not examined"}[s["labeling_judge_qualified"]]
        for policy in next(iter(s["figures"].values()))["by_policy"]:
            cells = []
            for name in shown:
                f = s["figures"][name]
                if not f["meaningful"]:
                    cells.append(f"not meaningful (grading judge not qualified on {', '.join(f['not_qualified_tasks'])})")
                    continue
                difference = f["difference_from_start"].get(policy)
                cells.append(accuracy(f["by_policy"][policy]) + (f"; vs start {diff(difference)}" if difference else ""))
            net, rm = study_arm_cells(s, policy)
            rows.append([f"{labeler} ({qualified})", policy, *cells, *([net] if win else []), rm])
    notes = ["decided by: " + "; ".join(f"{name}: {first['figures'][name]['decided_by']}" for name in shown)]
    if not win:
        notes.append("net win rate vs start: not computed (evaluate.win_ratio off)")
    if len(shown) < len(first["figures"]):
        notes.append(_no_items([name for name in first["figures"] if name not in shown]))
    gold = [["labeler", "arm", "checks", "first: step, RM score, verified accuracy (n), refusal rate",
             "last (the final policy, after the last step): same, and its paired sign test against the first",
             f"hacking warnings (RM score up, accuracy down at p < {ALPHA})"]]
    for labeler, s in labelers.items():
        for arm, g in s["gold_monitor"].items():
            if g:
                cell = [gold_check(c) for c in (g["first"], g["last"])]
                gold.append([labeler, arm, str(g["checks"]), *cell, str(g["hacking_warnings"])])
    reports = ", ".join(report_name(s["run_dir"]) for s in labelers.values())
    out = [study_reading(study), (f"Study: every labeler's arms (each labeler's full report: {reports})", rows, "\n".join(notes))]
    if len(gold) > 1:
        out.append(("Study: gold monitor during PPO (held-out keyed and harmful prompts, greedy)", gold))
    return out
