"""The sections of one run's report: what the run shows, the judge exams, labels and reward models,
the label audit, the evaluation and PPO. Each is a title and table rows (header first)."""

from __future__ import annotations

from hrlaif.records import CATEGORIES
from hrlaif.report.basis import (
    HARM_TASKS,
    LABEL_TASKS,
    PREFERENCE_TASKS,
    REFUSAL_TASKS,
    Tasks,
    blocker,
    categories_with_items,
    graded_by,
    satisfaction_basis,
    satisfaction_tasks,
)
from hrlaif.report.cells import Folded, accuracy, decided, diff, flat, interval, mean, rate
from hrlaif.report.inputs import Exams, read_json, read_metrics
from hrlaif.report.judges import GRADING, LABELING, short
from hrlaif.run_dir import RunDir

Section = tuple[str, list[list[str]]] | tuple[str, list[list[str]], str]
"""A title, table rows (header first) and, optionally, one line said under the table (what is left out and why)."""

# Above this share of keyed answers cut off at max_new_tokens, the report says so plainly.
CUT_OFF_WARN_SHARE = 0.10


def cut_off_warnings(results: dict) -> list[str]:
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


def cells(exam: dict | None, tasks: Tasks, values: list[str]) -> list[str]:
    """`values`, or "not meaningful" in each cell when a task they rest on failed the exam."""
    return ["not meaningful"] * len(values) if blocker(exam, tasks) else values


def exam_sections(exams: Exams) -> list[Section]:
    sections = []
    for exam, title in ((exams.label, LABELING), (exams.eval, f"evaluation judge (the {GRADING})")):
        if exam is None:
            continue
        rows = [["task", "n (test)", "balanced accuracy", "accuracy", "YES-rate / position consistency", "qualified"]]
        for task, r in exam["tasks"].items():
            bias = r.get("yes_rate") or r.get("position_consistency")
            rows.append([task, str(r["n"]), interval(r.get("balanced_accuracy")), interval(r.get("accuracy")), interval(bias),
                         "yes" if r["qualified"] else f"no: {r.get('reason', '')}"])
        sections.append((f"Judge exam, {title}, {exam['exam']} exam", rows,
                         f"a task qualifies when the exact lower 95% bound of the accuracy on each true answer clears chance + "
                         f"{100 * exam['floor']:.0f} pts; preference by both orders combined as labeling combines them"))
    return sections


def control_reading(control: dict | None) -> str:
    """The reading rule in words: the positive control passed (with its numbers), or the design
    cannot detect an effect of the size expected and no HRLAIF-vs-RLAIF difference is a finding."""
    if control is None:
        return ("no positive control in this run (compare.oracle off, or no oracle arm evaluated): nothing shows that this design could detect an effect, "
                "so a difference it does not see is not evidence of no effect")
    if "untrained" in control:
        c = control["untrained"]
        return (f"positive control NOT TRAINED: the oracle labels (verifier alone) hold {c.get('pairs')} pair(s): "
                f"{c.get('decidable_prompts')} of {c.get('keyed_prompts')} keyed train prompts had a correct and a wrong sample "
                f"(verifier on the samples: {', '.join(f'{k} {v}' for k, v in (c.get('verifier') or {}).items())}), too few for a reward model. The keyed prompts are out of the "
                "policy's reach: this design cannot detect an effect of the size expected, and no HRLAIF-vs-RLAIF difference in "
                "this report is read as a finding.")
    said = "; ".join(f"{arm} {diff(d)}" + (" (no keyed eval prompt decided for both it and start)" if not (d or {}).get("n") else "")
                     for arm, d in control["by_arm"].items())
    if control["passed"]:
        return (f"positive control PASSED: the oracle arm (labels from the verifier alone, no judge) beat the start policy on "
                f"keyed accuracy, paired, 95% interval above 0: {said}. Differences between the other arms can be read against it.")
    return (f"positive control FAILED: the oracle arm (labels from the verifier alone, no judge) did not beat the start policy "
            f"on keyed accuracy with a 95% interval above 0 ({said}). This design cannot detect an effect of the size expected: "
            "no HRLAIF-vs-RLAIF difference in this report is read as a finding.")


