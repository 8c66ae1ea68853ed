"""Speed of `hrlaif.verify.check_answer`: checks per second on a realistic mix, and the worst case
of one check on hostile inputs against its time bound (`timeout_s`).

1. Throughput: a seeded mix of math and multiple-choice responses of the kinds models write
   (plain numbers, "the answer is", \\boxed{} LaTeX that needs the symbolic worker, wrong and
   unanswered ones; MC letters stated many ways), checked `--reps` times; checks/s as median
   with spread, overall and per kind. The symbolic worker is started before timing (its
   start-up is reported apart: a labeling run pays it once).
2. Hostile inputs: huge numbers ("9"*50000, 10**100000 written out), deeply nested \\frac,
   power towers, 1 MB responses of prose, braces, digits, repeated answer phrases, for math and
   multiple choice. Each case runs `--hostile-reps` times with a warm worker; its worst time is
   compared with the bound `timeout_s` (+ `--grace` for killing and restarting nothing else).
   When a case ends the worker (timeout or crash), the next symbolic check has to start a new
   worker: that check is timed too, as its own row ("... next check after it").

Verdict: PASS if no check took longer than timeout_s + grace, else FAIL with the offenders.

    .venv/bin/python bench/verifiers.py
    .venv/bin/python bench/verifiers.py --smoke
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fmt, save_result, summary  # noqa: E402

CHOICES = ["Rome", "Oslo", "Helsinki", "Dublin"]


def realistic_mix(n: int, seed: int = 0) -> list[tuple[str, str, str, str, list[str] | None]]:
    """(kind, category, response, reference, choices): ~60% math, ~40% multiple choice."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        roll = rng.random()
        if roll < 0.30:
            ref = str(a + b)
            ans = ref if rng.random() < 0.7 else str(a + b + rng.randint(1, 9))
            text = rng.choice([
                f"First, {a} + {b} = {a + b}. So the answer is {ans}.",
                f"We add the two numbers: {a} plus {b}.\n#### {ans}",
                f"Let's compute step by step. {a} + {b} gives us {ans}. Therefore the final answer is **{ans}**.",
                f"Total = {a} + {b} = {ans}",
                f"The cousin is {ans} years old.",
            ])  # fmt: skip
            items.append(("math_number", "math", text, ref, None))
        elif roll < 0.45:
            ref = rng.choice(["1/2", "0.25", "3/4", "1,250", "12.5%", "\\frac{2}{3}"])
            text = rng.choice([f"The answer is $\\frac{{{a}}}{{{2 * a}}}$.", f"So we get \\boxed{{{ref}}}.", f"Answer: {ref}", f"It comes to {ref} in the end."])
            items.append(("math_number", "math", text, ref, None))
        elif roll < 0.52:
            ref, ans = rng.choice([
                ("\\sqrt{2}", "\\frac{\\sqrt{8}}{2}"), ("2x+1", "1+2x"), ("\\frac{\\pi}{4}", "\\pi/4"),
                ("x^2-1", "(x-1)(x+1)"), ("3\\sqrt{3}", "\\sqrt{27}"), ("\\{1,2\\}", "\\{2,1\\}"), ("2^{10}", "1024"),
            ])  # fmt: skip
            items.append(("math_symbolic", "math", f"Simplifying, the result is \\boxed{{{ans}}}.", ref, None))
        elif roll < 0.60:
            text = rng.choice(["I'm not sure how to solve this.", "Let me think about the problem carefully and explain the method instead."])
            items.append(("math_no_answer", "math", text, str(a), None))
        else:
            letter = rng.choice("ABCD")
            text = rng.choice([
                f"The answer is ({letter}).", f"I choose {letter}.", f"**{letter}**", f"{letter}. {CHOICES['ABCD'.index(letter)]}",
                f"The capital is {CHOICES['ABCD'.index(letter)]}, so the answer is {letter}.",
                f"Option A looks tempting, but the correct option is {letter} because of the geography.",
                "I think it is probably Oslo.", "None of these seem right to me.",
            ])  # fmt: skip
            items.append(("multiple_choice", "multiple_choice", text, "B", CHOICES))
    return items


