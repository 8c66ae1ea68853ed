"""Symbolic comparison with math_verify and sympy: the code that runs inside the worker process.

Parsing and simplifying LaTeX can take unbounded time or memory on crafted input
(``10^{10^{10}}``, deep nesting), so nothing here is called in the labeling process itself:
`hrlaif.verify.worker` runs these functions in a child process that is killed at the deadline.
math_verify's own signal-based timeouts only work on a main thread, so they are switched off.

Two calls, both returning JSON-ready tuples:

- `compare(ref, ans)`: an answer we extracted, against the reference.
- `read_and_compare(ref, response)`: math_verify's own extraction on the response (LaTeX and
  plain expressions), against the reference: how math_verify alone would judge it.

math_verify has said "equal" for different things (Math-Verify issues #14 and #60): equations
that are not multiples of each other, and values that agree only to its 6 rounded decimals
(1/2004! and 1/2006!). `_second_opinion` vetoes those, and only those: a veto needs both sides
exact (no decimal approximations), so an answer math_verify accepts as a rounded value is never
turned into "wrong" here.
"""

from __future__ import annotations

import re

# math_verify and sympy are imported inside the functions on purpose: they take seconds to load,
# the worker loads them in `warm_up` before its first call is timed, and importing this module
# for its names (tests, `CALLS`) need not pay for them.

__all__ = ["CALLS", "compare", "read_and_compare", "warm_up"]

# The functions a worker may be asked to run, by name.
CALLS = ("compare", "read_and_compare")
# How far apart two exact values must be for the second opinion to overrule math_verify.
VETO_TOLERANCE = "1e-5"


def _parse_reference(ref: str) -> list:
    """`ref` as math_verify reads it: as LaTeX, else as a plain expression ("1 000", "3/4")."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    latex, expression = [LatexExtractionConfig()], [ExprExtractionConfig()]
    gold = parse(f"${_latexify(ref)}$", extraction_config=latex, fallback_mode="no_fallback", parsing_timeout=None)
    if not gold:
        gold = parse(ref, extraction_config=expression, fallback_mode="no_fallback", parsing_timeout=None)
    return gold


def compare(ref: str, ans: str) -> tuple[bool | None, str, str]:
    """math_verify, then sympy, on an extracted answer; returns (result, method, detail)."""
    import sympy
    from math_verify import LatexExtractionConfig, parse, verify

    # LaTeX only for an extracted answer: it was cut out of its sentence, so the plain-expression
    # reader would only see fragments of it.
    config = [LatexExtractionConfig()]
    # no_fallback: an unparseable side must come back empty (unknown), not as a raw string that
    # then compares unequal (wrong).
    gold = parse(f"${_latexify(ref)}$", extraction_config=config, fallback_mode="no_fallback", parsing_timeout=None)
    pred = parse(f"${_latexify(ans)}$", extraction_config=config, fallback_mode="no_fallback", parsing_timeout=None)
    if gold and pred:
        if verify(gold, pred, timeout_seconds=None):
            veto = _second_opinion(gold[0], pred[0], ref, ans)
            if veto:
                return False, "numeric", f"math_verify said equal, but {veto}"
            return True, "math_verify", "math_verify found them equivalent"
        if _simplifies_to_zero(gold[0], pred[0]):
            return True, "sympy", "simplify(reference - answer) == 0"
        return False, "math_verify", "math_verify found them different"

    from latex2sympy2_extended import latex2sympy

    try:
        g = gold[0] if gold else latex2sympy(_latexify(ref))
        p = pred[0] if pred else latex2sympy(_latexify(ans))
    except Exception as exc:  # noqa: BLE001 - any parser failure means "cannot tell"
        side = "reference" if not gold else "answer"
        return None, "unparseable", f"could not parse the {side}: {type(exc).__name__}"
    if _simplifies_to_zero(g, p):
        return True, "sympy", "simplify(reference - answer) == 0"
    try:
        diff = sympy.simplify(g - p)
        if diff.is_number and diff.is_zero is False:
            return False, "sympy", "reference - answer simplifies to a nonzero number"
    except Exception:  # noqa: BLE001 - sympy raises anything on odd input; then it cannot tell
        pass
    return None, "unparseable", "neither math_verify nor sympy could decide"




def read_and_compare(ref: str, response: str) -> tuple[bool | None, str, str, str | None]:
    """math_verify's own reading of the whole response against `ref`: (result, method, detail, extracted).

    Its extraction targets are LaTeX (``$..$``, ``\\[..\\]``, ``\\boxed{}``, "final answer is")
    and plain expressions ("1/3", "1 000", "25%"), rightmost first. The plain-expression reader
    hands its match to sympy's ``parse_expr`` (which evaluates Python), but its pattern admits
    only digits, spaces, ``.`` and ``+-*/^()×÷``: no name can reach ``eval``.
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    gold = _parse_reference(ref)
    if not gold:
        return None, "unparseable", "math_verify could not parse the reference", None
    # first_match: the raw text of the match rides along as a string, so that an answer
    # math_verify found but could not parse is reported (and stays unknown, never wrong).
    targets = [LatexExtractionConfig(), ExprExtractionConfig()]
    found = parse(response, extraction_config=targets, fallback_mode="first_match", parsing_timeout=None)
    parsed = [p for p in found if not isinstance(p, str)]
    text = next((p for p in found if isinstance(p, str)), None)
    if not parsed:
        if text is None:
            return None, "no_answer", "math_verify found no answer in the response", None
        return None, "unparseable", "math_verify found an answer it could not parse", text[:1000]
    extracted = (text if text is not None else str(parsed[0]))[:1000]
    if verify(gold, parsed, timeout_seconds=None):
        veto = _second_opinion(gold[0], parsed[0], ref, response)
        if veto:
            return False, "numeric", f"math_verify said equal, but {veto}", extracted
        return True, "math_verify", "math_verify read the response and found them equivalent", extracted
    return False, "math_verify", "math_verify read the response and found them different", extracted


