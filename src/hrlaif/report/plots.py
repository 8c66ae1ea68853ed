"""The report's figures (PNG, matplotlib), each written atomically into the report folder.

pyplot is imported on the first plot, not with the package: `hrlaif.report.basis` is imported by
the evaluation modules, and loading matplotlib there would slow every command that imports them.
"""

from __future__ import annotations

from pathlib import Path

from hrlaif.jsonl import atomic_path
from hrlaif.records import CATEGORIES
from hrlaif.report.basis import PREFERENCE_TASKS, blocker, satisfaction_tasks
from hrlaif.report.inputs import Exams, read_json, read_metrics
from hrlaif.run_dir import RunDir


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: reports are written on servers without a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path) -> Path:
    """Write `fig` to `out` through a temporary file renamed over it: a killed report leaves the
    previous plot or none, never half a PNG."""
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _pyplot().close(fig)
    return out


def _integer_steps(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers: no 1.5


def plot_ppo(run: RunDir, modes: list[str], out: Path) -> Path | None:
    series = {m: rows for m in modes if (rows := read_metrics(run.ppo_metrics(m)))}  # an arm without PPO (DPO): no empty legend entry
    if not series:
        return None
    fig, axes = _pyplot().subplots(1, 2, figsize=(9, 3.2))
    for mode, rows in series.items():
        steps = [r["charts/step"] for r in rows]
        axes[0].plot(steps, [r["objective/score_mean"] for r in rows], marker="o", label=mode)
        axes[1].plot(steps, [r["objective/kl"] for r in rows], marker="o", label=mode)
    axes[0].set(title="RM score (mean) over PPO steps", xlabel="step")
    axes[1].set(title="KL to start policy over PPO steps", xlabel="step")
    for ax in axes:
        _integer_steps(ax)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out)


def plot_gold(run: RunDir, modes: list[str], out: Path) -> Path | None:
    """The gold monitor (ppo.monitor_every): the RM's score of the monitor answers beside their
    verified accuracy (95% Wilson bars); an x marks a check where the first rose as the second fell."""
    series = {}
    for m in modes:
        metrics = read_metrics(run.ppo_metrics(m))
        series[m] = [r for r in metrics if r.get("gold/verified_accuracy") is not None]
        final = next((r for r in metrics if r.get("gold_final/verified_accuracy") is not None), None)
        if final is not None:  # the final policy, after the last update: drawn where a check before the next step would be
            series[m].append({k.replace("gold_final/", "gold/", 1): v for k, v in final.items() if k.startswith("gold_final/")}
                             | {"charts/step": final["charts/step"] + 1})
    series = {m: rows for m, rows in series.items() if rows}
    if not series:
        return None
    fig, axes = _pyplot().subplots(1, 2, figsize=(9, 3.2))
    for k, (mode, rows) in enumerate(series.items()):  # an arm without the monitor (or PPO) has no line and no legend entry
        steps = [r["charts/step"] for r in rows]
        # Arms often share an accuracy at n=16: shift each a little sideways so none hides another.
        shift = 0.06 * (k - (len(series) - 1) / 2) * max(1, steps[-1] - steps[0])
        acc = [r["gold/verified_accuracy"] for r in rows]
        errors = [[a - r["gold/verified_accuracy_low"] for a, r in zip(acc, rows)], [r["gold/verified_accuracy_high"] - a for a, r in zip(acc, rows)]]
        line = axes[0].plot(steps, [r["gold/rm_score"] for r in rows], marker="o", label=mode)[0]
        axes[1].errorbar([x + shift for x in steps], acc, yerr=errors, marker="o", capsize=3, color=line.get_color(), label=f"{mode} (n={rows[0]['gold/verified_n']})")
        hacked = [r for r in rows if r.get("gold/hacking")]
        axes[1].plot([r["charts/step"] + shift for r in hacked], [r["gold/verified_accuracy"] for r in hacked], "x", color="#c92a2a", markersize=10)
    axes[0].set(title="RM score of the monitor answers", xlabel="check before step (last: after the final step)")
    axes[1].set(title="Verified accuracy (95% Wilson), held-out keyed", xlabel="check before step (last: after the final step)", ylim=(-0.05, 1.05))
    for ax in axes:
        _integer_steps(ax)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out)


