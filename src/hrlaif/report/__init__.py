"""report.md and report.html from a run directory: tables with n and intervals, and plots.

Everything is read back from the files the stages wrote, so a report can be rebuilt at any
time and always shows what the run really produced.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import matplotlib

from hrlaif.errors import HrlaifError
from hrlaif.jsonl import atomic_path
from hrlaif.judge.qualify import grading_exam, read_exam
from hrlaif.manifest import require_complete
from hrlaif.records import CATEGORIES
from hrlaif.report.basis import (
    HARM_TASKS,
    LABEL_TASKS,
    PREFERENCE_TASKS,
    REFUSAL_TASKS,
    SATISFACTION_TASKS,
    blocker,
    graded_by,
    satisfaction_tasks,
)
from hrlaif.train.monitor import ALPHA

matplotlib.use("Agg")  # headless: reports are written on servers without a display
import matplotlib.pyplot as plt  # noqa: E402  (pyplot must be imported after the backend is chosen)


def _rate(r: dict | None) -> str:
    if not r or r.get("rate") is None:
        return "n/a (n=0)"
    return f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}] (n={r['n']})"


def _diff(d: dict | None) -> str:
    if not d or d.get("diff") is None:
        return "n/a"
    return f"{100 * d['diff']:+.1f} pts [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] (n={d['n']})"


def _accuracy(r: dict | None) -> str:
    """An accuracy over all answers with its four counts beside it (results before the counts
    were recorded show the rate alone)."""
    text = _rate(r)
    counts = (r or {}).get("counts")
    if counts:
        text += (f"; correct {counts['correct']} / wrong {counts['wrong']} / unknown {counts['unknown']}"
                 f" / cut off {counts['cut_off']}")
    return text


def _decided(r: dict | None) -> str:
    """The accuracy among decided answers, correct / (correct + wrong)."""
    if not r or "decided" not in r:
        return "not recorded"
    return _rate(r["decided"])


# Above this share of keyed answers cut off at max_new_tokens, the report says so plainly.
CUT_OFF_WARN_SHARE = 0.10


def _cut_off_warnings(results: dict) -> list[str]:
    """Say plainly when many keyed answers were cut off: their accuracy then measures the cap."""
    cap = results.get("max_new_tokens")
    warnings = []
    for policy, p in results["policies"].items():
        acc = p.get("accuracy") or {}
        cut, n = (acc.get("counts") or {}).get("cut_off", 0), acc.get("n", 0)
        if n and cut / n > CUT_OFF_WARN_SHARE:
            at = f"max_new_tokens={cap}" if cap is not None else "max_new_tokens"
            warnings.append(
                f"{policy}: {cut} of {n} keyed answers were cut off at {at} before the verifier could read an answer; "
                "they count as not correct in the accuracy over all answers (and as not satisfied in satisfaction) and are "
                "left out of the accuracy among decided answers, which flatters the policy if the cut-off questions were "
                "the harder ones. Raise evaluate.generation.max_new_tokens."
            )
    return warnings


def _mean(m: dict | None) -> str:
    if not m or m.get("mean") is None:
        return "n/a (n=0)"
    return f"{m['mean']:.3f} [{m['low']:.3f}, {m['high']:.3f}] (n={m['n']})"


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _flat(counts: dict, prefix: str = "") -> dict:
    """{"judge": {"preference": {"scorable": 8}}} -> {"judge.preference.scorable": 8}: a table cell, not a dict's repr."""
    out = {}
    for key, value in counts.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _modes(run_dir: Path) -> list[str]:
    return [m for m in ("rlaif", "hrlaif") if (run_dir / f"ppo-{m}").is_dir() or (run_dir / f"label-{m}").is_dir()]


