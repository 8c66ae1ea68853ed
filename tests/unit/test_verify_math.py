"""Math verifier: extraction formats, numeric and symbolic equality, unknown paths, hostile inputs."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

import hrlaif.verify.math as vm
import hrlaif.verify.symbolic as symbolic
import hrlaif.verify.worker as worker
from hrlaif.verify import Check, check_answer
from hrlaif.verify.math import check_math, extract_math_answer, math_equal


@pytest.fixture(scope="module", autouse=True)
def warm_worker():
    """Start the symbolic worker once so that timings below measure checks, not the start-up."""
    assert math_equal("\\sqrt{4}", "2") == (True, "math_verify")
    yield


# --------------------------------------------------------------------------------------------
# Extraction


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("Natalia sold 48 clips in April.\n#### 72", "72", "hash"),
        ("so in total\n#### 1,234\n", "1,234", "hash"),
        ("We get $\\boxed{\\frac{3}{4}}$.", "\\frac{3}{4}", "boxed"),
        ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}", "boxed"),  # nested braces
        ("First \\boxed{1}, then I fixed it: \\boxed{2}", "2", "boxed"),  # last one wins
        ("The set is \\boxed{\\{1, 2\\}}", "\\{1, 2\\}", "boxed"),  # escaped braces are not groups
        ("so \\boxed 7", "7", "boxed"),
        ("#### 5 but later \\boxed{6}", "6", "boxed"),  # the boxed answer outranks ####
        ("The answer is 42.", "42", "answer_is"),
        ("Final Answer: The final answer is $\\dfrac{3}{4}$. I hope it is correct.", "\\frac{3}{4}", "answer_is"),
        ("Therefore, the answer is \\(-\\frac{1}{2}\\).", "-\\frac{1}{2}", "answer_is"),
        ("the answer is 1,000,000 because we multiply", "1,000,000", "answer_is"),
        ("The answer is 25%.", "25%", "answer_is"),
        ("The answer is 3.14159.", "3.14159", "answer_is"),
        ("The answer is:\n\n$$42$$", "42", "answer_is"),
        ("Answer: $5", "5", "answer_label"),
        ("The answer is $\\$18$.", "\\$18", "answer_is"),  # an escaped dollar does not close $..$
        ("She pays 3 * $4 = $12.", "$12", "equals"),
        ("**Answer:** 17 dollars", "17 dollars", "answer_label"),
        ("So 3 + 4 = 7.", "7", "equals"),
        ("x = \\(\\sqrt{2}\\)", "\\sqrt{2}", "equals"),
        ("I got 12 cm in the end", "12", "last_number"),
        ("It costs $5.50 in total", "5.50", "last_number"),
        ("The temperature fell to -3.5 degrees overnight", "-3.5", "last_number"),
        ("about 3/4 of them", "3/4", "last_number"),
        # prose after "the answer is" is not an answer: fall back to the number
        ("The answer is the sum of both parts, which is 12.", "12", "last_number"),
        ("\\boxed{12", "12", "last_number"),  # an unclosed \boxed is skipped
    ],
)
def test_extract_formats(text, answer, method):
    assert extract_math_answer(text) == (answer, method)


@pytest.mark.parametrize("text", ["", "I don't know.", "no numbers here", "\\boxed{}", "   \n  "])
def test_extract_nothing(text):
    assert extract_math_answer(text) is None


def test_extract_long_response_keeps_the_tail():
    text = "filler words " * 80_000 + "The answer is 7."  # ~1 MB
    start = time.monotonic()
    assert extract_math_answer(text) == ("7", "answer_is")
    assert time.monotonic() - start < 2


def test_truncated_answer_is_not_taken():
    # "the answer is" followed by 1,200 characters and no end: judging a cut-off prefix would say
    # "wrong"; the last number is used instead.
    found = extract_math_answer("The answer is " + "1+" * 600 + "1")
    assert found == ("1", "last_number")


# --------------------------------------------------------------------------------------------
# Equality


@pytest.mark.parametrize(
    ("reference", "answer", "expected"),
    [
        ("42", "42.0", True),
        ("42", "+42", True),
        ("1234", "1,234", True),
        ("1234.5", "1,234.50", True),
        ("0.75", "\\frac{3}{4}", True),
        ("0.75", "\\dfrac{3}{4}", True),
        ("0.75", "\\frac34", True),
        ("3/4", "0.75", True),
        ("-0.75", "\\frac{-3}{4}", True),
        ("-0.75", "-\\frac{3}{4}", True),
        ("2.5", "2\\frac{1}{2}", True),  # a mixed number
        ("0.3333333", "1/3", True),  # within 1e-6 relative
        ("0.333", "1/3", False),
        ("25", "25%", True),
        ("0.25", "25\\%", True),
        ("5", "50%", False),
        ("5", "$5", True),
        ("5", "\\$5", True),
        ("5", "5 dollars", True),
        ("12", "12 cm", True),
        ("12", "12\\text{ cm}", True),
        ("9", "9 square feet", True),
        ("90", "90^\\circ", True),
        ("5", "x = 5", True),
        ("1000", "1e3", True),
        ("1000000", "1 000 000", True),
        ("-5", "- 5", True),
        ("0.75", "3 / 4", True),
        ("25", "25 %", True),
        ("-3", "3", False),
        ("13", "31", False),
        ("1000000", "1000001", False),
        # integers are compared exactly, however long
        ("9" * 50_000, "9" * 50_000, True),
        ("9" * 50_000, "9" * 49_999 + "8", False),
        ("42", "9" * 50_000, False),
    ],
)
def test_numeric_equality(reference, answer, expected):
    assert math_equal(reference, answer) == (expected, "numeric")


def test_percent_both_sides():
    assert math_equal("25%", "25 percent") == (True, "numeric")
    assert math_equal("25%", "0.25") == (True, "numeric")


@pytest.mark.parametrize(
    ("reference", "answer", "expected", "method"),
    [
        ("\\sqrt{2}", "1.41421356", True, "math_verify"),
        ("2\\sqrt{2}", "\\sqrt{8}", True, "math_verify"),
        ("2\\sqrt{2}", "2.83", False, "math_verify"),
        ("(x+1)^2", "x^2+2x+1", True, "math_verify"),
        ("\\frac{\\pi}{2}", "\\pi/2", True, "math_verify"),
        ("(0,1)", "(0,1]", False, "math_verify"),
        ("\\{1,2\\}", "\\{2,1\\}", True, "math_verify"),
        ("y=2x+1", "2x-y+1=0", True, "math_verify"),
        ("3x-y+13=0", "3x+4y+14=0", False, "math_verify"),  # Math-Verify issue #60's pair
        ("x=5", "y=5", False, "math_verify"),  # different variables are not stripped away
        # math_verify rounds to 6 decimals and says "equal"; the numeric second opinion vetoes
        ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False, "numeric"),
        ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False, "numeric"),
        ("\\frac{1}{\\sqrt{9}}", "0.333333", True, "math_verify"),  # 1e-6 off is not "clearly" different
        ("10^{100000}", "10^{100001}", False, "math_verify"),
        ("23", "2 3", False, "math_verify"),  # two numbers are not one with a space in it
        ("10^{100000}", "10^{100000}", True, "exact"),
    ],
)
def test_symbolic_equality(reference, answer, expected, method):
    assert math_equal(reference, answer) == (expected, method)


@pytest.mark.parametrize(
    ("reference", "answer", "expected", "method"),
    [
        ("no solution", "No Solution", True, "text"),
        ("\\text{no solution}", "no solution", True, "text"),
        ("yes", "no", False, "text"),
        # words where a number is expected: unknown, not wrong (math_verify would read n*o*...)
        ("7", "The answer is", None, "not_math"),
        ("\\pi", "pi", True, "math_verify"),  # bare names become LaTeX, not p*i
        ("2\\pi", "2 pi", True, "math_verify"),
        ("\\infty", "infinity", True, "math_verify"),
    ],
)
def test_words_and_bare_names(reference, answer, expected, method):
    assert math_equal(reference, answer) == (expected, method)


def test_second_opinion_vetoes_different_equations_and_tiny_numbers():
    """The veto itself, independent of what this math_verify version happens to say."""
    import sympy

    x, y = sympy.symbols("x y")
    eq1 = sympy.Eq(3 * x - y + 13, 0)
    eq2 = sympy.Eq(3 * x + 4 * y + 14, 0)
    assert "not multiples" in symbolic._second_opinion(eq1, eq2, "", "")
    assert symbolic._second_opinion(sympy.Eq(y, 2 * x + 1), sympy.Eq(2 * x - y + 1, 0), "", "") == ""
    tiny = symbolic._second_opinion(1 / sympy.factorial(2004), 1 / sympy.factorial(2006), "", "")
    assert "differ" in tiny
    assert symbolic._second_opinion(sympy.sqrt(2), sympy.Float("1.41421356"), "", "") == ""
    # math_verify deliberately equates 25% with 25; that is not vetoed
    assert symbolic._second_opinion(sympy.Rational(1, 4), sympy.Integer(25), "25%", "25") == ""


@pytest.mark.parametrize(
    ("reference", "answer", "method"),
    [
        ("5", "\\invalid{", "unparseable"),
        ("5", "\\frac{1}", "unparseable"),
        ("", "5", "empty_reference"),
        ("5", "  $ $ ", "empty_answer"),
        ("5", "\\sqrt{" + "x+" * 1500 + "1}", "too_long"),
        ("5", "1+" * 60_000, "too_long"),
    ],
)
def test_unknown_is_never_wrong(reference, answer, method):
    assert math_equal(reference, answer) == (None, method)


def test_timeout_returns_unknown_within_bound_and_worker_recovers():
    start = time.monotonic()
    # sympy tries to evaluate the power tower: unbounded without the deadline
    result = check_math("\\boxed{10^{10^{10}}}", "5", timeout_s=0.5)
    elapsed = time.monotonic() - start
    assert result.correct is None
    assert result.method == "boxed+timeout"
    assert result.extracted == "10^{10^{10}}"
    assert elapsed < 10 * 0.5  # 10x the deadline: a busy machine passes, an unbounded check does not
    # the killed worker is replaced on the next symbolic check
    assert math_equal("\\sqrt{9}", "3", timeout_s=30) == (True, "math_verify")


def test_a_timeout_right_after_a_timeout_stays_within_its_bound(monkeypatch):
    """The replacement worker's boot counts against the check that waits for it. The replacement
    is made to boot for 60 s, so a check that waited for the boot outside its 0.5 s deadline would
    take a minute: the bound below (10x the deadline) holds on a busy machine and fails without it."""
    assert math_equal("\\sqrt{16}", "4", timeout_s=30) == (True, "math_verify")  # a warm worker first
    monkeypatch.setattr(worker, "_BOOT", "import time; time.sleep(60); " + worker._BOOT)
    check_math("\\boxed{10^{10^{10}}}", "5", timeout_s=0.5)  # kills the worker; the slow replacement boots
    start = time.monotonic()
    result = check_math("\\boxed{10^{10^{10^{10}}}}", "5", timeout_s=0.5)
    elapsed = time.monotonic() - start
    assert result.correct is None and result.method == "boxed+timeout"
    assert elapsed < 10 * 0.5
    vm._WORKER.stop()  # the slow replacement goes; the next check boots a normal one
    monkeypatch.undo()
    assert math_equal("\\sqrt{9}", "3", timeout_s=30) == (True, "math_verify")


def test_deep_nesting_is_bounded():
    deep = "\\frac{" * 500 + "1" + "}{2}" * 500
    start = time.monotonic()
    assert check_math(f"\\boxed{{{deep}}}", "1").correct is None  # too long to parse
    assert time.monotonic() - start < 1
    medium = "\\frac{" * 150 + "1" + "}{2}" * 150  # short enough to reach the parser
    start = time.monotonic()
    result = check_math(f"\\boxed{{{medium}}}", "1", timeout_s=0.5)
    assert result.correct in (None, False)
    assert time.monotonic() - start < 10 * 0.5


def test_hostile_responses_are_bounded():
    cases = [
        "\\boxed{" * 100_000,  # never closes
        "{" * 500_000 + "}" * 500_000,
        "9" * 1_000_000,
        "The answer is " * 70_000,
    ]
    for response in cases:
        start = time.monotonic()
        result = check_math(response, "7", timeout_s=0.5)
        assert result.correct is None, response[:30]
        assert time.monotonic() - start < 3, response[:30]


def test_worker_restarts_after_it_dies():
    # warm-up with room for a replacement worker still booting after an earlier test's timeout
    assert math_equal("\\sqrt{16}", "4", timeout_s=30) == (True, "math_verify")
    proc = vm._WORKER._proc
    assert proc is not None
    proc.kill()
    proc.wait()
    assert math_equal("\\sqrt{25}", "5", timeout_s=30) == (True, "math_verify")
    assert vm._WORKER._proc is not proc


def test_worker_dying_mid_check_is_unknown():
    import threading

    assert math_equal("\\sqrt{16}", "4", timeout_s=30) == (True, "math_verify")  # a warm worker first
    proc = vm._WORKER._proc
    killer = threading.Timer(0.3, proc.kill)
    killer.start()
    start = time.monotonic()
    result, method = math_equal("10^{10^{10}}", "5", timeout_s=20)
    killer.join()
    assert (result, method) == (None, "error")
    assert time.monotonic() - start < 5


def test_thread_fallback_when_no_process_can_start(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no processes here")

    vm._WORKER.stop()
    monkeypatch.setattr(worker.subprocess, "Popen", refuse)
    # the first check in a thread imports sympy in this process: room for that on a busy machine
    assert math_equal("\\sqrt{4}", "2", timeout_s=30) == (True, "math_verify")
    assert vm._WORKER._proc is None  # decided in a thread of this process

    def slow(ref, ans):
        time.sleep(60)
        return True, "math_verify", ""

    monkeypatch.setattr(symbolic, "compare", slow)
    start = time.monotonic()
    assert math_equal("\\sqrt{4}", "2", timeout_s=0.3) == (None, "timeout")
    assert time.monotonic() - start < 10 * 0.3  # the abandoned thread would take a minute


# --------------------------------------------------------------------------------------------
# check_math / check_answer


def test_check_math_reports_extraction_and_comparison():
    result = check_math("Adding them up gives \\boxed{1,234}.", "1234")
    assert result == Check(correct=True, extracted="1,234", method="boxed+numeric", detail="same number")
    wrong = check_math("#### 41", "42")
    assert (wrong.correct, wrong.extracted, wrong.method) == (False, "41", "hash+numeric")


def test_check_math_no_answer_is_unknown():
    result = check_math("I am not sure how to solve this.", "42")
    assert result.correct is None
    assert result.extracted is None
    assert result.method == "no_answer"


def test_reference_may_be_a_worked_solution():
    reference = "She has 3 + 4 = 7 apples.\n#### 7"
    assert check_math("The answer is 7.", reference).correct is True
    assert check_math("The answer is 8.", reference).correct is False


def test_check_math_rejects_a_bad_timeout():
    with pytest.raises(ValueError, match="timeout_s"):
        check_math("#### 1", "1", timeout_s=0)


def test_check_answer_dispatch():
    assert check_answer("math", "The answer is 13.", "13").correct is True
    mc = check_answer("multiple_choice", "Answer: (B)", "B", choices=["Paris", "London"])
    assert (mc.correct, mc.extracted) == (True, "B")
    with pytest.raises(ValueError, match="open_ended"):
        check_answer("open_ended", "anything", "x")
    with pytest.raises(ValueError, match="choices"):
        check_answer("multiple_choice", "B", "B")


def test_check_forbids_extra_fields():
    with pytest.raises(ValidationError):
        Check(correct=True, extracted="1", method="boxed", score=1.0)


def test_forked_child_gets_its_own_worker():
    """A forked child (a DataLoader worker, say) must not talk over the parent's pipes."""
    import os

    assert math_equal("\\sqrt{4}", "2", timeout_s=30) == (True, "math_verify")  # the parent's worker, warm
    parent_proc = vm._WORKER._proc
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report the verdict through the pipe and leave without cleanup
        try:
            ok = math_equal("\\sqrt{9}", "3", timeout_s=30) == (True, "math_verify")
            ok = ok and vm._WORKER._proc is not parent_proc
            os.write(write_end, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    verdict = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert verdict == b"1"
    assert vm._WORKER._proc is parent_proc
    assert math_equal("\\sqrt{16}", "4", timeout_s=30) == (True, "math_verify")


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        ("The answer is 2²", "4", True),  # was read as 2 and called wrong (issue 27)
        ("The answer is 2².", "2", False),
        ("The answer is 10⁻³", "0.001", True),
        ("The answer is 2¹⁰", "1024", True),
        ("The answer is x²+1", "x^2+1", True),
        ("The area is 12 m². The answer is 12 m²", "12", True),  # a unit's power is still a unit
    ],
)
def test_superscript_powers_are_read_as_powers(response, reference, correct):
    check = check_math(response, reference, timeout_s=30)
    assert check.correct is correct, check


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("12 is larger than 56.", "56"),  # was scored correct: math_verify read its last number (issue 27)
        ("12 is larger than 56.", "12"),
        ("We compare them. 3.5 is less than 7", "7"),
    ],
)
def test_a_closing_comparison_of_two_numbers_is_no_answer(response, reference):
    check = check_math(response, reference, timeout_s=30)
    assert check.correct is None, check


