"""Speed and agreement of `hrlaif.verify.check_answer`: checks per second on a realistic mix, the
worst case of one check on hostile inputs against its time bound (`timeout_s`), and agreement
with math-verify alone on LaTeX answers written the ways models write them.

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
3. LaTeX answers in the wild (run first): a seeded, generated mix of 13 shapes (signed
   fractions, \\dfrac/\\tfrac/\\cfrac/\\frac3{3}, intervals, relations, sets, tuples,
   matrices, percentages, thousands separators, identical strings, radicals, equations,
   values below 1e-6) x `--latex-per-shape` pairs, ~85% equivalent, answers mostly without
   \\boxed{} or "the answer is". Each pair is judged by `check_answer` and by math-verify alone
   (`verify(parse(gold), parse(response))`, its defaults). Printed side by side: equivalent
   pairs judged correct, called wrong, unknown; false positives; checks/s of each; then every
   pair we call wrong or unknown, and every false positive of either.

Verdict: PASS if no check took longer than timeout_s + grace, else FAIL with the offenders.

    .venv/bin/python bench/verifiers.py
    .venv/bin/python bench/verifiers.py --latex-only
    .venv/bin/python bench/verifiers.py --smoke
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fmt, save_result, summary  # noqa: E402  (after the sys.path line: _common sits beside the scripts)

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


# ---------------------------------------------------------------------------------------------
# LaTeX answers in the wild: agreement with math-verify alone


def _frac(a: int, b: int, style: str = "frac") -> str:
    return f"\\{style}{{{a}}}{{{b}}}"


def latex_mix(n_per_shape: int = 20, seed: int = 0) -> list[tuple[str, str, str, bool]]:
    """(shape, reference, response, equivalent): MATH-style LaTeX references and answers written
    the ways models write them, mostly without \\boxed{} or "the answer is".

    Generated here (not taken from any public suite): each shape draws random values, a
    reference as a dataset would store it, and either an equivalent rendering (~85%) or a
    near miss (a dropped sign, an open end made closed, a swapped pair, one entry changed).
    """
    rng = random.Random(seed)
    wrappers_free = [
        "{a}", "${a}$", "$ {a} $", "Thus ${a}$ is our answer.", "We find that the value is ${a}$.",
        "First, $3 + 4 = 7$ and $7 - 2 = 5$; simplifying everything gives ${a}$.", "\\[ {a} \\]",
        "So the final result is \\({a}\\).", "Putting it together:\n\n$${a}$$",
    ]  # fmt: skip
    wrappers_cue = ["The answer is ${a}$.", "Therefore $\\boxed{{a}}$.", "Final Answer: The final answer is ${a}$. I hope it is correct."]

    def wrap(answer: str) -> str:
        pool = wrappers_cue if rng.random() < 0.2 else wrappers_free
        return rng.choice(pool).replace("{a}", answer)

    def coprime() -> tuple[int, int]:
        while True:
            a, b = rng.randint(1, 40), rng.randint(2, 40)
            if math.gcd(a, b) == 1:
                return a, b

    def signed_fraction(eq: bool) -> tuple[str, str]:
        a, b = coprime()
        ref = rng.choice([f"-{_frac(a, b)}", f"-{a}/{b}", f"\\frac{{-{a}}}{{{b}}}"])
        if eq:
            return ref, rng.choice([f"-{_frac(a, b, 'dfrac')}", f"-{_frac(a, b, 'tfrac')}", f"\\frac{{-{a}}}{{{b}}}", f"-{a}/{b}", f"-\\frac{{{2 * a}}}{{{2 * b}}}"])
        return ref, rng.choice([_frac(a, b), _frac(b, a, "dfrac") if a != b else _frac(a + 1, b)])

    def fraction_styles(eq: bool) -> tuple[str, str]:
        a, b = coprime()
        ref = rng.choice([_frac(a, b), f"{a}/{b}"])
        if eq:
            if a < 10 and b < 10 and rng.random() < 0.3:
                return ref, rng.choice([f"\\frac{a}{b}", f"\\frac{a}{{{b}}}", f"\\dfrac{a}{b}"])
            if rng.random() < 0.15:
                return "1", f"\\frac{b}{{{b}}}" if b < 10 else f"\\frac{{{b}}}{{{b}}}"
            return ref, _frac(a, b, rng.choice(["dfrac", "tfrac", "cfrac", "frac"]))
        return ref, _frac(a + rng.randint(1, 3), b, rng.choice(["dfrac", "frac"]))

    def interval(eq: bool) -> tuple[str, str]:
        lo, hi = sorted(rng.sample(range(-20, 21), 2))
        left, right = rng.choice("[("), rng.choice("])")
        kind = rng.random()
        if kind < 0.25:
            ref = f"(-\\infty, {hi}{right}"
            ans = f"(-\\infty,{hi}{right}" if eq else f"(-\\infty, {hi}{'[' if right == ']' else ']'}".replace("[", ")")
            return ref, ans
        if kind < 0.4:
            ref = f"({lo}, \\infty)"
            return ref, (f"({lo},\\infty)" if eq else f"[{lo}, \\infty)")
        ref = f"{left}{lo}, {hi}{right}"
        if eq:
            return ref, rng.choice([f"{left}{lo},{hi}{right}", f"\\left{left}{lo}, {hi}\\right{right}", f"x \\in {left}{lo}, {hi}{right}"])
        flipped = {"[": "(", "(": "["}[left]
        return ref, f"{flipped}{lo}, {hi}{right}"

    def relation(eq: bool) -> tuple[str, str]:
        c = rng.randint(-15, 15)
        op, same, other = rng.choice([("\\leq", ["<=", "\\le", "\\leqslant"], "<"), ("\\geq", [">=", "\\ge"], ">"), ("<", ["<"], "\\leq"), (">", [">"], "\\geq")])
        ref = f"x {op} {c}"
        if eq:
            return ref, rng.choice([f"x {rng.choice(same)} {c}", f"x{rng.choice(same)}{c}"])
        return ref, rng.choice([f"x {other} {c}", f"x {op} {c + rng.choice([-1, 1])}"])

    def finite_set(eq: bool) -> tuple[str, str]:
        items = rng.sample(range(-9, 20), rng.randint(2, 4))
        ref = "\\{" + ", ".join(map(str, items)) + "\\}"
        if eq:
            shuffled = items[:]
            rng.shuffle(shuffled)
            return ref, "\\{" + ",".join(map(str, shuffled)) + "\\}"
        changed = items[:-1] + [items[-1] + 100]
        return ref, "\\{" + ", ".join(map(str, changed)) + "\\}"

    def point(eq: bool) -> tuple[str, str]:
        a, b = rng.sample(range(-12, 13), 2)
        ref = f"({a}, {b})"
        if eq:
            return ref, rng.choice([f"({a},{b})", f"\\left({a}, {b}\\right)", f"( {a} , {b} )"])
        return ref, f"({b}, {a})"

    def matrix(eq: bool) -> tuple[str, str]:
        a, b, c, d = (rng.randint(-9, 9) for _ in range(4))
        ref = f"\\begin{{pmatrix}} {a} & {b} \\\\ {c} & {d} \\end{{pmatrix}}"
        env = rng.choice(["pmatrix", "bmatrix"])
        if eq:
            return ref, f"\\begin{{{env}}}{a}&{b}\\\\{c}&{d}\\end{{{env}}}"
        return ref, f"\\begin{{{env}}} {a} & {b} \\\\ {c} & {d + 1} \\end{{{env}}}"

    def percent(eq: bool) -> tuple[str, str]:
        p = rng.choice([rng.randint(1, 99), rng.randint(1, 999) / 10])
        ref = f"{p}\\%"
        if eq:
            return ref, rng.choice([f"{p}%", f"{p} \\%", f"{p}\\%", f"{p} percent"])
        return ref, f"{round(p + rng.randint(1, 5), 1)}\\%"

    def thousands(eq: bool) -> tuple[str, str]:
        value = rng.randint(1_000, 9_999_999)
        ref = str(value)
        if eq:
            grouped = f"{value:,}"
            return ref, rng.choice([grouped, grouped.replace(",", " "), grouped.replace(",", "{,}"), grouped.replace(",", "\\,")])
        return ref, f"{value + 10 ** rng.randint(0, 3):,}"

    def identical(eq: bool) -> tuple[str, str]:
        a, b = rng.randint(2, 30), rng.randint(1, 9)
        templates = ["\\sqrt{{{a}}} + {b}", "{b}\\pi", "\\frac{{\\sqrt{{{a}}}}}{{{b}}}", "{a}^{{{b}}}", "[{b}, {c})", "\\log_{{{b}}} {a}"]
        template = rng.choice(templates)
        ref = template.format(a=a, b=b + 1, c=a + b + 1)
        if eq:
            return ref, ref
        return ref, template.format(a=a, b=b + 2, c=a + b + 1)

    def radical(eq: bool) -> tuple[str, str]:
        k, m = rng.randint(2, 6), rng.choice([2, 3, 5, 6, 7])
        ref = f"{k}\\sqrt{{{m}}}"
        if eq:
            return ref, rng.choice([f"\\sqrt{{{k * k * m}}}", f"\\frac{{{2 * k}\\sqrt{{{m}}}}}{{2}}", f"{k} \\sqrt {m}"])
        return ref, f"{m}\\sqrt{{{k}}}" if k != m else f"{k + 1}\\sqrt{{{m}}}"

    def line(eq: bool) -> tuple[str, str]:
        a, b = rng.randint(1, 6), rng.randint(-9, 9)
        ref = f"y = {a}x {'+' if b >= 0 else '-'} {abs(b)}"
        if eq:
            return ref, rng.choice([f"{a}x - y {'+' if b >= 0 else '-'} {abs(b)} = 0", f"y={a}x{'+' if b >= 0 else '-'}{abs(b)}", f"2y = {2 * a}x {'+' if b >= 0 else '-'} {2 * abs(b)}"])
        return ref, f"y = {a + 1}x {'+' if b >= 0 else '-'} {abs(b)}"

    def tiny_value(eq: bool) -> tuple[str, str]:
        # math_verify compares numbers to ~6 decimals, so 1/25! and 1/26! look equal to it
        n = rng.randint(12, 40)
        ref = f"\\frac{{1}}{{{n}!}}"
        if eq:
            return ref, rng.choice([f"\\dfrac{{1}}{{{n}!}}", f"({n}!)^{{-1}}", f"\\frac{{{n + 1}}}{{({n + 1})!}}"])
        return ref, rng.choice([f"\\frac{{1}}{{{n + 1}!}}", f"\\frac{{2}}{{{n}!}}"])

    shapes = {
        "signed fraction": signed_fraction, "\\dfrac-style fraction": fraction_styles, "interval": interval,
        "relation": relation, "set": finite_set, "tuple": point, "matrix": matrix, "percentage": percent,
        "thousands separator": thousands, "identical string": identical, "radical": radical, "equation": line,
        "tiny value": tiny_value,
    }  # fmt: skip
    items = []
    for shape, make in shapes.items():
        for _ in range(n_per_shape):
            eq = rng.random() < 0.85
            ref, answer = make(eq)
            items.append((shape, ref, wrap(answer), eq))
    return items


def math_verify_alone(reference: str, response: str) -> bool:
    """math-verify as its README uses it: parse both with the default targets, verify(gold, answer).

    Its own signal-based timeouts stay on (this runs on the main thread)."""
    from math_verify import parse, verify

    gold = parse(reference if "$" in reference else f"${reference}$")
    return bool(verify(gold, parse(response)))


def latex_agreement(items: list[tuple[str, str, str, bool]], timeout_s: float, reps: int) -> dict:
    """Ours vs math-verify alone on the LaTeX mix: verdicts, disagreements, checks/s of each."""
    from hrlaif.stats import wilson
    from hrlaif.verify import check_answer

    ours, alone = [], []
    ours_rate, alone_rate = [], []
    for rep in range(reps):
        started = time.perf_counter()
        checks = [check_answer("math", response, ref, timeout_s=timeout_s) for _, ref, response, _ in items]
        ours_rate.append(len(items) / (time.perf_counter() - started))
        started = time.perf_counter()
        verdicts = [math_verify_alone(ref, response) for _, ref, response, _ in items]
        alone_rate.append(len(items) / (time.perf_counter() - started))
        if rep == 0:
            ours, alone = checks, verdicts

    def rate(k: int, n: int) -> dict:
        return wilson(k, n).model_dump()

    equivalent = [i for i, item in enumerate(items) if item[3]]
    different = [i for i, item in enumerate(items) if not item[3]]
    n_eq, n_ne = len(equivalent), len(different)
    figures = {
        "n_pairs": len(items), "n_equivalent": n_eq, "n_not_equivalent": n_ne,
        "ours": {
            "equivalent_judged_correct": rate(sum(ours[i].correct is True for i in equivalent), n_eq),
            "equivalent_called_wrong": rate(sum(ours[i].correct is False for i in equivalent), n_eq),
            "equivalent_unknown": rate(sum(ours[i].correct is None for i in equivalent), n_eq),
            "false_positives": rate(sum(ours[i].correct is True for i in different), n_ne),
            "not_equivalent_judged_wrong": rate(sum(ours[i].correct is False for i in different), n_ne),
            "checks_per_s": summary(ours_rate),
        },
        "math_verify_alone": {
            "equivalent_judged_correct": rate(sum(alone[i] for i in equivalent), n_eq),
            "equivalent_called_wrong": rate(sum(not alone[i] for i in equivalent), n_eq),
            "equivalent_unknown": rate(0, n_eq),
            "false_positives": rate(sum(alone[i] for i in different), n_ne),
            "not_equivalent_judged_wrong": rate(sum(not alone[i] for i in different), n_ne),
            "checks_per_s": summary(alone_rate),
        },
    }  # fmt: skip
    by_shape: dict[str, dict[str, int]] = {}
    for i, (shape, _, _, eq) in enumerate(items):
        row = by_shape.setdefault(shape, {"equivalent": 0, "ours_correct": 0, "ours_wrong": 0, "ours_unknown": 0, "alone_correct": 0,
                                          "not_equivalent": 0, "ours_fp": 0, "alone_fp": 0})  # fmt: skip
        if eq:
            row["equivalent"] += 1
            row["ours_" + {True: "correct", False: "wrong", None: "unknown"}[ours[i].correct]] += 1
            row["alone_correct"] += alone[i]
        else:
            row["not_equivalent"] += 1
            row["ours_fp"] += ours[i].correct is True
            row["alone_fp"] += alone[i]
    figures["by_shape"] = by_shape
    figures["disagreements"] = [
        {"shape": shape, "reference": ref, "response": response, "equivalent": eq, "ours": ours[i].correct, "method": ours[i].method,
         "extracted": ours[i].extracted, "math_verify_alone": alone[i]}
        for i, (shape, ref, response, eq) in enumerate(items)
        if ours[i].correct is not alone[i] or ours[i].correct is not eq or alone[i] is not eq
    ]  # fmt: skip
    return figures


def print_agreement(figures: dict) -> None:
    n_eq, n_ne = figures["n_equivalent"], figures["n_not_equivalent"]
    print(f"LaTeX answers in the wild: {figures['n_pairs']} pairs ({n_eq} equivalent, {n_ne} not); 95% Wilson intervals")
    print(f"  {'':34s} {'ours (check_answer)':>30s} {'math-verify alone':>30s}")
    labels = [("equivalent_judged_correct", "equivalent: judged correct"), ("equivalent_called_wrong", "equivalent: called wrong"),
              ("equivalent_unknown", "equivalent: unknown"), ("false_positives", "not equivalent: judged correct"),
              ("not_equivalent_judged_wrong", "not equivalent: judged wrong")]  # fmt: skip
    for key, label in labels:
        cells = []
        for side in ("ours", "math_verify_alone"):
            r = figures[side][key]
            cells.append(f"{int(r['successes'])}/{r['n']} [{100 * r['low']:.0f}-{100 * r['high']:.0f}%]" if r["n"] else "n/a")
        print(f"  {label:34s} {cells[0]:>30s} {cells[1]:>30s}")
    print(f"  {'checks/s':34s} {fmt(figures['ours']['checks_per_s'], '', 0):>30s}")
    print(f"  {'':34s} {'':30s} {fmt(figures['math_verify_alone']['checks_per_s'], '', 0)}")
    print("  by shape (equivalent: ours correct/wrong/unknown, alone correct; not equivalent: FP ours, alone):")
    for shape, row in figures["by_shape"].items():
        print(f"    {shape:24s} eq {row['equivalent']:3d}: {row['ours_correct']:3d}/{row['ours_wrong']}/{row['ours_unknown']}, alone {row['alone_correct']:3d};"
              f"  not eq {row['not_equivalent']:2d}: FP {row['ours_fp']}, alone {row['alone_fp']}")  # fmt: skip
    wrong = [d for d in figures["disagreements"] if d["equivalent"] and d["ours"] is False]
    unknown = [d for d in figures["disagreements"] if d["ours"] is None]
    fps = [d for d in figures["disagreements"] if not d["equivalent"] and d["ours"] is True]
    fps_alone = [d for d in figures["disagreements"] if not d["equivalent"] and d["math_verify_alone"]]
    for title, rows in (("equivalent pairs called wrong", wrong), ("unknown", unknown), ("false positives (ours)", fps),
                        ("false positives (math-verify alone)", fps_alone)):  # fmt: skip
        print(f"  {title}: {len(rows)}")
        for d in rows:
            print(f"    {d['reference']!r} | {d['response']!r} -> {d['extracted']!r} ({d['method']}); alone: {d['math_verify_alone']}")


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
    parser.add_argument("--latex-per-shape", type=int, default=20, help="pairs per shape in the LaTeX mix (13 shapes)")
    parser.add_argument("--latex-reps", type=int, default=2, help="passes over the LaTeX mix, each side")
    parser.add_argument("--latex-seed", type=int, default=0, help="seed of the LaTeX mix (0 was used while developing the verifier)")
    parser.add_argument("--latex-only", action="store_true", help="only the LaTeX agreement section (3.)")
    args = parser.parse_args()
    if args.smoke:
        args.mix_size, args.reps, args.hostile_reps, args.latex_per_shape, args.latex_reps = 200, 2, 1, 4, 1

    from hrlaif.verify import check_answer

    bound = args.timeout + args.grace
    # worker start-up (sympy + math_verify imports), paid once per process
    startup_s, _ = timed_check(check_answer, "math", "\\boxed{\\frac{\\sqrt{8}}{2}}", "\\sqrt{2}", None, 60.0)
    print(f"symbolic worker start-up + first check: {startup_s:.2f} s", flush=True)

    # ---- 3. (first, as it is the quickest to read) LaTeX answers: agreement with math-verify alone
    latex_items = latex_mix(args.latex_per_shape, seed=args.latex_seed)
    latex = latex_agreement(latex_items, args.timeout, args.latex_reps)
    print()
    print_agreement(latex)
    if args.latex_only:
        path = save_result(f"verifiers_latex-seed{args.latex_seed}", {"settings": {"per_shape": args.latex_per_shape, "reps": args.latex_reps, "seed": args.latex_seed, "timeout_s": args.timeout},
                                               "worker_startup_s": startup_s, "latex": latex}, args.smoke)  # fmt: skip
        print(f"wrote {path.relative_to(ROOT)}")
        return

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
            "outcomes": methods, "hostile": rows, "pass": not failed, "worst": worst_row, "latex": latex,
        },
        args.smoke,
    )  # fmt: skip
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