def warm_up() -> None:
    """Import everything and exercise both calls once, so the first real check is not slow."""
    compare("1", "1")
    read_and_compare("1", "so $x = 1$")


_BARE_NAMES_RE = re.compile(r"(?<![\\A-Za-z])(pi|sin|cos|tan|log|ln|infty)(?![A-Za-z])")


def _latexify(s: str) -> str:
    """Plain-text math into LaTeX for math_verify: "25%" -> "25\\%", "pi" -> "\\pi" (else p*i)."""
    s = re.sub(r"(?<!\\)%", r"\\%", s)
    s = re.sub(r"(?<![\\A-Za-z])(?:infinity|inf)(?![A-Za-z])", r"\\infty", s)
    return _BARE_NAMES_RE.sub(r"\\\1", s)


def _simplifies_to_zero(a, b) -> bool:
    import sympy

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    try:
        return sympy.simplify(a - b) == 0
    except Exception:  # noqa: BLE001 - sympy raises anything on odd input; not shown equal
        return False


def _second_opinion(gold, pred, ref: str, ans: str) -> str:
    """Why math_verify's "equal" is wrong, or "" if it stands.

    math_verify rounds to 6 decimals (so 1/2004! "equals" 1/2006!) and has matched different
    equations; exact values are re-checked with a relative tolerance and equations must be
    multiples of each other. A side with a decimal in it keeps math_verify's verdict.
    """
    import sympy

    try:
        if isinstance(gold, sympy.Equality) and isinstance(pred, sympy.Equality):
            f, g = gold.lhs - gold.rhs, pred.lhs - pred.rhs
            if f == 0 or g == 0:
                return ""
            ratio = sympy.simplify(f / g)
            if ratio.free_symbols or ratio == 0:
                return "the equations are not multiples of each other"
            return ""
        if "%" in ref or "%" in ans:  # math_verify matches 25% with both 25 and 0.25 on purpose
            return ""
        if isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr):
            if gold.free_symbols or pred.free_symbols:
                return ""
            vg, vp = sympy.N(gold, 30), sympy.N(pred, 30)
            if gold.atoms(sympy.Float) or pred.atoms(sympy.Float):
                return ""  # a decimal approximation: math_verify's rounding rules stand
            if vg.is_real and vp.is_real and vg.is_finite and vp.is_finite:
                diff = abs(vg - vp)
                # "clearly" different: 0.333333 for 1/3 (1e-6 off) keeps math_verify's "equal"
                if diff > sympy.Float(VETO_TOLERANCE, 30) * max(abs(vg), abs(vp)):
                    return f"the values differ ({sympy.N(vg, 8)} vs {sympy.N(vp, 8)})"
    except Exception:  # noqa: BLE001 - a failed second opinion leaves math_verify's verdict
        return ""
    return ""