def test_a_comparison_before_a_stated_answer_does_not_hide_it():
    assert check_math("56 is larger than 12. The answer is 56.", "56", timeout_s=30).correct is True
    assert check_math("12 is smaller than 56, so x = 56", "56", timeout_s=30).correct is True
    assert check_math("12 is smaller than 56.\nThe answer is 12.", "56", timeout_s=30).correct is False


@pytest.mark.parametrize(
    "response, reference",
    [  # a last sentence that weighs two numbers answers neither (issue 27): unknown, whichever is the reference
        ("Neither 12 nor 56.", "56"),
        ("Neither 12 nor 56.", "12"),
        ("Is 12 bigger than 56? No.", "12"),
        ("Is 12 bigger than 56? No.", "56"),
        ("It could be either 12 or 56", "56"),
        ("We tried 3 apples. Is it 7 or 9?", "9"),
    ],
)
def test_numbers_weighed_against_each_other_are_unknown(response, reference):
    check = check_math(response, reference)
    assert check.correct is None and check.method == "comparison", check


@pytest.mark.parametrize(
    "response, reference, correct",
    [  # a guessed last number in a sentence that states one result keeps its verdict
        ("She had 3 apples and ate 1, so 2 are left.", "2", True),
        ("Adding them gives 42.", "42", True),
        ("The answer is 4, not 5.", "4", True),  # a cue: "the answer is" decides
    ],
)
def test_a_plain_final_number_is_still_read(response, reference, correct):
    assert check_math(response, reference).correct is correct


