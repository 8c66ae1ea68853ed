"""Math answers in the wild (issue 17): LaTeX without \\boxed{} or "the answer is", and a "wrong"
that is sure. Plus truncated responses and countable outcomes (issue 9).

The cases are written here in the shapes the issue lists (signs, \\dfrac-style fractions,
intervals, relations, sets, tuples, matrices, percentages, thousands separators, identical
strings), not taken from any public suite.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

import hrlaif.verify.math as vm
from hrlaif.verify import OUTCOMES, Check, check_answer
from hrlaif.verify.extract import extract_math_answer
from hrlaif.verify.math import check_math


@pytest.fixture(scope="module", autouse=True)
def warm_worker():
    """Start the symbolic worker once, so that the checks below are not timed against its boot."""
    assert check_math("so $x = \\sqrt{4}$", "2", timeout_s=60).correct is True
    yield


# --------------------------------------------------------------------------------------------
# Equivalent answers are judged correct


EQUIVALENT = [
    # signs survive: a fraction's minus sign is part of the answer
    ("-7/4", "-\\frac{7}{4}"),
    ("-7/4", "The slope is $-\\dfrac{7}{4}$."),
    ("\\frac{-7}{4}", "-1.75"),
    ("-\\frac{2}{9}", "So we end up with \\(\\frac{-2}{9}\\)."),
    # \dfrac, \tfrac, \cfrac and brace-less \frac are all \frac
    ("2/5", "$\\dfrac{2}{5}$"),
    ("2/5", "\\tfrac{2}{5}"),
    ("2/5", "$\\cfrac{2}{5}$"),
    ("1", "\\frac4{4}"),
    ("\\frac{3}{7}", "\\frac3 7"),
    ("0.6", "Simplifying gives $\\dfrac{6}{10}$."),
    # intervals, as math_verify compares them
    ("[-2, 5)", "$[-2,5)$"),
    ("[-2, 5)", "The solution set is $\\left[-2, 5\\right)$."),
    ("(-\\infty, 3]", "So $x \\in (-\\infty, 3]$."),
    # relations: \geq and >= are the same relation
    ("x \\geq -1", "Hence $x >= -1$ is the solution."),
    ("x \\leq 6", "x \\le 6"),
    ("x \\leq 6", "x<=6"),
    # sets are unordered
    ("\\{2, 3, 5\\}", "The primes are $\\{5, 2, 3\\}$."),
    # tuples
    ("(3, -1)", "The lines meet at $(3,-1)$."),
    # matrices, whatever the brackets
    ("\\begin{pmatrix} 1 & 0 \\\\ -2 & 4 \\end{pmatrix}", "We get $\\begin{bmatrix}1&0\\\\-2&4\\end{bmatrix}$."),
    ("\\begin{pmatrix} 1 & 0 \\\\ -2 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&0\\\\-2&4\\end{bmatrix}"),
    # percentages
    ("40\\%", "About 40% of them."),
    ("0.4", "40%"),
    ("12.5\\%", "$12.5 \\%$"),
    # thousands separators, plain and LaTeX
    ("2500", "2 500"),
    ("2500", "2,500"),
    ("1234567", "We get \\(1\\,234\\,567\\)."),
    ("1234567", "It is $1{,}234{,}567$."),
    ("1234567", "So the total is $1 234 567$."),
    # identical strings are never wrong, whatever they are
    ("\\sqrt[3]{2}+\\log 5", "\\sqrt[3]{2}+\\log 5"),
    ("$[0,4)$", "$[0,4)$"),
    ("\\operatorname{lcm}(a, b)", "$\\operatorname{lcm}(a, b)$"),
    # a chain of thought whose last number is not the answer
    ("\\frac{\\sqrt{3}}{2}", "Since $30 + 60 = 90$, the triangle is right, and the height is $\\frac{\\sqrt{3}}{2}$."),
    ("x^2+2x+1", "Expanding $(x+1)^2$ we find $x^2 + 2x + 1$."),
]


@pytest.mark.parametrize(("reference", "response"), EQUIVALENT)
def test_equivalent_answers_are_correct(reference, response):
    result = check_math(response, reference)
    assert result.correct is True, result


# --------------------------------------------------------------------------------------------
# Different answers are not judged correct, and a sure difference is judged wrong


DIFFERENT = [
    ("-7/4", "\\frac{7}{4}"),  # the sign matters
    ("-7/4", "The slope is $\\dfrac{7}{4}$."),
    ("2/5", "$\\dfrac{5}{2}$"),
    ("[-2, 5)", "The solution set is $[-2, 5]$."),
    ("(-\\infty, 3]", "So $x \\in (-\\infty, 3)$."),
    ("x \\geq -1", "Hence $x > -1$ is the solution."),
    ("x \\leq 6", "x \\geq 6"),
    ("\\{2, 3, 5\\}", "The primes are $\\{2, 3\\}$."),
    ("(3, -1)", "The lines meet at $(-1, 3)$."),
    ("\\begin{pmatrix} 1 & 0 \\\\ -2 & 4 \\end{pmatrix}", "We get $\\begin{bmatrix}1&0\\\\-2&5\\end{bmatrix}$."),
    ("40\\%", "About 45% of them."),
    ("2500", "2 600"),
    ("1234567", "It is $1{,}234{,}568$."),
    # math_verify's known false positives: equations that are not multiples of each other
    # (its issue #60) and values that agree to 6 decimals only
    ("3x-y+13=0", "The line is $3x+4y+14=0$."),
    ("\\frac{1}{2004!}", "Therefore $\\boxed{\\frac{1}{2006!}}$."),
    ("\\frac{1}{25!}", "so we get $\\frac{1}{26!}$"),
]


@pytest.mark.parametrize(("reference", "response"), DIFFERENT)
def test_different_answers_are_wrong(reference, response):
    result = check_math(response, reference)
    assert result.correct is False, result


# --------------------------------------------------------------------------------------------
# Decimal commas (issue 25): correct where that is the only reading, never wrong where a
# thousands reading also fits


DECIMAL_COMMA_CORRECT = [
    ("3.5", "\\boxed{3,5}"),
    ("3.5", "3,5"),
    ("3.5", "\\boxed{3{,}5}"),
    ("12.5", "\\boxed{12,5}"),
    ("-3.5", "The answer is $\\boxed{-3,5}$."),
    ("1/2", "\\boxed{0,5}"),
    ("1.5", "The answer is 1,5."),
    ("3.5", "x = 3,5"),
]


@pytest.mark.parametrize(("reference", "response"), DECIMAL_COMMA_CORRECT)
def test_a_decimal_comma_with_no_thousands_reading_is_read_as_one(reference, response):
    result = check_math(response, reference)
    assert result.correct is True, result


@pytest.mark.parametrize(("reference", "response"), [("1.5", "\\boxed{1,500}"), ("1.25", "The answer is 1,250."), ("1.5", "Total: 1,500")])
def test_a_number_that_reads_both_ways_is_unknown_where_only_the_decimal_comma_matches(reference, response):
    result = check_math(response, reference)
    assert result.correct is None and result.outcome == "unknown", result


@pytest.mark.parametrize(
    ("reference", "response"),
    [("3.6", "\\boxed{3,5}"), ("3", "\\boxed{3,5}"), ("3.5", "#### 3,6"), ("1.6", "\\boxed{1,500}"), ("3.5", "3,50,0")],
)
def test_a_decimal_comma_that_matches_no_reading_stays_wrong(reference, response):
    result = check_math(response, reference)
    assert result.correct is False, result


def test_thousands_separators_still_read_as_thousands():
    assert check_math("\\boxed{1,500}", "1500").correct is True
    assert check_math("\\boxed{3,5}", "3, 5").correct is True  # a list reference: the comma separates


# --------------------------------------------------------------------------------------------
# Answers that are sets (issue 25): several \boxed{}, "x and y" ("$x$ and $y$"), a list in another order. math_verify's
# reading of a short response already sees all the boxes; a truncated response (read by its cues
# only) or a long one without a line break near its end (too long for math_verify to read) was
# judged by its last box alone.

_LONG = "Let me think. " + "We expand the terms and simplify. " * 80  # no line break: math_verify cannot read it

SET_CORRECT = [
    ("2, 3", "The solutions are \\boxed{3} and \\boxed{2}.", True),
    ("\\{4, -1\\}", "So $x = \\boxed{-1}$ or $x = \\boxed{4}$.\n", True),
    ("2, 3", _LONG + "the solutions are \\boxed{3} and \\boxed{2}", False),
    ("-2, 3", _LONG + "so \\boxed{x = 3} and \\boxed{x = -2}", False),
    ("2, 3", "The answer is $3$ and $2$.\nSo both work.", True),
    ("3, \\frac{1}{2}", _LONG + "The answer is $\\frac{1}{2}$, $3$. ", False),
    # already right before (math_verify's reading, or one answer holding the list): kept so
    ("2, 3", "The solutions are \\boxed{3} and \\boxed{2}.", False),
    ("2, 3", "The answer is 3 and 2.", False),
    ("2 \\text{ and } 3", "\\boxed{3, 2}", False),
    ("2, 3", "x = 3 or x = 2", False),
    ("3, 2, 1", "The answer is 1, 2, and 3.", False),
]


@pytest.mark.parametrize(("reference", "response", "truncated"), SET_CORRECT)
def test_a_set_answer_in_several_boxes_or_words_is_correct(reference, response, truncated):
    result = check_math(response, reference, truncated=truncated)
    assert result.correct is True, result


SET_WRONG = [
    ("2, 3", "The solutions are \\boxed{3} and \\boxed{4}.", True),
    ("2, 3", _LONG + "the solutions are \\boxed{3} and \\boxed{5}", False),
    ("2", "First \\boxed{2}, wait, no: it is \\boxed{5}.", True),  # a box taken back: neither reading is 2
    ("2, 3", "The answer is 3 and 4.", False),
    ("2, 3", "The answer is $3$ and $4$.\nSo both work.", True),
    ("2", "The answer is $3$, and $2$ is not.\nok", True),  # not a list, but neither reading is 2 alone
    ("2, 3", "\\boxed{3}", False),
]


@pytest.mark.parametrize(("reference", "response", "truncated"), SET_WRONG)
def test_a_set_answer_that_differs_stays_wrong(reference, response, truncated):
    result = check_math(response, reference, truncated=truncated)
    assert result.correct is False, result


def test_a_last_box_that_differs_is_unknown_when_all_the_boxes_cannot_be_compared():
    for response, truncated in (("\\boxed{\\frac{1}} and \\boxed{4}", True), (_LONG + "\\boxed{\\frac{1}} and \\boxed{4}", False)):
        result = check_math(response, "1, 4", truncated=truncated)
        assert result.correct is None and result.outcome == "unknown", result


def test_a_tiny_value_is_a_false_positive_of_math_verify_alone():
    """The reason the exact second opinion stays: math_verify alone says 1/25! == 1/26!."""
    from math_verify import parse, verify

    assert verify(parse("$\\frac{1}{25!}$"), parse("so we get $\\frac{1}{26!}$")) is True
    assert check_math("so we get $\\frac{1}{26!}$", "\\frac{1}{25!}").correct is False


# --------------------------------------------------------------------------------------------
# A guess is never "wrong" on its own


def test_a_guessed_number_is_not_called_wrong_when_math_verify_cannot_read_the_response():
    # "Result:7" has a last number for us, but nothing math_verify reads (no space before it)
    result = check_math("Result:7", "5")
    assert (result.correct, result.method, result.outcome) == (None, "last_number+unconfirmed", "unknown")
    assert check_math("Result:7", "7").correct is True  # a guess may still be right


def test_a_guessed_number_that_matches_defers_to_what_math_verify_read():
    # the last number is 3, but the answer is x + 3: not correct, and not wrong on a guess either
    result = check_math("Completing the square, the result is $x+3$", "3")
    assert result.correct is None
    assert result.method == "last_number+conflict"


def test_a_cue_read_as_different_loses_to_math_verify_reading_it_equal():
    # our "answer is" cue reads the symbol, math_verify reads the whole response
    result = check_math("The answer is $x$, so $x=5$.", "5")
    assert (result.correct, result.method) == (True, "math_verify+math_verify")
    assert "answer_is read 'x'" in result.detail
    # the first $..$ alone differs; all the groups stated are the answer (issue 25), as math_verify read them before
    result = check_math("The answer is $x=2$ or $x=-2$, since both satisfy it.", "x = \\pm 2")
    assert (result.correct, result.method) == (True, "answer_is_set+math_verify")


def test_math_verify_reading_is_bounded_by_the_same_deadline(monkeypatch):
    """Both readings share one timeout: a response whose reading would never end is unknown in time.
    Each call to the worker may run only until the check's one deadline (its start plus the time
    it allows itself stay inside 0.5 s of the check's start), which holds however busy the
    machine is; the wall-clock bound is 10x the deadline."""
    assert check_math("so $x = \\sqrt{4}$", "2", timeout_s=30).correct is True  # a warm worker first
    calls, call = [], vm._WORKER.call

    def timed(name, args, timeout_s):
        calls.append((time.monotonic(), timeout_s))
        return call(name, args, timeout_s)

    monkeypatch.setattr(vm._WORKER, "call", timed)
    response = "We simplify and arrive at $10^{10^{10^{10}}}$ in the end"
    start = time.monotonic()
    result = check_math(response, "5", timeout_s=0.5)
    assert result.correct is None
    assert time.monotonic() - start < 10 * 0.5
    assert calls, "the reading never reached the worker"
    assert all(at - start + allowed <= 0.5 + 0.01 for at, allowed in calls), calls
    monkeypatch.undo()
    assert check_math("so $x = \\sqrt{9}$", "3", timeout_s=30).correct is True  # the worker recovered


def test_a_long_response_is_read_from_its_last_lines():
    chain = "".join(f"Step {i}: we add {i} and get {i * (i + 1) // 2}.\n" for i in range(1, 400))
    result = check_math(chain + "Therefore the set is $\\{4, 1\\}$.", "\\{1, 4\\}")
    assert result.correct is True and result.method == "math_verify+math_verify"
    # no line break in the last 2,000 characters: the cut would fall inside the answer
    result = check_math("x" * 5000 + " $\\{4, 1\\}$", "\\{1, 4\\}")
    assert result.correct is None


def test_python_in_a_response_is_never_evaluated(tmp_path):
    """math_verify's plain-expression reader uses sympy's parse_expr (eval); its pattern only
    admits digits and operators, so text like this reaches no eval."""
    marker = tmp_path / "evaluated"
    response = f"so it is 1+__import__('pathlib').Path({str(marker)!r}).touch() + 2*3"
    check_math(response, "7")
    check_math(f"x = (__import__('os').system('touch {marker}'))", "0")
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# Truncated responses (issue 9): the last number of a cut-off chain of thought is not its answer


CUT_CHAIN = "Step 1: 12 * 4 = 48.\nStep 2: 48 + 7 = 55.\nStep 3: now we subtract 1 from"


def test_a_truncated_chain_of_thought_is_unknown_not_wrong():
    assert check_math(CUT_CHAIN, "54").correct is False  # read as finished: its last number, 1, is the answer
    result = check_answer("math", CUT_CHAIN, "54", truncated=True)
    assert (result.correct, result.extracted, result.method) == (None, None, "truncated")
    assert result.outcome == "unknown"
    # nor is a guessed number ever taken as correct when the response was cut
    assert check_answer("math", "so far we have 3 + 4 = 54 and then", "54", truncated=True).correct is None


@pytest.mark.parametrize(
    ("response", "expected", "method"),
    [
        ("The answer is 54. Let me double-check by adding 50 and", True, "answer_is+numeric"),
        ("The answer is 53. Let me double-check by adding 50 and", False, "answer_is+numeric"),
        ("We conclude \\boxed{54}", True, "boxed+numeric"),  # a closed box is finished
        ("Thus the answer is $\\frac{108}{2}$", True, "answer_is+numeric"),  # closed $..$
        ("#### 54\nAnd to check it, we", True, "hash+numeric"),
        ("So the answer is 5", None, "truncated"),  # may have been "the answer is 54..."
        ("So the answer is 5.", None, "truncated"),  # may have been "5.4"
        ("#### 5", None, "truncated"),
        ("We conclude \\boxed 5", None, "truncated"),
        ("The answer is 12. No wait, the answer is 5", None, "truncated"),  # the last one was cut
    ],
)
def test_a_truncated_response_counts_only_a_finished_cue(response, expected, method):
    result = check_answer("math", response, "54", truncated=True)
    assert (result.correct, result.method) == (expected, method)


def test_extraction_of_a_truncated_response():
    assert extract_math_answer("I got 12 cm in the end", truncated=True) is None
    assert extract_math_answer("42", truncated=True) is None  # a bare number may be cut short
    assert extract_math_answer("x = 5", truncated=True) is None
    assert extract_math_answer("\\boxed{7}", truncated=True) == ("7", "boxed")
    assert extract_math_answer("#### 7\n", truncated=True) == ("7", "hash")


# --------------------------------------------------------------------------------------------
# Outcomes a caller can count


def test_every_check_names_its_outcome():
    assert set(OUTCOMES) == {"correct", "wrong", "unknown", "error"}
    assert check_math("#### 5", "5").outcome == "correct"
    assert check_math("#### 4", "5").outcome == "wrong"
    assert check_math("I am not sure.", "5").outcome == "unknown"
    assert Check(correct=None, extracted="x", method="boxed+timeout").outcome == "unknown"
    assert Check(correct=None, extracted=None, method="error").outcome == "error"
    assert Check(correct=None, extracted="x", method="boxed+error").outcome == "error"
    assert check_answer("multiple_choice", "I pick (B).", "B", choices=["x", "y"]).outcome == "correct"
    dumped = check_math("#### 4", "5").model_dump()
    assert dumped["outcome"] == "wrong" and dumped["correct"] is False
    assert Check.model_validate(dumped) == check_math("#### 4", "5")  # a stored check reads back


def test_an_exception_inside_the_verifier_is_logged_and_counted(monkeypatch, caplog):
    def broken(text, truncated=False):
        raise RuntimeError("extraction bug")

    monkeypatch.setattr(vm, "extract_math_answer", broken)
    with caplog.at_level(logging.WARNING, logger="hrlaif.verify.math"):
        result = check_answer("math", "The answer is 5.", "5")
    assert (result.correct, result.method, result.outcome) == (None, "error", "error")
    assert "RuntimeError: extraction bug" in result.detail
    records = [r for r in caplog.records if r.name == "hrlaif.verify.math"]
    assert records and records[0].exc_info is not None and "extraction bug" in records[0].getMessage()


def test_a_worker_that_dies_mid_check_is_an_error_and_logged(caplog):
    assert check_math("so $x = \\sqrt{16}$", "4", timeout_s=30).correct is True
    proc = vm._WORKER._proc
    killer = threading.Timer(0.3, proc.kill)
    killer.start()
    with caplog.at_level(logging.WARNING, logger="hrlaif.verify.math"):
        result = check_math("\\boxed{10^{10^{10}}}", "5", timeout_s=20)
    killer.join()
    assert (result.correct, result.method, result.outcome) == (None, "boxed+error", "error")
    assert any("worker failed" in r.getMessage() for r in caplog.records)
    assert check_math("so $x = \\sqrt{16}$", "4", timeout_s=30).correct is True