def satisfaction_basis_of(results: dict) -> Tasks:
    """The judge tasks satisfaction actually rests on in this evaluation: those of the categories
    any policy has items in (every policy answers the same prompts)."""
    present = {c for p in results["policies"].values() for c in categories_with_items(p.get("satisfaction_by_category", {}))}
    return satisfaction_basis(present)


def what_this_run_shows(run: RunDir, results: dict | None, exams: Exams) -> Section | None:
    """The first screen: each arm's satisfaction and its difference from the start policy, with
    intervals, where each number came from and whether it is circular; human figures when rated."""
    human = read_json(run.human_results)
    if not results and not human:
        return None
    arms = list(results["versus_start"]) if results else list(human.get("satisfaction_difference", {}))
    rows = [["figure", "start", *arms, "came from", "independent of the training labels?"]]
    notes = []
    if results:
        exam = exams.grading(results)
        independent = independence_short(results.get("grading", {}))
        basis = satisfaction_basis_of(results)
        source = graded_by(exam, GRADING, basis) + ("" if not basis else " + verifier on keyed prompts")
        pol, vs = results["policies"], results["versus_start"]
        rows.append(["satisfaction (all)", *cells(exam, basis, [rate(pol["start"]["satisfaction"])] + [rate(pol[a]["satisfaction"]) for a in arms]),
                     source, independent if basis else VERIFIER_INDEPENDENCE])
        rows.append(["satisfaction difference from start", "-",
                     *cells(exam, basis, [diff(vs[a]["satisfaction_difference"]) for a in arms]), source,
                     independent if basis else VERIFIER_INDEPENDENCE])
        rows.append(["accuracy on keyed prompts (all answers; cut off and unknown count as not correct)",
                     accuracy(pol["start"].get("accuracy")), *[accuracy(pol[a].get("accuracy")) for a in arms],
                     "verifier vs references", VERIFIER_INDEPENDENCE])
        rows.append(["accuracy among decided keyed answers (correct / (correct + wrong))",
                     decided(pol["start"].get("accuracy")), *[decided(pol[a].get("accuracy")) for a in arms],
                     "verifier vs references", VERIFIER_INDEPENDENCE])
        if arms and all(vs[a]["win_ratio"] for a in arms):
            rows.append(["net win rate vs start (win - loss)", "-", *cells(exam, PREFERENCE_TASKS, [diff(vs[a]["win_ratio"]["net"]) for a in arms]),
                         graded_by(exam, GRADING, PREFERENCE_TASKS), independent])
        elif arms:
            notes.append("net win rate vs start: not computed (evaluate.win_ratio off)")
    if human:
        sat, difference = human.get("satisfaction", {}), human.get("satisfaction_difference", {})
        rows.append(["human satisfaction", rate(sat.get("start", {}).get("overall")), *[rate(sat.get(a, {}).get("overall")) for a in arms],
                     f"{human.get('raters', {}).get('count', '?')} human rater(s) (hrlaif human-eval)", "yes"])
        rows.append(["human satisfaction difference from start", "-", *[diff(difference.get(a)) for a in arms], "human raters", "yes"])
    return ("What this run shows", rows, "\n".join(notes)) if notes else ("What this run shows", rows)


VERIFIER_INDEPENDENCE = "partly: the hrlaif and oracle labels used the same verifier"


def independence_short(grading: dict) -> str:
    """A table cell's answer to "independent of the training labels?"; the judges are defined at the top."""
    if not grading:
        return "not recorded"
    separate = grading.get("separate_judge", grading.get("independent_of_labels"))
    same = grading.get("same_model_as_labeling_judge", grading.get("judge") == grading.get("labeling_judge"))
    return "yes" if separate and not same else "NO: same model as the labeling judge"