def plot_best_of_n(run: RunDir, out: Path) -> Path | None:
    """Best-of-k accuracy over k for each RM beside the random, oracle and longest pick (the verifier
    grades every pick: no judge task, so nothing here can be masked)."""
    bon = read_json(run.best_of_n_results)
    if not bon or not bon.get("curve"):
        return None
    ks = [point["k"] for point in bon["curve"]]
    fig, ax = _pyplot().subplots(figsize=(6.5, 3.2))
    pickers = [(f"RM {name}", lambda p, name=name: p["rms"][name]) for name in bon["curve"][-1]["rms"]]
    pickers += [(f"{name} pick", lambda p, name=name: p[name]) for name in ("random", "oracle", "longest")]
    for label, read in pickers:
        style = "-" if label.startswith("RM ") else ":"
        ax.plot(ks, [read(p)["accuracy"]["rate"] for p in bon["curve"]], style, marker="o", label=label)
    ax.set(title=f"Best-of-k accuracy on {bon['prompts']} held-out keyed prompts (verifier)", xlabel="k", ylim=(-0.05, 1.05))
    _integer_steps(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return _save(fig, out)


def plot_win(results: dict, out: Path, exam: dict | None = None) -> Path | None:
    """Win / tie / loss per arm; none where the table calls them not meaningful (preference failed the exam)."""
    arms = [arm for arm, v in results.get("versus_start", {}).items() if v.get("win_ratio")]
    if not arms or blocker(exam, PREFERENCE_TASKS):
        return None
    fig, ax = _pyplot().subplots(figsize=(6, 0.6 + 0.7 * len(arms)))
    for i, arm in enumerate(arms):
        w = results["versus_start"][arm]["win_ratio"]
        n = max(w["n"], 1)
        left = 0.0
        for key, colour in (("wins", "#2b8a3e"), ("ties", "#adb5bd"), ("losses", "#c92a2a")):
            share = w[key] / n
            ax.barh(i, share, left=left, color=colour, label=key if i == 0 else None)
            left += share
        ax.text(1.01, i, f"n={w['n']}", va="center")
    ax.set_yticks(range(len(arms)), [f"{a} vs start" for a in arms])
    ax.set(xlim=(0, 1.15), title="Preference win / tie / loss (judge, both orders)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def plot_categories(results: dict, out: Path, exam: dict | None = None) -> Path | None:
    """Satisfaction per category with items, leaving out those the table masks (their judge task
    failed the exam): no bar at 0 for a figure that is not meaningful or has no item."""
    policies = list(results["policies"])
    shown = [c for c in CATEGORIES if not blocker(exam, satisfaction_tasks(c))
             and any((p["satisfaction_by_category"].get(c) or {}).get("rate") is not None for p in results["policies"].values())]
    if not shown:
        return None
    fig, ax = _pyplot().subplots(figsize=(max(4, 1.6 * len(shown) + 2), 3.4))
    width = 0.8 / len(policies)
    for j, name in enumerate(policies):
        by_cat = results["policies"][name]["satisfaction_by_category"]
        xs, ys, lo, hi = [], [], [], []
        for i, category in enumerate(shown):
            r = by_cat.get(category)
            if r and r["rate"] is not None:
                xs.append(i + (j - (len(policies) - 1) / 2) * width)
                ys.append(r["rate"])
                lo.append(r["rate"] - r["low"])
                hi.append(r["high"] - r["rate"])
        ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=3, label=name)
    ax.set_xticks(range(len(shown)), shown)
    ax.set(ylim=(0, 1), ylabel="satisfaction rate", title="Satisfaction by category (95% Wilson intervals)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def draw_plots(run: RunDir, results: dict | None, modes: list[str], exams: Exams | None = None) -> list[Path]:
    """Draw every figure the run has data for, and the tables do not call not meaningful, into the
    report folder; returns their files. A plot no longer drawn is removed, so no stale one is shown."""
    out = run.report
    exam = exams.grading(results) if exams and results else None
    drawn = {
        "best_of_n.png": plot_best_of_n(run, out / "best_of_n.png"),
        "ppo.png": plot_ppo(run, modes, out / "ppo.png"),
        "gold_monitor.png": plot_gold(run, modes, out / "gold_monitor.png"),
        "win_tie_loss.png": plot_win(results, out / "win_tie_loss.png", exam) if results else None,
        "categories.png": plot_categories(results, out / "categories.png", exam) if results else None,
    }
    for name, p in drawn.items():
        if p is None:
            (out / name).unlink(missing_ok=True)
    return [p for p in drawn.values() if p]
