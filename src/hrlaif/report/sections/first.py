"""The report's first section: can this run see an effect, and what did it see (issue 29).

In the order a reader needs them: who labelled and whether that labeler passed its exam; the
positive controls (the oracle RM must pick better than chance, the oracle policy must beat the
start policy); best-of-n accuracy per RM against the random, oracle and longest pick; HRLAIF
against RLAIF for the RMs and for the policies, each with the smallest effect the design could
detect and a reading that calls nothing a finding unless its positive control passed; label
quality before training; and the power said before training. The numbers are the run's headline
(hrlaif.evaluate.headline), which RUN/report/headline.json holds for scripts."""

from __future__ import annotations

from hrlaif.evaluate.headline import run_headline
from hrlaif.evaluate.summary import positive_control
from hrlaif.report.cells import diff, rate
from hrlaif.report.inputs import read_json
from hrlaif.report.sections.best_of_n import control_reading as rm_control_reading
from hrlaif.report.sections.best_of_n import versus_reading
from hrlaif.report.sections.run import Section, control_reading
from hrlaif.run_dir import ORACLE, RunDir


def _pts(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} pts"


def policy_reading(versus: dict | None, control_passed: bool, mde: float | None) -> str:
    """HRLAIF policy minus RLAIF policy in words, read only against a passed policy control."""
    if not versus or versus.get("diff") is None:
        return "no keyed eval prompt decided for both policies"
    if not control_passed:
        return ("not a finding: the oracle policy did not beat the start policy, so this policy comparison cannot show an effect "
                "of the size expected in either direction")
    if versus["low"] > 0:
        return "the HRLAIF policy answers more keyed prompts right than the RLAIF policy (interval above 0)"
    if versus["high"] < 0:
        return "the RLAIF policy answers more keyed prompts right than the HRLAIF policy (interval below 0)"
    return f"no clear difference (the interval includes 0); a difference of {_pts(mde)} or more would likely have shown"


def labeler_row(run: RunDir, headline: dict) -> list[str]:
    exam = read_json(run.exam("label")) or {}
    labeler = headline.get("labeler") or exam.get("judge") or "unknown"
    simulated = str(labeler).startswith("simulated")
    qualified = exam.get("qualified")
    said = "not examined" if qualified is None else "qualified on its exam" if qualified else "NOT qualified on its exam"
    kind = "a SIMULATED judge (a rule, not a model)" if simulated else "an AI judge"
    return ["who labelled, who graded",
            f"labels: {labeler}, {kind}, {said}; the oracle arm's labels: the verifier alone. Keyed accuracy and best-of-n are "
            "graded by the verifier against the references, independent of any judge (the hrlaif and oracle labels used the same verifier)"]


def best_of_n_rows(run: RunDir, headline: dict) -> list[list[str]]:
    bon = read_json(run.best_of_n_results)
    if not bon:
        return []
    top, k = bon["curve"][-1], bon["k"]
    control, versus = headline["positive_control"], headline["hrlaif_vs_rlaif_bon"]
    picks = "; ".join([*(f"RM {name} {rate(p['accuracy'])}" for name, p in top["rms"].items()),
                       *(f"{name} pick {rate(top[name]['accuracy'])}" for name in ("random", "oracle", "longest"))])
    return [
        [f"positive control, reward models: the oracle RM's best-of-{k} pick minus a random pick",
         f"{diff(control) if control else 'no oracle RM in this run'}: {rm_control_reading(control)}"],
        [f"best-of-{k} accuracy on {bon['prompts']} held-out keyed prompts (the verifier grades each pick)", picks],
        [f"HRLAIF RM minus RLAIF RM, best-of-{k} (paired by prompt)",
         f"{diff(versus) if versus else 'not both RMs in this run'}; smallest effect detectable: {_pts(headline['min_detectable_effect'])}: "
         f"{versus_reading(versus, control)}"],
    ]


def policy_rows(run: RunDir, results: dict | None, headline: dict) -> list[list[str]]:
    oracle_labels = (read_json(run.manifest(RunDir.label_stage(ORACLE))) or {}).get("counts")
    control = positive_control(results, oracle_labels)
    if not (results or {}).get("versus_start") and not (control and "untrained" in control):
        return []  # no policy trained (compare.algorithms []): the RM rows above are the whole reading
    if control and "untrained" in control:
        return [["positive control: the oracle arm", control_reading(control)]]
    rows = [["positive control, policies: the oracle policy minus the start policy (keyed accuracy, paired, decided answers)",
             control_reading(control)]]
    versus = headline.get("hrlaif_vs_rlaif_policy")
    if versus is not None:
        rows.append([f"HRLAIF policy minus RLAIF policy ({headline['policies_compared']}; keyed accuracy, paired, decided answers)",
                     f"{diff(versus)}; smallest effect detectable: {_pts(headline['min_detectable_effect_policy'])}: "
                     f"{policy_reading(versus, bool(control and control.get('passed')), headline['min_detectable_effect_policy'])}"])
    return rows


def label_quality_rows(run: RunDir) -> list[list[str]]:
    rows = []
    for mode, a in (read_json(run.audit) or {}).items():
        agreement = a.get("verifier_agreement")
        if agreement is None:  # an audit written before label quality was measured
            continue
        said = f"{rate(agreement)}; n: the keyed pairs the verifier decides, of the arm's {agreement['keyed_pairs']} keyed pairs"
        changed = a.get("changed_from_rlaif")
        if changed:
            said += (f"; {changed['changed']} of {changed['compared']} labels changed from rlaif's on the same (prompt, response, "
                     f"response), {changed['only_here']} pairs only here, {changed['only_base']} only in rlaif")
        rows.append([f"label quality before training ({mode}): labels agreeing with the verifier", said])
    return rows


def read_first(run: RunDir, results: dict | None) -> Section | None:
    headline = run_headline(run.root) or {}
    rows = [["finding", "reading"]]
    if headline:
        rows.append(labeler_row(run, headline))
        rows += best_of_n_rows(run, headline)
    rows += policy_rows(run, results, headline)
    rows += label_quality_rows(run)
    rows += [["power (said before training)", line.removeprefix("power: ")] for line in (read_json(run.power) or {}).get("lines", [])]
    return ("Read first: can this run see an effect?", rows) if len(rows) > 1 else None


def study_read_first(run: RunDir) -> Section | None:
    """A study root's first section: "Read first" of the labeler its headline reads (RUN/study.json)."""
    name = ((read_json(run.study_summary) or {}).get("headline") or {}).get("labeler_name")
    if not name:
        return None
    sub = RunDir(run.root / name)
    found = read_first(sub, read_json(sub.eval_results))
    return None if found is None else (f"Read first: can this study see an effect? (labeler {name}; its full report: {name}/report/report.html)", found[1])