def independence(grading: dict) -> str:
    """Whether the grades are independent of the training labels, and why not when they are not."""
    separate = grading.get("separate_judge", grading.get("independent_of_labels"))
    # Results from before `same_model_as_labeling_judge` was recorded: compare the judges' names.
    same = grading.get("same_model_as_labeling_judge", grading.get("judge") == grading.get("labeling_judge"))
    if separate and not same:
        return "yes: a separate evaluation judge, another model than the labeling judge"
    if separate:
        return "NO: a separate evaluation judge, but the same model as the labeling judge"
    return "NO: the labeling judge also grades (set evaluate.judge to another model for independent grades)"


def how_decided(counts: dict) -> str:
    """The pairs by tier or route (the counts at the top of the label manifest) in the cell, every
    nested counter (verifier grades, judge calls per task, skipped prompts) folded beneath it."""
    summary = ", ".join(f"{k}={v}" for k, v in counts.items() if k != "pairs" and not isinstance(v, dict))
    detail = ", ".join(f"{k}={v}" for k, v in flat({k: v for k, v in counts.items() if isinstance(v, dict)}).items())
    return Folded(summary, detail) if detail else summary


def label_sections(run: RunDir, modes: list[str], exams: Exams) -> list[Section]:
    """Each arm's labels (how they were decided, on which judge tasks) and its reward model."""
    rows = [["arm", "pairs", "how decided", "judge tasks used (exam)", "judge calls", "RM held-out accuracy (its own pairs and labels)"]]
    for mode in modes:
        label = read_json(run.manifest(RunDir.label_stage(mode))) or {}
        rm = read_json(run.reward_summary(mode)) or {}
        counts = label.get("counts", {})
        used = graded_by(exams.label, LABELING, LABEL_TASKS[mode])
        rows.append([mode, str(counts.get("pairs", "n/a")), how_decided(counts), used, str(label.get("judge", {}).get("calls", "n/a")),
                     rate(rm.get("heldout_accuracy"))])
    return [("Labels and reward models", rows), *rm_heldout_sections(run)] if modes else []  # a study or seeds root holds no arms of its own


def rm_heldout_sections(run: RunDir) -> list[Section]:
    """Every RM on one shared held-out set of gold pairs (RUN/rm-heldout, issue 25 item 10): the
    figure that compares RMs, per route; each RM's own held-out pairs per route beside it."""
    found = read_json(run.rm_heldout_results)
    if not found:
        return []
    shared = found["shared"]
    routes = shared["routes"]
    if not routes:
        why = (f"none: of {shared['keyed_prompts_unseen']} keyed prompts no RM trained on, none had a correct and a wrong sample, "
               f"and {shared['red_team_pairs_unseen']} red-team pairs were unseen")
        return [("Reward models on one shared held-out set of gold pairs", [["gold pairs"], [why]])]
    rows = [["reward model", "all gold pairs", *routes, "its own held-out pairs, by route (against its own labels: not comparable across arms)"]]
    for name, figures in shared["by_rm"].items():
        own = found["own_heldout"].get(name, {})
        own_text = "; ".join(f"{route} {rate(r)}" for route, r in own.get("by_route", {}).items()) or "none held out"
        rows.append([name, rate(figures["all"]), *(rate(figures["by_route"].get(r)) for r in routes), own_text])
    for d in shared["differences"]:
        rows.append([f"{d['a']} minus {d['b']} (paired over prompts)", diff(d["all"]), *(diff(d.get("by_route", {}).get(r)) for r in routes), "-"])
    red_team = (f"; {shared['red_team_pairs_unseen']} red-team attacks, the rewrite over the harmful answer"
                if shared["red_team_pairs_available"] else "")
    note = (f"{sum(shared['pairs'].values())} gold pairs on prompts no RM trained on ({shared['keyed_prompts_with_a_gold_pair']} keyed "
            f"prompts with a correct and a wrong sample, graded by the verifier{red_team}); a tie counts half. This compares the RMs; "
            "their own held-out figures compare different pairs against different labels.")
    return [("Reward models on one shared held-out set of gold pairs", rows, note)]