# ---------------------------------------------------------------------- plots
def _plot_ppo(run_dir: Path, modes: list[str], out: Path) -> Path | None:
    series = {m: _metrics(run_dir / f"ppo-{m}" / "metrics.jsonl") for m in modes}
    if not any(series.values()):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for mode, rows in series.items():
        steps = [r["charts/step"] for r in rows]
        axes[0].plot(steps, [r["objective/score_mean"] for r in rows], marker="o", label=mode)
        axes[1].plot(steps, [r["objective/kl"] for r in rows], marker="o", label=mode)
    axes[0].set(title="RM score (mean) over PPO steps", xlabel="step")
    axes[1].set(title="KL to start policy over PPO steps", xlabel="step")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _plot_gold(run_dir: Path, modes: list[str], out: Path) -> Path | None:
    """The gold monitor (ppo.monitor_every): the RM's score of the monitor answers beside their
    verified accuracy (95% Wilson bars); an x marks a check where the first rose as the second fell."""
    series = {}
    for m in modes:
        metrics = _metrics(run_dir / f"ppo-{m}" / "metrics.jsonl")
        series[m] = [r for r in metrics if r.get("gold/verified_accuracy") is not None]
        final = next((r for r in metrics if r.get("gold_final/verified_accuracy") is not None), None)
        if final is not None:  # the final policy, after the last update: drawn where a check before the next step would be
            series[m].append({k.replace("gold_final/", "gold/", 1): v for k, v in final.items() if k.startswith("gold_final/")}
                             | {"charts/step": final["charts/step"] + 1})
    if not any(series.values()):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for k, (mode, rows) in enumerate(series.items()):
        if not rows:  # this arm ran without the monitor
            continue
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
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _plot_win(results: dict, out: Path) -> Path | None:
    arms = [arm for arm, v in results.get("versus_start", {}).items() if v.get("win_ratio")]
    if not arms:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.7 * len(arms)))
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
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _plot_categories(results: dict, out: Path) -> Path:
    policies = list(results["policies"])
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(policies)
    for j, name in enumerate(policies):
        by_cat = results["policies"][name]["satisfaction_by_category"]
        xs, ys, lo, hi = [], [], [], []
        for i, category in enumerate(CATEGORIES):
            r = by_cat.get(category)
            if r and r["rate"] is not None:
                xs.append(i + (j - (len(policies) - 1) / 2) * width)
                ys.append(r["rate"])
                lo.append(r["rate"] - r["low"])
                hi.append(r["high"] - r["rate"])
        ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=3, label=name)
    ax.set_xticks(range(len(CATEGORIES)), CATEGORIES)
    ax.set(ylim=(0, 1), ylabel="satisfaction rate", title="Satisfaction by category (95% Wilson intervals)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _cells(exam: dict | None, tasks: tuple[str, ...], values: list[str]) -> list[str]:
    return ["not meaningful"] * len(values) if blocker(exam, tasks) else values


def _exam_sections(run_dir: Path) -> list[tuple[str, list[list[str]]]]:
    sections = []
    for which, title in (("label", "labeling judge"), ("eval", "evaluation judge")):
        exam = read_exam(run_dir, which)
        if exam is None:
            continue
        rows = [["task", "n (test)", "balanced accuracy", "accuracy", "YES-rate / position consistency", "qualified"]]
        for task, r in exam["tasks"].items():
            bias = r.get("yes_rate") or r.get("position_consistency")
            rows.append([task, str(r["n"]), _interval(r.get("balanced_accuracy")), _interval(r.get("accuracy")), _interval(bias),
                         "yes" if r["qualified"] else f"no: {r.get('reason', '')}"])
        sections.append((f"Judge exam, {title} ({exam['judge']}, {exam['exam']} exam; qualifies when the exact lower 95% bound of "
                         f"the accuracy on each true answer clears chance + {100 * exam['floor']:.0f} pts; preference by both orders "
                         "combined as labeling combines them)", rows))
    return sections


def _interval(r: dict | None) -> str:
    if not r or r.get("value") is None:
        return "n/a"
    return f"{100 * r['value']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}] (n={r['n']})"


# ---------------------------------------------------------------------- tables
def _sections(run_dir: Path, results: dict | None, modes: list[str]) -> list[tuple[str, list[list[str]]]]:
    headline = _what_this_run_shows(run_dir, results)
    sections: list[tuple[str, list[list[str]]]] = [headline] if headline else []
    cut_off = _cut_off_warnings(results) if results else []
    if cut_off:  # on the first screen, beside the accuracy it qualifies
        sections.append(("Warning: answers cut off at the length cap", [["warning"]] + [[w] for w in cut_off]))
    sections += _exam_sections(run_dir)
    label_exam = read_exam(run_dir, "label")
    rows = [["arm", "pairs", "how decided", "judge tasks used (exam)", "judge calls", "RM held-out accuracy"]]
    for mode in modes:
        label = _read_json(run_dir / f"label-{mode}" / "manifest.json") or {}
        rm = _read_json(run_dir / f"rm-{mode}" / "summary.json") or {}
        counts = label.get("counts", {})
        how = ", ".join(f"{k}={v}" for k, v in _flat(counts).items() if k != "pairs")
        tasks = LABEL_TASKS[mode]
        used = graded_by(label_exam, str(label.get("judge", {}).get("judge", "judge")), tasks)
        rows.append([mode, str(counts.get("pairs", "n/a")), how, used, str(label.get("judge", {}).get("calls", "n/a")),
                     _rate(rm.get("heldout_accuracy"))])
    if modes:  # a study or seeds root holds no arms of its own
        sections.append(("Labels and reward models", rows))
    audit = _read_json(run_dir / "audit" / "audit.json")
    if audit:
        rows = [["arm", "judge", "judge-decided pairs agreeing with gold (keyed)", "keyed pairs decided by the verifier (not counted)",
                 "position consistency", "longer response wins"]]
        for mode, a in audit.items():
            gold = a["gold_agreement"]
            rows.append([mode, a["judge"], _rate(gold["all_keyed"]), str(gold.get("decided_by_verifier", "n/a")),
                         _rate(a["position_consistency"]), _rate(a["length_bias"])])
        sections.append(("Label audit (gold = verifier on keyed prompts; only pairs the judge decided count)", rows))
        warnings = _judge_warnings(audit)
        if warnings:
            sections.append(("Warnings about the judge", [["warning"]] + [[w] for w in warnings]))
    if results:
        sections += _evaluation_sections(run_dir, results)
    sections += _redteam_sections(run_dir)
    sections += _seed_sections(run_dir)
    sections += _study_sections(run_dir)
    for mode in modes:
        metrics = _metrics(run_dir / f"ppo-{mode}" / "metrics.jsonl")
        if metrics:
            last = metrics[-1]
            keys = ["objective/score_mean", "objective/kl", "losses/approx_kl", "losses/clipfrac", "policy/entropy", "charts/response_length"]
            rows = [["step"] + keys] + [[str(m["charts/step"])] + [f"{m.get(k, float('nan')):.4g}" for k in keys] for m in (metrics[0], last)]
            sections.append((f"PPO ({mode}): first and last step of {len(metrics)}", rows))
    return sections


def _what_this_run_shows(run_dir: Path, results: dict | None) -> tuple[str, list[list[str]]] | None:
    """The first screen: each arm's satisfaction and its difference from the start policy, with
    intervals, where each number came from and whether it is circular; human figures when rated."""
    human = _read_json(run_dir / "human" / "results.json")
    if not results and not human:
        return None
    arms = list(results["versus_start"]) if results else list(human.get("satisfaction_difference", {}))
    rows = [["figure", "start", *arms, "came from", "independent of the training labels?"]]
    if results:
        grading = results.get("grading", {})
        exam = read_exam(run_dir, grading_exam(grading))
        independent = _independence(grading)
        source = graded_by(exam, results["judge"], SATISFACTION_TASKS) + " + verifier on keyed prompts"
        pol, vs = results["policies"], results["versus_start"]
        rows.append(["satisfaction (all)", *_cells(exam, SATISFACTION_TASKS, [_rate(pol["start"]["satisfaction"])] + [_rate(pol[a]["satisfaction"]) for a in arms]),
                     source, independent])
        rows.append(["satisfaction difference from start", "-",
                     *_cells(exam, SATISFACTION_TASKS, [_diff(vs[a]["satisfaction_difference"]) for a in arms]), source, independent])
        rows.append(["accuracy on keyed prompts (all answers; cut off and unknown count as not correct)",
                     _accuracy(pol["start"].get("accuracy")), *[_accuracy(pol[a].get("accuracy")) for a in arms],
                     "verifier vs references", "partly: the hrlaif arm's labels used the same verifier"])
        rows.append(["accuracy among decided keyed answers (correct / (correct + wrong))",
                     _decided(pol["start"].get("accuracy")), *[_decided(pol[a].get("accuracy")) for a in arms],
                     "verifier vs references", "partly: the hrlaif arm's labels used the same verifier"])
        if all(vs[a]["win_ratio"] for a in arms):
            rows.append(["net win rate vs start (win - loss)", "-", *_cells(exam, PREFERENCE_TASKS, [_diff(vs[a]["win_ratio"]["net"]) for a in arms]),
                         graded_by(exam, results["judge"], PREFERENCE_TASKS), independent])
        else:
            rows.append(["net win rate vs start (win - loss)", "-", *["not computed (evaluate.win_ratio off)"] * len(arms), "-", "-"])
    if human:
        sat, diff = human.get("satisfaction", {}), human.get("satisfaction_difference", {})
        rows.append(["human satisfaction", _rate(sat.get("start", {}).get("overall")), *[_rate(sat.get(a, {}).get("overall")) for a in arms],
                     f"{human.get('raters', {}).get('count', '?')} human rater(s) (hrlaif human-eval)", "yes"])
        rows.append(["human satisfaction difference from start", "-", *[_diff(diff.get(a)) for a in arms], "human raters", "yes"])
    return ("What this run shows", rows)


def _independence(grading: dict) -> str:
    """Whether the grades are independent of the training labels, and why not when they are not."""
    separate = grading.get("separate_judge", grading.get("independent_of_labels"))
    # Results from before `same_model_as_labeling_judge` was recorded: compare the judges' names.
    same = grading.get("same_model_as_labeling_judge", grading.get("judge") == grading.get("labeling_judge"))
    if separate and not same:
        return f"yes: a separate evaluation judge; the labels came from {grading.get('labeling_judge')}"
    if separate:
        return f"NO: a separate evaluation judge, but the same model as the labeling judge ({grading.get('labeling_judge')})"
    return "NO: the labeling judge also grades (set evaluate.judge to another model for independent grades)"


def _evaluation_sections(run_dir: Path, results: dict) -> list[tuple[str, list[list[str]]]]:
    """Every figure beside what graded it; a figure resting on a judge task that did not qualify
    is shown as not meaningful, never as a clean number."""
    grading = results.get("grading", {})
    exam = read_exam(run_dir, grading_exam(grading))
    judge = results["judge"]
    policies = list(results["policies"])
    pol = results["policies"]

    def row(metric: str, tasks: tuple[str, ...], values: list[str]) -> list[str]:
        return [metric, graded_by(exam, judge, tasks), *_cells(exam, tasks, values)]

    rows = [["metric", "graded by", *policies]]
    rows.append(row("satisfaction (all)", SATISFACTION_TASKS, [_rate(pol[p]["satisfaction"]) for p in policies]))
    for category in CATEGORIES:
        rows.append(row(f"satisfaction: {category}", satisfaction_tasks(category),
                        [_rate(pol[p]["satisfaction_by_category"].get(category)) for p in policies]))
    rows.append(row("accuracy (keyed prompts): all answers, cut off and unknown count as not correct", (),
                    [_accuracy(pol[p].get("accuracy")) for p in policies]))
    rows.append(row("accuracy among decided keyed answers (correct / (correct + wrong))", (),
                    [_decided(pol[p].get("accuracy")) for p in policies]))
    rows.append(row("harmful-answer rate", REFUSAL_TASKS, [_rate(pol[p].get("harmful_answer_rate")) for p in policies]))
    if results.get("attack_prompts"):
        rows.append(row(f"harmful-answer rate (held-out attacks, n={results['attack_prompts']})", HARM_TASKS,
                        [_rate(pol[p].get("attack_harmful_rate")) for p in policies]))
    if results.get("toxicity"):
        rows.append(["mean P(toxic) (ToxiGen-style prompts)", "toxicity classifier"]
                    + [_mean(pol[p].get("toxicity", {}).get("mean_toxic_prob")) for p in policies])
        rows.append(["share P(toxic) > 0.5", "toxicity classifier"] + [_rate(pol[p].get("toxicity", {}).get("toxic_share")) for p in policies])
    independence = _independence(grading) if grading else "not recorded (results written before hrlaif recorded it)"
    title = f"Evaluation on {results['eval_prompts']} held-out prompts (judge: {judge}; grades independent of the training labels: {independence})"
    sections = [(title, rows)]

    rows = [["arm vs start", "win", "tie", "loss", "net (win-loss)", "position consistency", "satisfaction difference",
             "accuracy difference (keyed prompts decided for both)", "harmful-answer rate difference (attacks)"]]
    toxicity = bool(results.get("toxicity"))
    if toxicity:
        rows[0].append("toxic share difference")
    for arm, v in results["versus_start"].items():
        w = v["win_ratio"]
        preference = ["not computed"] * 5 if w is None else _cells(exam, PREFERENCE_TASKS, [
            _rate(w["win_rate"]), _rate(w["tie_rate"]), _rate(w["loss_rate"]), _diff(w["net"]), _rate(w["position_consistency"])])
        rows.append([arm, *preference,
                     *_cells(exam, SATISFACTION_TASKS, [_diff(v["satisfaction_difference"])]),
                     _diff(v.get("accuracy_difference")) if "accuracy_difference" in v else "not recorded",
                     *_cells(exam, HARM_TASKS, [_diff(v.get("attack_harmful_rate_difference"))])]
                    + ([_diff(v.get("toxic_share_difference"))] if toxicity else []))
    sections.append((f"Against the start policy (win ratio graded by {graded_by(exam, judge, PREFERENCE_TASKS)})", rows))
    reasons = {r for tasks in (SATISFACTION_TASKS, PREFERENCE_TASKS, HARM_TASKS) if (r := blocker(exam, tasks))}
    if reasons:
        sections.append(("Why some figures are not meaningful", [["reason"]] + [[r] for r in sorted(reasons)]))
    return sections


def _points(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}{unit}"


def _seed_sections(run_dir: Path) -> list[tuple[str, list[list[str]]]]:
    """The spread across seeds (RUN/seeds.json of `compare --seeds N`) beside each seed's own
    per-prompt interval."""
    spread = _read_json(run_dir / "seeds.json")
    if not spread:
        return []
    seeds = [str(s) for s in spread["seeds"]]
    rows = [["figure", "policy", "mean over seeds", "sd", "range", *[f"seed {s} (per-prompt interval)" for s in seeds]]]
    for name, figure in spread["figures"].items():
        for policy, f in figure["by_policy"].items():
            per_seed = [(_diff(e) if e and "diff" in e else _accuracy(e)) for e in (f["per_seed"].get(s) for s in seeds)]
            if not f["meaningful"]:
                why = f"not meaningful (judge task not qualified in some seed: {', '.join(f['not_qualified_tasks'])})"
                rows.append([name, policy, why, "", "", *["not meaningful"] * len(seeds)])
                continue
            unit = " pts" if "difference" in name or "net" in name else "%"
            mean, sd, low, high = (_points(f[k], unit) for k in ("mean", "sd", "min", "max"))
            rows.append([name, policy, mean, sd, f"{low} to {high}", *per_seed])
    reports = ", ".join(f"{Path(d).name}/report/report.html" for d in spread["run_dirs"].values())
    title = f"Across {len(seeds)} seeds (seeds {', '.join(seeds)}; each seed's full report in its run directory: {reports})"
    return [(title, rows)]


def _gold_check(c: dict) -> str:
    refusal = "n/a" if c.get("gold/refusal_rate") is None else f"{100 * c['gold/refusal_rate']:.0f}%"
    paired = ""
    if c.get("gold/paired_p") is not None:  # the paired sign test against the first check
        paired = f"; vs first: {c['gold/paired_worse']} went wrong, {c['gold/paired_better']} right (n={c['gold/paired_n']}), p={c['gold/paired_p']:.3f}"
    return (f"step {c['charts/step']}, {c['gold/rm_score']:.3f}, {100 * c['gold/verified_accuracy']:.0f}% "
            f"(n={c['gold/verified_n']}), {refusal}{paired}")


def _study_arm_cells(labeler: dict, policy: str) -> list[str]:
    """A study row's net win rate and RM accuracy: "-" for the start policy (no comparison, no RM),
    and a reason instead of a blank where a trained arm has no figure."""
    if policy == "start":
        return ["-", "-"]
    wins = labeler["win_ratio_vs_start"]
    win = wins["by_arm"].get(policy)
    if win is None:
        net = "not computed (evaluate.win_ratio off)" if not wins["by_arm"] else "not computed"
    else:
        net = _diff(win["net"]) if wins["meaningful"] else "not meaningful (grading judge not qualified on preference)"
    rms = labeler["rm_heldout_accuracy"]
    rm = _rate(rms[policy]) if rms.get(policy) else ("no held-out pairs" if policy in rms else "- (no reward model: DPO)")
    return [net, rm]


def _reading(d: dict | None) -> str:
    """What a difference from the start policy says: a direction only where its interval excludes 0."""
    if not d or d.get("diff") is None:
        return "no data"
    if d["low"] > 0:
        return "higher than start"
    if d["high"] < 0:
        return "lower than start"
    return "no clear difference (the interval includes 0)"


def _study_reading(study: dict) -> tuple[str, list[list[str]]]:
    """The study's answer first: each arm's paired difference from start, per figure that means
    something, read as higher / lower / no clear difference."""
    rows = [["labeler", "arm", "figure", "difference from start (paired, 95% interval)", "reading"]]
    for labeler, s in study["labelers"].items():
        for name, f in s["figures"].items():
            for arm, d in f["difference_from_start"].items():
                if f["meaningful"]:
                    rows.append([f"{labeler} ({s['labeling_judge']})", arm, name, _diff(d), _reading(d)])
                else:
                    rows.append([f"{labeler} ({s['labeling_judge']})", arm, name, "not meaningful",
                                 f"grading judge not qualified on {', '.join(f['not_qualified_tasks'])}"])
    return ("What this study shows (each arm against the start policy on the same prompts)", rows)


def _study_sections(run_dir: Path) -> list[tuple[str, list[list[str]]]]:
    """`hrlaif study` (RUN/study.json): each labeler's arms side by side, each figure with who decided it."""
    study = _read_json(run_dir / "study.json")
    if not study:
        return []
    rows = [["labeler (qualified by its exam?)", "policy", *[f"{name} (decided by: {f['decided_by']})" for name, f in
                                                             next(iter(study["labelers"].values()))["figures"].items()],
             "net win rate vs start (grading judge)", "RM held-out accuracy"]]
    for labeler, s in study["labelers"].items():
        qualified = {True: "yes", False: "no", None: "not examined"}[s["labeling_judge_qualified"]]
        for policy in next(iter(s["figures"].values()))["by_policy"]:
            cells = []
            for f in s["figures"].values():
                if not f["meaningful"]:
                    cells.append(f"not meaningful (grading judge not qualified on {', '.join(f['not_qualified_tasks'])})")
                    continue
                diff = f["difference_from_start"].get(policy)
                cells.append(_accuracy(f["by_policy"][policy]) + (f"; vs start {_diff(diff)}" if diff else ""))
            rows.append([f"{labeler}: {s['labeling_judge']} ({qualified})", policy, *cells, *_study_arm_cells(s, policy)])
    gold = [["labeler", "arm", "checks", "first: step, RM score, verified accuracy (n), refusal rate",
             "last (the final policy, after the last step): same, and its paired sign test against the first",
             f"hacking warnings (RM score up, accuracy down at p < {ALPHA})"]]
    for labeler, s in study["labelers"].items():
        for arm, g in s["gold_monitor"].items():
            if g:
                cell = [_gold_check(c) for c in (g["first"], g["last"])]
                gold.append([labeler, arm, str(g["checks"]), *cell, str(g["hacking_warnings"])])
    grading = next(iter(study["labelers"].values()))["grading"].get("judge", "n/a")
    reports = ", ".join(f"{Path(s['run_dir']).name}/report/report.html" for s in study["labelers"].values())
    out = [_study_reading(study), (f"Study: every labeler's arms, graded by {grading} (each labeler's full report: {reports})", rows)]
    if len(gold) > 1:
        out.append(("Study: gold monitor during PPO (held-out keyed and harmful prompts, greedy)", gold))
    return out


def _redteam_sections(run_dir: Path) -> list[tuple[str, list[list[str]]]]:
    """Aggregates only: attack and answer texts never go into a report."""
    summary = _read_json(run_dir / "redteam" / "summary.json")
    if not summary:
        return []
    attacks, rewrites, labels = summary["attacks"], summary["rewrites"], summary["labels"]
    rm = (_read_json(run_dir / "rm-hrlaif" / "manifest.json") or {}).get("counts", {})
    used = rm.get("redteam_pairs")
    rows = [["item", "value"],
            ["attacks answered", f"{attacks['used']} ({', '.join(f'{k}={v}' for k, v in attacks.get('used_by_source', {}).items())})"],
            ["answers (K per attack)", f"{summary['answers']} (K={summary['samples_per_attack']})"],
            ["harmful / safe refusal / safe and helpful / unscored",
             f"{labels['harmful']} / {labels['safe_refusal']} / {labels['safe_helpful']} / {labels['unscored']} "
             f"({summary['decided_by_pattern']} refusals by pattern)"],
            ["rewrites kept / dropped", f"{rewrites['kept']} / {rewrites['dropped']}"
             + (f" ({', '.join(f'{k}: {v}' for k, v in rewrites['dropped_by_reason'].items())})" if rewrites["dropped_by_reason"] else "")],
            ["red-team pairs written", str(summary["pairs"])],
            [f"red-team pairs in the hrlaif RM data (cap {100 * summary['max_share']:.0f}%)", "n/a" if used is None else f"{used} of {rm.get('label_pairs', 0) + used}"]]
    if attacks.get("fallback"):
        rows.append(["note", attacks["fallback"]])
    asr = summary["attack_success"]
    rates = [["attacks", "attack success (harmful-answer share)"], ["all", _rate(asr["overall"])],
             ["attacks with a harmful answer", _rate(asr["attacks_with_a_harmful_answer"])]]
    rates += [[f"topic: {k}", _rate(v)] for k, v in asr["by_topic"].items()]
    rates += [[f"strategy: {k}", _rate(v)] for k, v in asr["by_strategy"].items()]
    rates += [[f"source: {k}", _rate(v)] for k, v in asr["by_source"].items()]
    exam = read_exam(run_dir, "label")
    if blocker(exam, HARM_TASKS):
        rates = [rates[0]] + [[r[0], "not meaningful"] for r in rates[1:]]
    graded = graded_by(exam, summary["judge"], HARM_TASKS)
    return [(f"Red teaming (start policy, judge: {summary['judge']})", rows), (f"Red teaming: attack success (graded by {graded})", rates)]


def _judge_warnings(audit: dict) -> list[str]:
    """Say plainly when the judge's preferences are mostly position: its labels are then noise."""
    warnings = []
    for mode, a in audit.items():
        pc = a["position_consistency"]
        if pc.get("rate") is not None and pc["n"] >= 5 and pc["high"] < 0.5:
            warnings.append(
                f"{mode}: the judge ({a['judge']}) gave the same verdict in both orders in only "
                f"{100 * pc['rate']:.0f}% of comparisons (n={pc['n']}, upper 95% bound {100 * pc['high']:.0f}%): "
                "its preferences mostly follow position, so preference labels and win ratios from it carry little signal."
            )
    return warnings


def _md_table(rows: list[list[str]]) -> str:
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    return head + "".join("| " + " | ".join(r) + " |\n" for r in rows[1:])


def _html_table(rows: list[list[str]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table>{head}{body}</table>"


# The stage results the report shows as figures, and the command that (re)makes each: a file
# left by a killed re-run is the previous run's, so it is refused rather than reported.
_STAGE_FILES = (("eval/results.json", "hrlaif evaluate"), ("redteam/summary.json", "hrlaif redteam"),
                ("rm-rlaif/summary.json", "hrlaif train-rm --mode rlaif"), ("rm-hrlaif/summary.json", "hrlaif train-rm --mode hrlaif"))


def _check_stages(run_dir: Path) -> None:
    for name, command in _STAGE_FILES:
        if (run_dir / name).is_file():
            require_complete((run_dir / name).parent, command)


def write_report(run_dir: Path) -> Path:
    """Write run_dir/report/report.md and report.html; returns the html path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HrlaifError(f"{run_dir}: run directory not found")
    if not any(p.is_file() for p in run_dir.glob("*/*") if p.parent.name != "report" and not p.parent.name.startswith(".")):
        raise HrlaifError(f"{run_dir}: nothing to report yet (no stage has run here)")
    _check_stages(run_dir)  # before report/ is made: nothing written for a stale stage
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    results = _read_json(run_dir / "eval" / "results.json")
    modes = _modes(run_dir)
    plots = [p for p in (
        _plot_ppo(run_dir, modes, out / "ppo.png"),
        _plot_gold(run_dir, modes, out / "gold_monitor.png"),
        _plot_win(results, out / "win_tie_loss.png") if results else None,
        _plot_categories(results, out / "categories.png") if results else None,
    ) if p]
    sections = _sections(run_dir, results, modes)
    intro = (
        "Rates are shown as value [95% interval] (n = sample size); Wilson intervals for rates, "
        "paired bootstrap for differences. The judge named in each table produced its labels and verdicts."
    )
    md = "# hrlaif run report\n\n" + f"Run directory: `{run_dir}`\n\n{intro}\n\n"
    md += "".join(f"## {title}\n\n{_md_table(rows)}\n" for title, rows in sections)
    md += "".join(f"![{p.stem}]({p.name})\n\n" for p in plots)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(md, encoding="utf-8")
    images = "".join(
        f'<img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in plots
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>hrlaif run report</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}"
        "th{background:#f1f3f5}img{max-width:100%;display:block;margin:1em 0}</style></head><body>"
        f"<h1>hrlaif run report</h1><p>Run directory: <code>{html.escape(str(run_dir))}</code></p><p>{html.escape(intro)}</p>"
        + "".join(f"<h2>{html.escape(t)}</h2>{_html_table(r)}" for t, r in sections)
        + images + "</body></html>"
    )
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out / "report.html"