def hostile_cases(smoke: bool) -> list[tuple[str, str, str, str, list[str] | None]]:
    """(name, category, response, reference, choices)."""
    mb = 1_000_000 if not smoke else 50_000
    nines = "9" * 50_000
    ten_pow = "1" + "0" * 100_000  # 10**100000 written out: 100001 digits

    def nested_frac(depth: int) -> str:
        return "\\frac{1}{" * depth + "2" + "}" * depth

    def nested_sqrt(depth: int) -> str:
        return "\\sqrt{" * depth + "2" + "}" * depth

    cases = [
        ("9*50000, equal", "math", f"The answer is {nines}.", nines, None),
        ("9*50000 vs last digit differs", "math", f"The answer is {nines}.", nines[:-1] + "8", None),
        ("9*50000 boxed, ref as fraction", "math", f"\\boxed{{{nines}}}", f"\\frac{{{nines}}}{{1}}", None),
        ("10**100000 written out, equal", "math", f"The answer is {ten_pow}.", ten_pow, None),
        ("10**100000 boxed vs 10^{100000}", "math", f"\\boxed{{{ten_pow}}}", "10^{100000}", None),
        ("10^{100000} vs 10^{99999}", "math", "\\boxed{10^{100000}}", "10^{99999}", None),
        ("power tower 10^{10^{10^{10}}}", "math", "\\boxed{10^{10^{10^{10}}}}", "10^{10^{10}}", None),
        ("factorial (10^{6})!", "math", "\\boxed{(10^{6})!}", "1", None),
        ("9^{9^{9}} - 9^{9^{9}} + 1", "math", "\\boxed{9^{9^{9}}-9^{9^{9}}+1}", "1", None),
        ("nested \\frac depth 50", "math", f"\\boxed{{{nested_frac(50)}}}", "1/2", None),
        ("nested \\frac depth 200", "math", f"\\boxed{{{nested_frac(200)}}}", "1/2", None),
        ("nested \\frac depth 5000", "math", f"\\boxed{{{nested_frac(5000)}}}", "1/2", None),
        ("nested \\sqrt depth 150", "math", f"\\boxed{{{nested_sqrt(150)}}}", "\\sqrt{2}", None),
        ("1 MB prose, answer at the end", "math", "The numbers keep going and going. " * (mb // 34) + "The answer is 42.", "42", None),
        ("1 MB prose, answer at the start", "math", "The answer is 42. " + "And then more words follow here. " * (mb // 33), "42", None),
        ("1 MB of '{'", "math", "{" * mb, "1", None),
        ("1 MB of '\\boxed{' unclosed", "math", "\\boxed{" * (mb // 7), "1", None),
        ("1 MB of 'the answer is '", "math", "the answer is " * (mb // 14), "1", None),
        ("1 MB of digits", "math", "1" * mb, "1", None),
        ("1 MB of '1,000,'", "math", "1,000," * (mb // 6), "1", None),
        ("1 MB of '$'", "math", "$" * mb, "1", None),
        ("1 MB of '####'", "math", "####" * (mb // 4), "1", None),
        ("1 MB of '= 1 '", "math", "= 1 " * (mb // 4), "1", None),
        ("MC: 1 MB of 'A B C D '", "multiple_choice", "A B C D " * (mb // 8), "B", CHOICES),
        ("MC: 1 MB of 'the answer is '", "multiple_choice", "the answer is " * (mb // 14), "B", CHOICES),
        ("MC: 1 MB of 'I choose (A) '", "multiple_choice", "I choose (A) " * (mb // 13), "B", CHOICES),
        ("MC: 1 MB of '('", "multiple_choice", "(" * mb, "B", CHOICES),
        ("MC: 1 MB of option texts", "multiple_choice", "Oslo Rome Dublin Helsinki " * (mb // 26), "B", CHOICES),
        ("MC: 1 MB prose then answer", "multiple_choice", "Let me think about this. " * (mb // 25) + "The answer is B.", "B", CHOICES),
    ]  # fmt: skip
    if smoke:
        keep = {"9*50000, equal", "10**100000 written out, equal", "nested \\frac depth 200", "power tower 10^{10^{10^{10}}}",
                "1 MB prose, answer at the end", "MC: 1 MB of 'A B C D '"}  # fmt: skip
        cases = [c for c in cases if c[0] in keep]
    return cases


def timed_check(check_answer, category, response, reference, choices, timeout_s):
    started = time.perf_counter()
    result = check_answer(category, response, reference, choices, timeout_s=timeout_s)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small mix, a few hostile cases of 50 kB, seconds")
    parser.add_argument("--mix-size", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5, help="passes over the mix")
    parser.add_argument("--hostile-reps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0, help="timeout_s given to every check (check_answer's default)")
    parser.add_argument("--grace", type=float, default=0.25, help="allowed overshoot of timeout_s (killing the worker, scheduling)")
    args = parser.parse_args()
    if args.smoke:
        args.mix_size, args.reps, args.hostile_reps = 200, 2, 1

    from hrlaif.verify import check_answer

    bound = args.timeout + args.grace
    # worker start-up (sympy + math_verify imports), paid once per process
    startup_s, _ = timed_check(check_answer, "math", "\\boxed{\\frac{\\sqrt{8}}{2}}", "\\sqrt{2}", None, 60.0)
    print(f"symbolic worker start-up + first check: {startup_s:.2f} s", flush=True)

    # ---- 1. throughput on a realistic mix
    items = realistic_mix(args.mix_size)
    kinds = sorted({k for k, *_ in items})
    per_rep: list[float] = []
    per_kind: dict[str, list[float]] = {k: [] for k in kinds}
    methods: dict[str, int] = {}
    slowest_mix = 0.0
    for rep in range(args.reps):
        spent = dict.fromkeys(kinds, 0.0)
        started = time.perf_counter()
        for kind, category, response, reference, choices in items:
            seconds, result = timed_check(check_answer, category, response, reference, choices, args.timeout)
            spent[kind] += seconds
            slowest_mix = max(slowest_mix, seconds)
            if rep == 0:
                key = f"{category}:{result.method}:{result.correct}"
                methods[key] = methods.get(key, 0) + 1
        per_rep.append(len(items) / (time.perf_counter() - started))
        for kind in kinds:
            count = sum(1 for k, *_ in items if k == kind)
            per_kind[kind].append(count / spent[kind])
    mix = summary(per_rep)
    print()
    print(f"realistic mix: {len(items)} checks x {args.reps} passes, timeout_s {args.timeout:g}")
    print(f"  all               : {fmt(mix, 'checks/s', 0)}")
    for kind in kinds:
        count = sum(1 for k, *_ in items if k == kind)
        print(f"  {kind:17s} : {fmt(summary(per_kind[kind]), 'checks/s', 0)}  [{count} per pass]")
    print(f"  slowest single check in the mix: {slowest_mix * 1000:.1f} ms")
    top = sorted(methods.items(), key=lambda kv: -kv[1])[:8]
    print(f"  outcomes (first pass): {', '.join(f'{k} {v}' for k, v in top)}")

    # ---- 2. hostile inputs
    from hrlaif.verify.math import _WORKER

    rows = []
    print()
    print(f"hostile inputs: worst of {args.hostile_reps} run(s) each, bound timeout_s {args.timeout:g} + grace {args.grace:g} = {bound:g} s")
    for name, category, response, reference, choices in hostile_cases(args.smoke):
        times = []
        outcome = None
        restarts = []
        for _ in range(args.hostile_reps):
            timed_check(check_answer, "math", "\\boxed{2x+1}", "1+2x", None, 60.0)  # a warm worker, untimed
            seconds, outcome = timed_check(check_answer, category, response, reference, choices, args.timeout)
            times.append(seconds)
            if _WORKER._proc is None:  # the check ended the worker: the next symbolic check restarts it
                restart_s, after = timed_check(check_answer, "math", "\\boxed{2x+1}", "1+2x", None, args.timeout)
                restarts.append((restart_s, after))
        worst = max(times)
        row = {"case": name, "category": category, "chars": len(response), "worst_s": worst, "median_s": summary(times)["median"],
               "correct": outcome.correct, "method": outcome.method, "detail": outcome.detail[:120], "pass": worst <= bound}  # fmt: skip
        rows.append(row)
        print(f"  {'PASS' if row['pass'] else 'FAIL'} {worst:7.3f} s  {name:36s} {len(response):>9,d} chars -> {outcome.correct} ({outcome.method})", flush=True)
        if restarts:
            worst_restart = max(r[0] for r in restarts)
            after = restarts[-1][1]
            r2 = {"case": f"{name}: next check after it (worker restart)", "category": "math", "chars": 0, "worst_s": worst_restart,
                  "median_s": summary([r[0] for r in restarts])["median"], "correct": after.correct, "method": after.method,
                  "detail": after.detail[:120], "pass": worst_restart <= bound}  # fmt: skip
            rows.append(r2)
            print(f"  {'PASS' if r2['pass'] else 'FAIL'} {worst_restart:7.3f} s    next check after it (worker restart) -> {after.correct} ({after.method})", flush=True)
    # Two hostile responses in a row: the second pays the worker restart (not charged to its
    # deadline) on top of its own timeout.
    tower = ("math", "\\boxed{10^{10^{10^{10}}}}", "10^{10^{10}}", None)
    times = []
    for _ in range(args.hostile_reps):
        timed_check(check_answer, "math", "\\boxed{2x+1}", "1+2x", None, 60.0)
        timed_check(check_answer, *tower, args.timeout)
        seconds, outcome = timed_check(check_answer, *tower, args.timeout)
        times.append(seconds)
    row = {"case": "power tower right after a power tower (restart + timeout)", "category": "math", "chars": 25,
           "worst_s": max(times), "median_s": summary(times)["median"], "correct": outcome.correct, "method": outcome.method,
           "detail": outcome.detail[:120], "pass": max(times) <= bound}  # fmt: skip
    rows.append(row)
    print(f"  {'PASS' if row['pass'] else 'FAIL'} {row['worst_s']:7.3f} s  {row['case']} -> {outcome.correct} ({outcome.method})", flush=True)
    failed = [r for r in rows if not r["pass"]]
    worst_row = max(rows, key=lambda r: r["worst_s"])
    print()
    print(f"worst single check: {worst_row['worst_s']:.3f} s ({worst_row['case']}); bound {bound:g} s")
    if failed:
        print(f"FAIL: {len(failed)} of {len(rows)} hostile checks exceeded timeout_s + grace:")
        for r in failed:
            print(f"  {r['worst_s']:.3f} s  {r['case']} ({r['method']})")
    else:
        print(f"PASS: all {len(rows)} hostile checks finished within timeout_s + grace")
    path = save_result(
        "verifiers",
        {
            "settings": {"mix_size": len(items), "reps": args.reps, "hostile_reps": args.hostile_reps, "timeout_s": args.timeout, "grace_s": args.grace},
            "worker_startup_s": startup_s, "mix_checks_per_s": mix,
            "per_kind_checks_per_s": {k: summary(v) for k, v in per_kind.items()}, "slowest_mix_check_s": slowest_mix,
            "outcomes": methods, "hostile": rows, "pass": not failed, "worst": worst_row,
        },
        args.smoke,
    )  # fmt: skip
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