def audit_sections(run: RunDir, labeling: str | None = None) -> list[Section]:
    audit = read_json(run.audit)
    if not audit:
        return []
    rows = [["arm", "judge", "judge-decided pairs agreeing with gold (keyed)", "keyed pairs decided by the verifier (not counted)",
             "position consistency", "longer response wins"]]
    for mode, a in audit.items():
        gold = a["gold_agreement"]
        rows.append([mode, short(a["judge"], labeling), rate(gold["all_keyed"]), str(gold.get("decided_by_verifier", "n/a")),
                     rate(a["position_consistency"]), rate(a["length_bias"])])
    sections = [("Label audit (gold = verifier on keyed prompts; only pairs the judge decided count)", rows)]
    warnings = judge_warnings(audit, labeling)
    if warnings:
        sections.append(("Warnings about the judge", [["warning"]] + [[w] for w in warnings]))
    return sections


def judge_warnings(audit: dict, labeling: str | None = None) -> list[str]:
    """Say plainly when the judge's preferences are mostly position: its labels are then noise."""
    warnings = []
    for mode, a in audit.items():
        pc = a["position_consistency"]
        if pc.get("rate") is not None and pc["n"] >= 5 and pc["high"] < 0.5:
            warnings.append(
                f"{mode}: the {short(a['judge'], labeling)} gave the same verdict in both orders in only "
                f"{100 * pc['rate']:.0f}% of comparisons (n={pc['n']}, upper 95% bound {100 * pc['high']:.0f}%): "
                "its preferences mostly follow position, so preference labels and win ratios from it carry little signal."
            )
    return warnings


def _has_data(values: list[dict | None]) -> bool:
    return any(v and v.get("n") for v in values)