# --------------------------------------------------------------------------------------------
# A list against a list (issue 25, item 11): "wrong" needs every reading of the stated list to differ


@pytest.mark.parametrize(
    ("response", "reference", "truncated", "outcome"),
    [  # each was "wrong" before: no cue, so the last number (or math_verify's whole reading) decided
        ("The answers are 3, 5", "5, 3", False, "correct"),  # a bare list is unordered
        ("The answers are 3, 5", "3, 5", False, "correct"),
        ("The roots are 2 and 3.", "3 and 2", False, "correct"),
        ("The roots are 2 and 3.", "2, 3", False, "correct"),
        ("The roots are 3 and 2.", "\\{2, 3\\}", False, "correct"),  # a set
        ("The solutions are x = 3 and x = 2.", "2, 3", False, "correct"),  # "x =" stripped
        ("So x = 2 and y = 3.", "x = 2, y = 3", False, "correct"),
        ("The points are (1, 2) and (3, 4).", "(3, 4), (1, 2)", False, "correct"),
        # a bracketed reference is an ordered list or a set: another order has two readings
        ("[1, 2, 3]", "[3, 2, 1]", False, "unknown"),
        ("The answer is $[3, 1, 2]$.", "[1, 2, 3]", False, "unknown"),
        ("The roots are 3 and 2.", "[2, 3]", False, "unknown"),
        ("The roots are 1 and 3.", "[1, 3]", False, "unknown"),  # "[1, 3]" may be an interval
        ("The answer is $3$ and $2$. Then", "[2, 3]", True, "unknown"),  # a finished cue of a cut response
        ("#### 3, 2\n", "[2, 3]", True, "unknown"),
        # a doubtful statement of the same items: unknown, not correct
        ("The answer is between 2 and 3.", "2, 3", False, "unknown"),
        ("So x = 2 and y = 3.", "2, 3", False, "unknown"),  # two unknowns, not a list of roots
        ("The candidates are 2 and 3.\nI hope it helps.", "3, 2", False, "unknown"),  # more text follows
    ],
)
def test_a_stated_list_with_the_reference_items_is_not_wrong(response, reference, truncated, outcome):
    check = check_math(response, reference, truncated=truncated, timeout_s=30)
    assert check.outcome == outcome, check


