"""The best-of-n sections (RUN/best-of-n/results.json): each RM's pick among K samples against the random, oracle and longest pick, paired by prompt, its
pairwise accuracy against the verifier, the RM differences with the smallest effect beside them."""

from __future__ import annotations

from hrlaif.report.basis import BEST_OF_N, graded_by
from hrlaif.report.cells import diff, mean, rate
from hrlaif.report.inputs import read_json
from hrlaif.report.sections.run import Section
from hrlaif.run_dir import RunDir


def pick(p: dict) -> str:
    """An accuracy with the (expected) grades of the picks beside it: cut off is not wrong."""
    c = p["counts"]
    return f"{rate(p['accuracy'])}; correct {c['correct']:.1f} / wrong {c['wrong']:.1f} / unknown {c['unknown']:.1f} / cut off {c['cut_off']:.1f}"


def points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} pts"


def control_reading(control: dict | None) -> str:
    if not control:
        return "no positive control: nothing shows that this design can see an effect"
    if control["low"] is not None and control["low"] > 0:
        return "passed: the oracle RM beats a random pick (interval above 0)"
    return "FAILED: the oracle RM does not beat a random pick with an interval above 0; the design cannot detect an effect of this size"


def versus_reading(versus: dict | None, control: dict | None) -> str:
    """A direction only where the interval excludes 0; "no difference" only where the control passed."""
    if not versus or versus.get("diff") is None:
        return "-"
    if versus["low"] > 0:
        return "HRLAIF's RM picks better"
    if versus["high"] < 0:
        return "RLAIF's RM picks better"
    if control and control["low"] is not None and control["low"] > 0:
        return "no clear difference (the interval includes 0); the positive control passed, so one of the smallest detectable size would likely have shown"
    return "not a finding: the interval includes 0 and no positive control passed, so 'no difference' cannot be read"


def best_of_n_sections(run: RunDir) -> list[Section]:
    results = read_json(run.best_of_n_results)
    if not results:
        return []
    top, k, n = results["curve"][-1], results["k"], results["prompts"]
    head = results["headline"]
    basis = graded_by(None, "", BEST_OF_N)
    rows = [["picker", f"best-of-{k} accuracy", "minus random pick (paired)", "minus longest answer (paired)", "below the oracle pick",
             f"pairwise accuracy on the {results['pairs']} shared decidable pairs (by pair; by prompt)"]]
    for name, p in top["rms"].items():
        pw = results["pairwise"][name]
        rows.append([f"RM {name}", pick(p), diff(p["minus_random"]), diff(p["minus_longest"]), points(p["minus_oracle"]),
                     f"{rate(pw['accuracy'])}; {mean(pw['by_prompt'])}"])
    for name in ("random", "oracle", "longest"):
        rows.append([f"{name} pick", pick(top[name]), "-", "-", "-", "-"])
    s = results["samples"]
    title = (f"Best-of-n reranking: {n} held-out keyed prompts x K={k} samples of the start policy, each RM's top pick graded by the "
             f"{basis} (samples: correct {s['correct']}, wrong {s['wrong']}, unknown {s['unknown']}, cut off {s['cut_off']}; "
             f"{results['prompts_all_correct']} prompts all correct and {results['prompts_none_correct']} none correct, where no pick can differ)")
    sections: list[Section] = [(title, rows)]

    mde = points(head["min_detectable_effect"])
    power = head["power"]
    said = f"{mde} ({power['sd_source']} per-prompt SD {power['sd']:.2f}, n={power['n']}, {100 * power['power']:.0f}% power)"
    control, versus = head["positive_control"], head["hrlaif_vs_rlaif_bon"]
    rows = [["contrast", f"best-of-{k} difference (paired by prompt, 95%)", "smallest effect detectable", "reading"]]
    rows.append(["positive control: oracle RM minus random pick", diff(control) if control else "no oracle RM in this run", "-",
                 control_reading(control)])
    rows.append(["HRLAIF RM minus RLAIF RM", diff(versus) if versus else "not both RMs in this run", said, versus_reading(versus, control)])
    for name, d in top["rm_differences"].items():
        if name != "hrlaif - rlaif":
            rows.append([f"RM {name}", diff(d), "-", "-"])
    sections.append((f"Best-of-n: what the RMs' picks say (differences of fractions, in points; {basis})", rows))

    rows = [["k", "random", "oracle", "longest", *(f"RM {name}" for name in top["rms"])]]
    for point in results["curve"]:
        rows.append([str(point["k"]), *(rate(point[x]["accuracy"]) for x in ("random", "oracle", "longest")),
                     *(rate(p["accuracy"]) for p in point["rms"].values())])
    sections.append((f"Best-of-n curve over k = 1..{k} (exact expectation over the k-subsets of the K samples)", rows))
    return sections