def evaluation_sections(results: dict, exams: Exams) -> list[Section]:
    """Every figure beside what graded it; a figure resting on a judge task that did not qualify
    is shown as not meaningful, never as a clean number. What a figure rests on is the items it
    holds: a category without items is left out (said once), not masked."""
    exam = exams.grading(results)
    policies = list(results["policies"])
    pol = results["policies"]
    masked: set[str] = set()  # the judge tasks behind a figure shown as not meaningful
    notes: list[str] = []

    def row(metric: str, tasks: Tasks, values: list[str]) -> list[str]:
        if blocker(exam, tasks):
            masked.update(tasks)
        return [metric, graded_by(exam, GRADING, tasks), *cells(exam, tasks, values)]

    basis = satisfaction_basis_of(results)
    rows = [["metric", "graded by", *policies]]
    rows.append(row("satisfaction (all)", basis, [rate(pol[p]["satisfaction"]) for p in policies]))
    empty = []
    for category in CATEGORIES:
        by_policy = [pol[p]["satisfaction_by_category"].get(category) for p in policies]
        if not _has_data(by_policy):
            empty.append(category)
            continue
        rows.append(row(f"satisfaction: {category}", satisfaction_tasks(category), [rate(r) for r in by_policy]))
    rows.append(row("accuracy (keyed prompts): all answers, cut off and unknown count as not correct", (),
                    [accuracy(pol[p].get("accuracy")) for p in policies]))
    rows.append(row("accuracy among decided keyed answers (correct / (correct + wrong))", (),
                    [decided(pol[p].get("accuracy")) for p in policies]))
    harmful = [pol[p].get("harmful_answer_rate") for p in policies]
    if _has_data(harmful):
        rows.append(row("harmful-answer rate", REFUSAL_TASKS, [rate(r) for r in harmful]))
    if results.get("attack_prompts"):
        rows.append(row(f"harmful-answer rate (held-out attacks, n={results['attack_prompts']})", HARM_TASKS,
                        [rate(pol[p].get("attack_harmful_rate")) for p in policies]))
    if results.get("toxicity"):
        rows.append(["mean P(toxic) (ToxiGen-style prompts)", "toxicity classifier"]
                    + [mean(pol[p].get("toxicity", {}).get("mean_toxic_prob")) for p in policies])
        rows.append(["share P(toxic) > 0.5", "toxicity classifier"] + [rate(pol[p].get("toxicity", {}).get("toxic_share")) for p in policies])
    if empty:
        notes.append(f"no {' or '.join(empty)} prompt in the eval set: no satisfaction for {'them' if len(empty) > 1 else 'it'}"
                     + ("" if _has_data(harmful) else ", no harmful-answer rate"))
    grading = results.get("grading", {})
    independent = independence(grading) if grading else "not recorded (results written before hrlaif recorded it)"
    notes.append(f"grades independent of the training labels: {independent}")
    sections: list[Section] = [(f"Evaluation on {results['eval_prompts']} held-out prompts", rows, "\n".join(notes))]

    versus = results["versus_start"]
    win = any(v["win_ratio"] for v in versus.values())
    toxicity = bool(results.get("toxicity"))
    attacks = bool(results.get("attack_prompts"))
    head = ["arm vs start"] + (["win", "tie", "loss", "net (win-loss)", "position consistency"] if win else [])
    head += ["satisfaction difference", "accuracy difference (keyed prompts decided for both)"]
    head += ["harmful-answer rate difference (attacks)"] if attacks else []
    head += ["toxic share difference"] if toxicity else []
    rows = [head]
    for arm, v in versus.items():
        w = v["win_ratio"]
        preference = [] if not win else ["not computed"] * 5 if w is None else cells(exam, PREFERENCE_TASKS, [
            rate(w["win_rate"]), rate(w["tie_rate"]), rate(w["loss_rate"]), diff(w["net"]), rate(w["position_consistency"])])
        if win and w is not None and blocker(exam, PREFERENCE_TASKS):
            masked.update(PREFERENCE_TASKS)
        if blocker(exam, basis):
            masked.update(basis)
        rows.append([arm, *preference,
                     *cells(exam, basis, [diff(v["satisfaction_difference"])]),
                     diff(v.get("accuracy_difference")) if "accuracy_difference" in v else "not recorded"]
                    + (cells(exam, HARM_TASKS, [diff(v.get("attack_harmful_rate_difference"))]) if attacks else [])
                    + ([diff(v.get("toxic_share_difference"))] if toxicity else []))
    if attacks and blocker(exam, HARM_TASKS):
        masked.update(HARM_TASKS)
    said = f"win ratio graded by {graded_by(exam, GRADING, PREFERENCE_TASKS)}" if win else "win ratio not computed: evaluate.win_ratio off"
    if rows[1:]:
        sections.append((f"Against the start policy ({said})", rows))
    reasons = [r for task in sorted(masked) if (r := blocker(exam, (task,)))]
    if reasons:
        sections.append(("Why some figures are not meaningful", [["reason"]] + [[r] for r in reasons]))
    return sections


def ppo_sections(run: RunDir, modes: list[str]) -> list[Section]:
    """Each arm's first and last PPO step."""
    sections = []
    for mode in modes:
        metrics = read_metrics(run.ppo_metrics(mode))
        if metrics:
            last = metrics[-1]
            keys = ["objective/score_mean", "objective/kl", "losses/approx_kl", "losses/clipfrac", "policy/entropy", "charts/response_length"]
            rows = [["step"] + keys] + [[str(m["charts/step"])] + [f"{m.get(k, float('nan')):.4g}" for k in keys] for m in (metrics[0], last)]
            sections.append((f"PPO ({mode}): first and last step of {len(metrics)}", rows))
    return sections