@pytest.mark.parametrize(
    ("response", "reference", "truncated"),
    [  # already wrong before, and still sure
        ("[1,2]", "[1,3]", False),
        ("2 and 4", "2, 3", False),
        ("The roots are 2, 3 and 4.", "2, 3", False),  # one item too many
        ("(1, 2)", "(2, 1)", False),  # a tuple, point or interval: order matters
        ("The answer is $(2, 1)$.", "(1, 2)", False),
        ("So y = 2 and x = 3.", "x = 2, y = 3", False),
        ("The points are (1, 2) and (4, 3).", "(3, 4), (1, 2)", False),
        ("The answer is between 2 and 4.", "2, 3", False),
        ("So 2 + 3 = 5", "2, 3", False),
        ("The roots are 2 and 3.", "2", False),  # one answer: the rule is for listed references
        ("The answer is $[3, 4]$. Then", "\\{2, 3\\}", True),
    ],
)
def test_a_stated_list_with_other_items_stays_wrong(response, reference, truncated):
    check = check_math(response, reference, truncated=truncated, timeout_s=30)
    assert check.outcome == "wrong", check


def test_a_truncated_list_without_a_finished_cue_is_not_read():
    check = check_math("The roots are 3 and 2", "2, 3", truncated=True)
    assert (check.outcome, check.method) == ("unknown", "truncated"), check
