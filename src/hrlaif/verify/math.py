"""Math answer verification: a verdict of "wrong" only when it is sure.

A correct answer called wrong becomes a rejected response in the reward-model data, the
opposite of what HRLAIF's verified labels are for; an "unknown" only sends the pair on to the
next ranking step. So the verdict is built from two readings of the response:

1. Ours (`hrlaif.verify.extract`): an explicit cue (``\\boxed{}``, ``#### 42``, "the answer
   is", "Answer:", or a response that is one plain number), else a guess (a last line ending in
   ``= 42``, the last number). The extracted answer is compared with the reference exactly where
   both are plain numbers (`hrlaif.verify.numbers`: integers exactly, else 1e-6 relative, so
   never through math_verify's rounding to 6 decimals), as words where both are words, and by
   math_verify / sympy otherwise. A response with several closed ``\\boxed{}``, or several math
   groups after "the answer is" ("$3$ and $2$"), has a second reading, all of them together as
   one list (answering "2, 3"): it is correct when either reading is, wrong only when both are,
   unknown otherwise.
2. math_verify's own reading of the whole response (its LaTeX and plain-expression extraction)
   against the reference: how math_verify alone would judge it. Relations, intervals, sets,
   tuples, matrices and percentages are compared the way it compares them.

How they combine:

- equal by our reading -> correct (a guess needs no agreement to be right, except that a
  guessed last number is checked against math_verify's reading first: "$x+3$" is not 3);
- a cue, and a sure "different" (two plain numbers, two texts, or math_verify's "equal"
  vetoed because the values or equations clearly differ) -> wrong;
- a cue that math_verify compared as different -> wrong, unless math_verify's own reading of
  the response finds it equal (then correct: the two readings disagree and ours lost);
- a guess, or nothing of ours -> math_verify's reading decides; where it cannot read the
  response, or says different while the guess matched, the verdict is unknown;
- a "wrong" against a reference that lists several answers ("2, 3", "3 and 2", "\\{2, 3\\}",
  "[1, 2, 3]") is read once more: the response's stated list (its cue's answers, else the last
  sentence holding a digit; "x =" stripped) against the reference's items as a multiset. The
  same items in order -> correct; in another order -> correct against an unordered reference
  (bare, "and"/"or", a set) and unknown against "[..]" (a list or a set); a doubtful statement
  ("between 2 and 3", words after it) -> unknown; other items -> wrong. A "(..)" reference (a
  tuple, point or interval) keeps the order-sensitive verdict.

Symbolic work runs in a killable worker process (`hrlaif.verify.worker`), and all of it shares
one deadline per check (`timeout_s`): past it the verdict is unknown, never wrong. A response
cut off at max_new_tokens (`truncated=True`) is read by finished cues only: no guess, no
math_verify reading (which would take the last number of an unfinished chain of thought).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hrlaif.verify import Check
from hrlaif.verify.extract import (
    CUES,
    SENTENCE_END_RE,
    all_boxed,
    clean_answer,
    extract_math_answer,
    final_statement,
    stated_items,
    stated_list,
)
from hrlaif.verify.numbers import ASSIGNMENT_RE, MATH_WORDS, WRAPPED_TEXT_RE, decimal_comma_number, numbers_equal, parse_number
from hrlaif.verify.worker import CallFailed, CallTimedOut, Worker

__all__ = ["check_math", "extract_math_answer", "math_equal"]

logger = logging.getLogger(__name__)

# A plain number this long is still compared exactly (decimal handles it in microseconds).
MAX_NUMERIC_CHARS = 100_000
# Anything that needs a parser must be short: real answers are a few dozen characters, and
# math_verify reads at most this much of the end of a response.
MAX_SYMBOLIC_CHARS = 2_000
# Below this much time left in a check, a second reading is not attempted.
MIN_SECOND_READING_S = 0.05

_WORKER = Worker("hrlaif.verify.symbolic")
_LOCAL = threading.local()


def new_worker() -> Worker:
    """A worker process of its own (not started), for `using_worker`."""
    return Worker("hrlaif.verify.symbolic")


def _worker() -> Worker:
    return getattr(_LOCAL, "worker", None) or _WORKER


@contextmanager
def using_worker(worker: Worker) -> Iterator[None]:
    """Checks in this thread use `worker` instead of the shared one: the worker serialises its
    calls, so threads checking at once (the reward server's requests) each need their own, or a
    slow check in one queues the others behind it."""
    previous = getattr(_LOCAL, "worker", None)
    _LOCAL.worker = worker
    try:
        yield
    finally:
        _LOCAL.worker = previous


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾", "0123456789+-()")
_SUPERSCRIPT_RUN_RE = re.compile("[⁰¹²³⁴-⁹⁺⁻⁽⁾]+")


def _powers(text: str) -> str:
    """Unicode superscripts as powers: "2²" is 2^2 and "10⁻³" 10^{-3}, not 2 and 10 (no
    reader sees a superscript as an exponent: math_verify read "2²" as 2)."""
    if not _SUPERSCRIPT_RUN_RE.search(text):
        return text

    def power(match: re.Match) -> str:
        exponent = match.group(0).translate(_SUPERSCRIPTS)
        return f"^{exponent}" if len(exponent) == 1 else f"^{{{exponent}}}"

    return _SUPERSCRIPT_RUN_RE.sub(power, text)


def _symbolic(call: str, args: list[str], timeout_s: float) -> list:
    """A call of `hrlaif.verify.symbolic` in the worker; a timeout or crash becomes unknown
    (result None, method "timeout" or "error"; an error is logged)."""
    try:
        return _worker().call(call, args, timeout_s)
    except CallTimedOut as exc:
        return [None, "timeout", str(exc)]
    except CallFailed as exc:
        logger.warning("math verifier: the symbolic worker failed in %s: %s", call, exc)
        return [None, "error", str(exc)]


class _Deadline:
    """One check's time budget, shared by its calls into the worker. The worker's first boot
    (importing sympy, once per process) is not charged to it, as no single call is charged."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s
        self._worker = _worker()
        self._free_at_start = self._worker.free_boot_s

    def left(self) -> float:
        return self._end + (self._worker.free_boot_s - self._free_at_start) - time.monotonic()


# ---------------------------------------------------------------------------------------------
# Comparing an extracted answer


def _squash(s: str) -> str:
    """Whitespace-insensitive form for an exact match; "2 3" must not become "23"."""
    return re.sub(r"\s+", "", re.sub(r"(?<=\d)\s+(?=\d)", "_", s))


_PROSE_RE = re.compile(r"[A-Za-z][A-Za-z' -]*")


def _prose(s: str) -> str | None:
    """The lower-cased words if `s` is words rather than math ("no solution", "yes"), else None."""
    s = WRAPPED_TEXT_RE.sub(lambda m: m.group(1), s).strip()
    if len(s) > 200 or not _PROSE_RE.fullmatch(s):
        return None
    words = re.findall(r"[a-z']+", s.lower())
    if not any((len(w) >= 3 or w == "no") and w not in MATH_WORDS for w in words):
        return None  # "x", "ab", "pi": symbols, not words
    return " ".join(words)


def _compare(reference: str, answer: str, timeout_s: float) -> tuple[bool | None, str, str]:
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    ref = clean_answer(_powers(reference[: MAX_NUMERIC_CHARS + 100]))
    ans = clean_answer(_powers(answer[: MAX_NUMERIC_CHARS + 100]))
    if not ref:
        return None, "empty_reference", "the reference is empty"
    if not ans:
        return None, "empty_answer", "the answer is empty"
    if len(ref) > MAX_NUMERIC_CHARS or len(ans) > MAX_NUMERIC_CHARS:
        return None, "too_long", f"longer than {MAX_NUMERIC_CHARS} characters"
    ref_number, ans_number = parse_number(ref), parse_number(ans)
    ref_var, ans_var = ASSIGNMENT_RE.match(ref), ASSIGNMENT_RE.match(ans)
    if ref_var and ans_var and _squash(ref[: ref.index("=")]) != _squash(ans[: ans.index("=")]):
        ref_number = None  # "x = 5" and "y = 5" answer different questions: let the parser see both
    comma = decimal_comma_number(ans) if ref_number is not None else None
    if comma is not None and numbers_equal(ref_number, comma):
        # "3,5" for 3.5: a decimal comma. Where "1,500" also reads as thousands (1500, not the
        # reference 1.5) the two readings disagree, and a "wrong" would not be sure.
        if ans_number is None:
            return True, "numeric", "same number, read with a decimal comma (no thousands reading fits)"
        if not numbers_equal(ref_number, ans_number):
            return None, "ambiguous", f"{ans!r} is the reference read with a decimal comma, not read with a thousands separator"
    if ref_number is not None and ans_number is not None:
        equal = numbers_equal(ref_number, ans_number)
        return equal, "numeric", "same number" if equal else "different numbers"
    if _squash(ref) == _squash(ans):
        return True, "exact", "identical after normalisation"
    ref_words, ans_words = _prose(ref), _prose(ans)
    if ref_words is not None or ans_words is not None:
        # math_verify reads words as products of symbols ("no solution" = n*o*s*...), which
        # would call "the answer is unclear" wrong; words are compared as words instead.
        if ref_words is None or ans_words is None:
            return None, "not_math", "words where the reference is math (or the reverse)"
        equal = ref_words == ans_words
        return equal, "text", "same words" if equal else "different words"
    if len(ref) > MAX_SYMBOLIC_CHARS or len(ans) > MAX_SYMBOLIC_CHARS:
        return None, "too_long", f"not a plain number and longer than {MAX_SYMBOLIC_CHARS} characters"
    result, method, detail = _symbolic("compare", [ref, ans], timeout_s)
    return result, method, detail


def math_equal(reference: str, answer: str, timeout_s: float = 2.0) -> tuple[bool | None, str]:
    """Whether `answer` equals `reference`: (True/False, method), or (None, why) if unknown.

    Plain numbers are compared here ("numeric"); anything else goes to math_verify / sympy in a
    worker process bounded by `timeout_s` (None, "timeout" when it overruns).
    """
    result, method, _ = _compare(reference, answer, timeout_s)
    return result, method


# ---------------------------------------------------------------------------------------------
# Checking a response


def _reference_answer(reference: str) -> str:
    """A reference may be a full worked solution (GSM8K's "... #### 42", MATH's \\boxed{})."""
    if "####" in reference or "\\boxed" in reference or "\\fbox" in reference:
        found = extract_math_answer(reference)
        if found is not None and found[1] in ("hash", "boxed"):
            return found[0]
    return reference


def _response_tail(response: str) -> str | None:
    """The end of `response` that math_verify may read whole: all of a short response, the
    lines of the last MAX_SYMBOLIC_CHARS of a long one, None if that has no line break (the
    cut would fall inside the answer)."""
    if len(response) <= MAX_SYMBOLIC_CHARS:
        return response
    tail = response[-MAX_SYMBOLIC_CHARS:]
    newline = tail.find("\n")
    return tail[newline + 1 :] if newline >= 0 else None


_MATH_DELIMITERS_RE = re.compile(r"\$|\\\(|\\\[|\\boxed")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
# What math_verify's extraction needs to find anything: a digit, or LaTeX ($, \(, \[, \frac).
_READABLE_RE = re.compile(r"[\d$\\]")
_LATEX_COMMAND_RE = re.compile(r"\\(?:begin|end)\s*\{[A-Za-z*]+\}|\\[A-Za-z]+")


def _bare_math(text: str) -> bool:
    """Whether `text` is one short line of math without delimiters ("x \\ge 9", "x<=8"):
    math_verify only reads LaTeX between delimiters, so such an answer is wrapped in $..$."""
    if len(text) > 200 or "\n" in text.strip() or _MATH_DELIMITERS_RE.search(text):
        return False
    words = _WORD_RE.findall(_LATEX_COMMAND_RE.sub(" ", text))
    return all(w.lower() in MATH_WORDS for w in words)


def _read_whole(ref: str, response: str, deadline: _Deadline) -> tuple[bool | None, str, str, str | None]:
    """math_verify's own reading of the response against `ref`, in what is left of the deadline.

    One correction to it: where the answer it read is, as written, a plain number equal to the
    reference ("1 202 974", which as LaTeX it reads as a product), that equality stands."""
    left = deadline.left()
    if left < MIN_SECOND_READING_S:
        return None, "timeout", "no time left for math_verify's reading of the response", None
    ref = clean_answer(ref)
    tail = _response_tail(response)
    if tail is None or not ref or len(ref) > MAX_SYMBOLIC_CHARS or _prose(ref) is not None:
        return None, "unread", "the response or the reference is not for math_verify to read", None
    if _bare_math(tail):
        tail = f"${tail.strip()}$"
    elif not _READABLE_RE.search(tail):
        return None, "no_answer", "no digit and no LaTeX: nothing math_verify could read", None
    result, method, detail, *found = _symbolic("read_and_compare", [ref, tail], left)
    extracted = found[0] if found else None
    if result is False and extracted is not None:
        read = clean_answer(extracted)
        ref_number, read_number = parse_number(ref), parse_number(read)
        if ref_number is not None and read_number is not None and numbers_equal(ref_number, read_number):
            return True, "numeric", f"math_verify read {extracted[:80]!r}, as a plain number it equals the reference", extracted
        comma = decimal_comma_number(read) if ref_number is not None and read_number is None else None
        if comma is not None and numbers_equal(ref_number, comma):  # "3,5" read as the list {3, 5}
            return True, "numeric", f"math_verify read {extracted[:80]!r}, with a decimal comma it equals the reference", extracted
    return result, method, detail, extracted


# Our comparisons that are sure of a "different": two plain numbers, two texts, or a
# math_verify "equal" vetoed by the second opinion (reported as "numeric").
_SURE_METHODS = ("numeric", "text", "exact")
# Our "unknown"s that math_verify's own reading of the response may still settle.
_READABLE_UNKNOWNS = ("unparseable", "not_math")


def _listed(response: str, how: str) -> str | None:
    """The other reading of a cue that states several answers: every closed \\boxed{} of the
    response, or every math group after "the answer is", joined by ", "; None if only one."""
    if how == "boxed":
        boxes = all_boxed(response)
        return ", ".join(boxes) if len(boxes) > 1 else None
    if how in ("answer_is", "answer_label"):
        return stated_list(response)
    return None


_COMPARISON_RE = re.compile(
    r"\d[^\n=]*?\b(?:is|are|was|were|'s)\s+(?:not\s+)?(?:much\s+|slightly\s+|a\s+lot\s+)?"
    r"(?:larger|greater|bigger|smaller|less|more|fewer|higher|lower|longer|shorter|heavier|lighter|older|younger)"
    r"\s+than\s+[^\d\n=,;]{0,30}[+-]?\d[\d.,]*\s*[A-Za-z%$ ]{0,20}[.!?]?\s*$",  # ends at the other number
    re.IGNORECASE,
)


def _ends_in_comparison(response: str) -> bool:
    """Whether the last sentence compares two numbers ("12 is larger than 56."): its last number
    is one side of the comparison, not an answer, and math_verify would read it as one."""
    sentences = [part for part in SENTENCE_END_RE.split(response.strip()) if part.strip()]
    return bool(sentences) and _COMPARISON_RE.search(sentences[-1]) is not None


_PLAIN_NUMBER_RE = re.compile(r"(?<![\w.^])-?\d+(?:\.\d+)?(?![\w.^]*\d)")
_NEITHER_RE = re.compile(r"\b(?:neither|nor|not|no|between|either|or)\b", re.IGNORECASE)


def _weighs_numbers(response: str) -> bool:
    """Whether the last sentence that holds a number weighs two different numbers against each
    other ("Neither 12 nor 56.", "Is 12 bigger than 56? No.", "either 12 or 56"): its last number
    is one side, not an answer, so a guess taken from it is neither right nor wrong."""
    sentences = [part for part in SENTENCE_END_RE.split(response.strip()) if re.search(r"\d", part)]
    if not sentences:
        return False
    last = sentences[-1]
    numbers = {n.lstrip("-") for n in _PLAIN_NUMBER_RE.findall(last)}
    return len(numbers) >= 2 and (_NEITHER_RE.search(last) is not None or last.rstrip().endswith("?") or _COMPARISON_RE.search(last) is not None)


_ASSIGNED_RE = re.compile(r"^([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*")


def _same_items(reference: list[str], stated: list[str], deadline: _Deadline) -> str | None:
    """How `stated` matches `reference` item by item: "same_order", "reordered" (the same
    multiset), "undecided" (some item pair could not be compared), or None (they differ)."""
    n = len(reference)
    if len(stated) != n:
        return None
    stated = [item if ASSIGNMENT_RE.match(ref) else _ASSIGNED_RE.sub("", item) for ref, item in zip(reference, stated)]
    cache: dict[tuple[int, int], bool | None] = {}

    def equal(i: int, j: int) -> bool | None:
        if (i, j) not in cache:
            left = deadline.left()
            cache[i, j] = _compare(reference[i], stated[j], left)[0] if left > 0 else None
        return cache[i, j]

    if all(equal(i, i) is True for i in range(n)):
        return "same_order"

    def matched(allowed: tuple) -> bool:  # a perfect matching by augmenting paths (n <= MAX_BOXES)
        owner = [-1] * n

        def augment(i: int, seen: set[int]) -> bool:
            for j in range(n):
                if j not in seen and equal(i, j) in allowed:
                    seen.add(j)
                    if owner[j] < 0 or augment(owner[j], seen):
                        owner[j] = i
                        return True
            return False

        return all(augment(i, set()) for i in range(n))

    return "reordered" if matched((True,)) else "undecided" if matched((True, None)) else None


def _list_reading(wrong: Check, response: str, ref: str, deadline: _Deadline, truncated: bool) -> Check:
    """A "wrong" against a reference that lists several answers, checked once more against the
    response's stated list (see the module docstring); `wrong` stands where that list differs."""
    reference = stated_items(clean_answer(ref))
    if reference is None or reference.doubtful or reference.brackets == "(":
        return wrong  # not a list, or a tuple / interval / point, where order matters
    found = extract_math_answer(response, truncated=truncated)
    if found is not None and found[1] in CUES:
        statement, more = _listed(response, found[1]) or found[0], False
    elif truncated or (final := final_statement(response)) is None:
        return wrong
    else:
        statement, more = final
    stated = stated_items(statement)
    how = _same_items(reference.items, stated.items, deadline) if stated is not None else None
    if how is None:
        return wrong
    unordered = reference.brackets in ("", "\\{")
    interval = reference.brackets == "[" and len(reference.items) == 2 and stated.brackets != "["  # "[1, 3]"
    names = {m.group(1) for m in map(_ASSIGNED_RE.match, stated.items) if m}
    several = len(names) > 1 and not any(map(ASSIGNMENT_RE.match, reference.items))  # "x = 2 and y = 3" for "2, 3"
    sure = not (stated.doubtful or more or stated.brackets == "(" or interval or several)
    correct = sure and (how == "same_order" or (how == "reordered" and unordered))
    said = {"same_order": "the same items", "reordered": "the same items in another order", "undecided": "items that could not all be compared"}[how]
    detail = f"{statement[:80]!r} states {said} as the reference's list; {wrong.detail}"
    return Check(correct=True if correct else None, extracted=", ".join(stated.items)[:1000], method=f"list+{how}", detail=detail)


def _check(response: str, reference: str, timeout_s: float, truncated: bool) -> Check:
    deadline = _Deadline(timeout_s)
    response, reference = _powers(response), _powers(reference)  # both readings see the powers
    verdict = _verdict(response, reference, deadline, truncated)
    if verdict.correct is False:
        return _list_reading(verdict, response, _reference_answer(reference), deadline, truncated)
    return verdict


def _verdict(response: str, reference: str, deadline: _Deadline, truncated: bool) -> Check:
    timeout_s = deadline.timeout_s
    ref = _reference_answer(reference)
    if not truncated and len(response) <= MAX_SYMBOLIC_CHARS:
        whole = clean_answer(response)
        if whole and _squash(whole) == _squash(clean_answer(ref)):
            return Check(correct=True, extracted=whole, method="whole+exact", detail="the response is the reference")

    found = extract_math_answer(response, truncated=truncated)
    if (found is None or found[1] not in CUES) and _ends_in_comparison(response[-MAX_SYMBOLIC_CHARS:]):
        why = "the response ends by comparing two numbers, which answers neither"
        return Check(correct=None, extracted=None, method="comparison", detail=why)
    if (found is None or found[1] == "last_number") and _weighs_numbers(response[-MAX_SYMBOLIC_CHARS:]):
        why = "the response's last numbers are weighed against each other (neither/nor, or, a question), which answers neither"
        return Check(correct=None, extracted=None, method="comparison", detail=why)
    if found is None:
        if truncated:
            why = "cut off at max_new_tokens before a finished final answer; its last number is not read"
            return Check(correct=None, extracted=None, method="truncated", detail=why)
        mv = _read_whole(ref, response, deadline)
        if mv[0] is None and mv[1] in ("no_answer", "unread"):
            return Check(correct=None, extracted=None, method="no_answer", detail="no answer found in the response")
        return Check(correct=mv[0], extracted=mv[3], method=f"math_verify+{mv[1]}", detail=mv[2])

    answer, how = found
    left = deadline.left()
    if left <= 0:
        return Check(correct=None, extracted=answer[:1000], method=f"{how}+timeout", detail=f"no decision within {timeout_s:g}s")
    result, method, detail = _compare(ref, answer, left)
    joined = _listed(response, how) if result is not True else None
    if joined is not None and deadline.left() > 0:
        # Several boxes, or "the answer is $3$ and $2$", state a set that answers "2, 3". The
        # last box (the first group) alone is one reading, all of them together another; wrong
        # needs both.
        together, how_together, said = _compare(ref, joined, deadline.left())
        if together is True:
            return Check(correct=True, extracted=joined[:1000], method=f"{how}_set+{how_together}",
                         detail=f"the answers stated together: {said}")
        if together is None and result is False:
            detail = f"{answer[:80]!r} differs ({detail}); the answers stated together, {joined[:80]!r}, cannot be compared: {said}"
            result, method = None, how_together
    ours = Check(correct=result, extracted=answer[:1000], method=f"{how}+{method}", detail=detail)
    if how in CUES:
        if result is True or truncated or method in _SURE_METHODS:
            return ours
        if result is None and method not in _READABLE_UNKNOWNS:
            return ours  # timed out, too long, empty: math_verify would not read it better
        mv = _read_whole(ref, response, deadline)
        if mv[0] is True or (result is None and mv[0] is False):
            detail = f"{how} read {answer[:80]!r} ({method}: {detail}); math_verify's reading decides: {mv[2]}"
            return Check(correct=mv[0], extracted=mv[3], method=f"math_verify+{mv[1]}", detail=detail)
        return ours

    # A guess. A guessed number on the last "... = 42" line that equals the reference is taken
    # as it is; anything else needs math_verify's reading of the whole response.
    if result is True and how == "equals" and method == "numeric":
        return ours
    if method == "ambiguous":
        return ours  # two readings of the number: neither reading of the whole response decides
    mv = _read_whole(ref, response, deadline)
    if mv[0] is True or (mv[0] is False and result is not True):
        return Check(correct=mv[0], extracted=mv[3], method=f"math_verify+{mv[1]}", detail=mv[2])
    if mv[0] is False:  # the guess matched, math_verify read something different
        detail = f"the guessed {how} {answer[:80]!r} matches, but math_verify read {mv[3]!r}: {mv[2]}"
        return Check(correct=None, extracted=answer[:1000], method=f"{how}+conflict", detail=detail)
    if result is True:
        return ours  # math_verify could not read it; the guess is all there is
    detail = f"a guessed answer is never called wrong on its own ({method}: {detail}); math_verify: {mv[2]}"
    return Check(correct=None, extracted=answer[:1000], method=f"{how}+unconfirmed", detail=detail)


def check_math(response: str, reference: str, timeout_s: float = 2.0, truncated: bool = False) -> Check:
    """Check a math response; never raises on a hostile response and never hangs.

    `timeout_s` bounds the whole check; `truncated` says the response was cut off at
    max_new_tokens, so only a finished explicit answer counts (else unknown, method
    "truncated"). A failure inside the verifier is logged and reported as method "error".
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    try:
        return _check(response, reference, timeout_s, truncated)
    except Exception as exc:  # noqa: BLE001 - one bad record must not crash a labelling run
        logger.warning("math verifier failed (response of %d chars): %s", len(response), exc, exc_info=True)
        return Check(correct=None, extracted=None, method="error", detail=f"{type(exc).__name__}: {str(exc)[:200]}")
