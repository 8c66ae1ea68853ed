"""Math answer verification: pull the final answer out of a response and compare it with the reference.

Three pieces, in three modules, all bounded in time:

- Extraction (`hrlaif.verify.extract`) and plain-number comparison (`hrlaif.verify.numbers`) run
  here, with regexes and `decimal` only. They are linear in the input, and inputs are capped
  first, so a hostile response cannot stall them.
- Symbolic comparison (math_verify, with a sympy fallback: `hrlaif.verify.symbolic`) can take
  unbounded time or memory on crafted input (``10^{10^{10}}``, deep nesting). It runs in a
  separate worker process (`hrlaif.verify.worker`) that is killed when a check passes its
  deadline; math_verify's own signal-based timeouts only work on the main thread, so they are
  switched off and the deadline is enforced here instead.

Plain numbers never reach math_verify: it rounds to 6 decimals and has said "equal" for
different equations (Math-Verify issues #14 and #60), so numbers are compared exactly (integers)
or with a 1e-6 relative tolerance, and a math_verify "equal" is vetoed when the numeric values
clearly differ.
"""

from __future__ import annotations

import re

from hrlaif.verify import Check
from hrlaif.verify.extract import clean_answer, extract_math_answer
from hrlaif.verify.numbers import ASSIGNMENT_RE, MATH_WORDS, WRAPPED_TEXT_RE, numbers_equal, parse_number
from hrlaif.verify.worker import CallFailed, CallTimedOut, Worker

__all__ = ["check_math", "extract_math_answer", "math_equal"]

# A plain number this long is still compared exactly (decimal handles it in microseconds).
MAX_NUMERIC_CHARS = 100_000
# Anything that needs a parser must be short: real answers are a few dozen characters.
MAX_SYMBOLIC_CHARS = 2_000

_WORKER = Worker("hrlaif.verify.symbolic")


def _symbolic(call: str, args: list[str], timeout_s: float) -> list:
    """A call of `hrlaif.verify.symbolic` in the worker; a timeout or crash becomes unknown."""
    try:
        return _WORKER.call(call, args, timeout_s)
    except CallTimedOut as exc:
        return [None, "timeout", str(exc)]
    except CallFailed as exc:
        return [None, "error", str(exc)]


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
    ref = clean_answer(reference[: MAX_NUMERIC_CHARS + 100])
    ans = clean_answer(answer[: MAX_NUMERIC_CHARS + 100])
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


def check_math(response: str, reference: str, timeout_s: float = 2.0) -> Check:
    """Check a math response; never raises on a hostile response and never hangs."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    try:
        found = extract_math_answer(response)
        if found is None:
            return Check(correct=None, extracted=None, method="no_answer", detail="no answer found in the response")
        answer, how = found
        result, method, detail = _compare(_reference_answer(reference), answer, timeout_s)
    except Exception as exc:  # noqa: BLE001 - one bad record must not crash a labelling run
        return Check(correct=None, extracted=None, method="error", detail=f"{type(exc).__name__}: {str(exc)[:200]}")
    return Check(correct=result, extracted=answer[:1000], method=f"{how}+{method}", detail=detail)
