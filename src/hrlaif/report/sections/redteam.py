"""The red-teaming sections: aggregates only, attack and answer texts never go into a report."""

from __future__ import annotations

from hrlaif.report.basis import HARM_TASKS, blocker, graded_by
from hrlaif.report.cells import rate
from hrlaif.report.inputs import Exams, read_json
from hrlaif.report.judges import short
from hrlaif.report.sections.run import Section
from hrlaif.run_dir import RunDir


def redteam_sections(run: RunDir, exams: Exams, labeling: str | None = None) -> list[Section]:
    """Aggregates only: attack and answer texts never go into a report."""
    summary = read_json(run.redteam_summary)
    if not summary:
        return []
    attacks, rewrites, labels = summary["attacks"], summary["rewrites"], summary["labels"]
    rm = (read_json(run.manifest("rm-hrlaif")) or {}).get("counts", {})
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
    rates = [["attacks", "attack success (harmful-answer share)"], ["all", rate(asr["overall"])],
             ["attacks with a harmful answer", rate(asr["attacks_with_a_harmful_answer"])]]
    rates += [[f"topic: {k}", rate(v)] for k, v in asr["by_topic"].items()]
    rates += [[f"strategy: {k}", rate(v)] for k, v in asr["by_strategy"].items()]
    rates += [[f"source: {k}", rate(v)] for k, v in asr["by_source"].items()]
    if blocker(exams.label, HARM_TASKS):
        rates = [rates[0]] + [[r[0], "not meaningful"] for r in rates[1:]]
    judge = short(summary["judge"], labeling)
    graded = graded_by(exams.label, judge, HARM_TASKS)
    return [(f"Red teaming (start policy, judge: {judge})", rows), (f"Red teaming: attack success (graded by {graded})", rates)]
