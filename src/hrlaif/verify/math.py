"""Math answer verification: pull the final answer out of a response and compare it with the reference.

Two halves, both bounded in time:

- Extraction and plain-number comparison run here, with regexes and `decimal` only. They are
  linear in the input, and inputs are capped first, so a hostile response cannot stall them.
- Symbolic comparison (math_verify, with a sympy fallback) can take unbounded time or memory
  on crafted input (``10^{10^{10}}``, deep nesting). It runs in a separate worker process that
  is killed when a check passes its deadline; math_verify's own signal-based timeouts only work
  on the main thread, so they are switched off and the deadline is enforced here instead.

Plain numbers never reach math_verify: it rounds to 6 decimals and has said "equal" for
different equations (Math-Verify issues #14 and #60), so numbers are compared exactly (integers)
or with a 1e-6 relative tolerance, and a math_verify "equal" is vetoed when the numeric values
clearly differ.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path

from hrlaif.verify import Check

__all__ = ["check_math", "extract_math_answer", "math_equal"]

# Answers sit at the end of a response, so only the tail of a very long one is searched.
MAX_RESPONSE_CHARS = 200_000
# A plain number this long is still compared exactly (decimal handles it in microseconds).
MAX_NUMERIC_CHARS = 100_000
# Anything that needs a parser must be short: real answers are a few dozen characters.
MAX_SYMBOLIC_CHARS = 2_000
RELATIVE_TOLERANCE = Decimal("1e-6")
# How far apart two values must be for the numeric second opinion to overrule math_verify.
VETO_TOLERANCE = Decimal("1e-5")
# Starting the first worker (importing sympy and math_verify) is not charged to a check's
# deadline; a replacement started after a timeout is (it boots in the background meanwhile).
WORKER_STARTUP_S = 60.0
# Address-space cap for the worker, so a crafted power tower fails with MemoryError instead of
# swapping the machine.
WORKER_MEMORY_BYTES = 2 * 1024**3

_SRC_ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------------------
# Cleaning


_LATEX_SPACES = re.compile(r"\\[,;:! ]|~|\\quad|\\qquad")
_SIZING_RE = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])")
_TRAILING_PUNCT = ".,;:!?"


def _clean(answer: str) -> str:
    """Strip the wrapping a model puts around an answer: $..$, \\(..\\), bold, trailing punctuation."""
    s = answer.strip()
    for _ in range(3):  # "**$42$**." needs several passes; bounded so it cannot loop
        before = s
        s = s.strip().strip("*").strip()
        s = s.rstrip(_TRAILING_PUNCT).strip()
        for open_, close in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
            if s.startswith(open_) and s.endswith(close) and len(s) >= len(open_) + len(close):
                s = s[len(open_) : len(s) - len(close)].strip()
                break
        if s.startswith("\\displaystyle"):
            s = s[len("\\displaystyle") :]
        if s == before:
            break
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _SIZING_RE.sub("", s).replace("{,}", ",").replace("\u2212", "-")
    s = _LATEX_SPACES.sub(" ", s)
    return s.strip().rstrip(_TRAILING_PUNCT).strip()


# ---------------------------------------------------------------------------------------------
# Extraction


def _balanced_group(text: str, start: int) -> str | None:
    """Content of the brace group opening at text[start] ("{"), or None if it never closes.

    A regex cannot match nested braces; this scan is linear. ``\\{`` and ``\\}`` are literal
    braces in LaTeX (set notation) and do not open or close a group.
    """
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def _find_boxed(text: str) -> str | None:
    """The last non-empty \\boxed{...} / \\fbox{...} (nested braces allowed)."""
    end = len(text)
    for _ in range(5):  # only the last few candidates: unclosed ones would make this quadratic
        starts = [(text.rfind(name, 0, end), name) for name in ("\\boxed", "\\fbox")]
        i, name = max(starts)
        if i < 0:
            return None
        j = i + len(name)
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            content = _balanced_group(text, j)
            if content is not None and content.strip():
                return content
        elif j > i + len(name):  # "\boxed 5": the next token
            token = re.match(r"[^\s$]+", text[j : j + 200])
            if token:
                return token.group(0)
        end = i
    return None


_ANSWER_RE = re.compile(
    r"\b(?P<final>final\s+|correct\s+)?answer\b\s{0,3}(?:\*{1,2}\s{0,3})?"
    r"(?P<verb>is\b|will\s+be\b|would\s+be\b|should\s+be\b|=|:)",
    re.IGNORECASE,
)
# Where the answer after "the answer is" ends: a newline, a sentence end ("." followed by a
# space; a decimal point is followed by a digit) or a clause that starts explaining.
_ANSWER_END_RE = re.compile(
    r"\n|\.(?=\s|$)|[;!?](?=\s|$)|,?\s+(?:because|since|as|so|which|but|and\s+so|therefore)\b",
    re.IGNORECASE,
)
_NUMBER_TOKEN_RE = re.compile(
    r"\\frac\{[+-]?\d+(?:\.\d+)?\}\{[+-]?\d+(?:\.\d+)?\}"
    r"|(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:\s?%)?(?![\d,]\d)"
    r"|(?<![\w.])-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?(?:\s?%)?"
)


_ANSWER_TAIL_CHARS = 600


def _take_answer(tail: str) -> str:
    """The answer at the start of `tail` (the text after "the answer is" / "Answer:")."""
    tail = tail.lstrip(" \t*:").lstrip()
    for open_, close in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if tail.startswith(open_):
            end = tail.find(close, len(open_))
            while close == "$" and end > 0 and tail[end - 1] == "\\":  # "\$" is a dollar sign
                end = tail.find(close, end + 1)
            if end > len(open_):
                return tail[len(open_) : end]
            tail = tail[len(open_) :]  # a lone "$" is a currency sign
            break
    parts = _ANSWER_END_RE.split(tail, maxsplit=1)
    if len(parts) == 1 and len(tail) >= _ANSWER_TAIL_CHARS - 10:
        return ""  # no end in sight: a truncated answer would be judged wrong, not unknown
    return parts[0]


def _looks_like_answer(candidate: str) -> bool:
    """Reject prose after "the answer is" ("the answer is the sum of both"): a math answer has a
    digit or LaTeX, or is a few words ("no solution")."""
    if not candidate or candidate.lower().startswith(("not ", "no longer")):
        return False
    return bool(re.search(r"[\d\\^=+]", candidate)) or len(candidate.split()) <= 3


def extract_math_answer(text: str) -> tuple[str, str] | None:
    """Return (answer, method) for the final answer in `text`, or None if there is none.

    Rules, most explicit first: the last ``\\boxed{}`` ("boxed"), GSM8K's ``#### 42``
    ("hash"), the last "the answer is ..." ("answer_is") or "Answer: ..." ("answer_label"),
    a last line ending in ``= 42`` ("equals"), else the last number in the text ("last_number").
    """
    if not text:
        return None
    text = text[-MAX_RESPONSE_CHARS:]

    boxed = _find_boxed(text)
    if boxed is not None:
        answer = _clean(boxed)
        if answer:
            return answer, "boxed"

    i = text.rfind("####")
    if i >= 0:
        answer = _clean(text[i + 4 :].lstrip("#").split("\n", 1)[0])
        if answer:
            return answer, "hash"

    for match in reversed(list(_ANSWER_RE.finditer(text))):
        answer = _clean(_take_answer(text[match.end() : match.end() + _ANSWER_TAIL_CHARS]))
        if _looks_like_answer(answer):
            method = "answer_label" if match.group("verb") == ":" else "answer_is"
            return answer, method

    lines = [line for line in text[-2000:].splitlines() if line.strip()]
    if lines:
        last = _clean(lines[-1])
        eq = last.rfind("=")
        if eq > 0 and last[eq - 1] not in "<>!\\":
            answer = _clean(last[eq + 1 :])
            if answer and len(answer) <= 200 and re.search(r"[\d\\]", answer):
                return answer, "equals"

    last_number = None
    for last_number in _NUMBER_TOKEN_RE.finditer(text):
        pass
    if last_number is not None:
        return _clean(last_number.group(0)), "last_number"
    return None


# ---------------------------------------------------------------------------------------------
# Plain numbers


@dataclass(frozen=True)
class _Number:
    """An exact rational num/den read from the answer; `integer` allows an exact comparison."""

    num: Decimal
    den: Decimal
    integer: bool
    percent: bool


_WRAPPED_TEXT_RE = re.compile(r"\\(?:text|textrm|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|\u00b0")
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?P<rhs>[^=]+)$")
# Words that are math, not units: "2 pi" is not 2.
_MATH_WORDS = {
    "pi", "e", "i", "sqrt", "log", "ln", "sin", "cos", "tan", "cot", "sec", "csc", "exp", "inf",
    "infty", "infinity", "or", "and", "max", "min", "mod", "gcd", "lcm", "det",
}  # fmt: skip
_SINGLE_LETTER_UNITS = {"m", "g", "s", "l", "h", "k", "L", "K"}
_TRAILING_UNIT_RE = re.compile(
    r"(?:^|(?<=[\d\s%]))(?P<unit>[A-Za-z]+)(?:\^\{?\d\}?|\d)?(?:/[A-Za-z]+(?:\^\{?\d\}?)?)?\.?$"
)
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACED_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?%?")
_FRACTION_RE = re.compile(
    r"(?P<sign>[+-]?)\s*(?:(?P<whole>\d+)\s*)?\\frac\s*(?:\{\s*(?P<a>[+-]?[\d.]+)\s*\}|(?P<a1>\d))"
    r"\s*(?:\{\s*(?P<b>[+-]?[\d.]+)\s*\}|(?P<b1>\d))"
)
_SLASH_RE = re.compile(r"(?P<a>[+-]?[\d.]+)\s*/\s*(?P<b>[+-]?[\d.]+)")


def _strip_units(s: str) -> str:
    """Drop currency signs and trailing unit words: "$5", "12 cm", "5 dollars", "3 m/s"."""
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "%")
    s = _DEGREE_RE.sub("", s)
    s = _WRAPPED_TEXT_RE.sub(lambda m: f" {m.group(1)} ", s).strip()
    for _ in range(4):  # "12 square feet": a few unit words at most
        match = _TRAILING_UNIT_RE.search(s)
        if not match:
            break
        unit = match.group("unit")
        if unit.lower() == "percent":
            s = s[: match.start()].strip() + "%"
            continue
        if unit.lower() in _MATH_WORDS or (len(unit) == 1 and unit not in _SINGLE_LETTER_UNITS):
            break
        rest = s[: match.start()].strip()
        if not rest or rest[-1] not in "0123456789.%":
            if rest and rest.split()[-1].isalpha():  # another unit word before this one
                s = rest
                continue
            break
        s = rest
    return s.strip()


def _decimal(text: str) -> Decimal | None:
    if not _DECIMAL_RE.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _parse_number(answer: str) -> _Number | None:
    """Read `answer` as a plain number (integer, decimal, fraction, percent, with units) or None."""
    s = _strip_units(answer)
    assignment = _ASSIGNMENT_RE.match(s)
    if assignment:  # "x = 5" answers the question "what is x"
        s = assignment.group("rhs").strip()
    # Spaces only join a sign to its number ("- 5"), a fraction ("3 / 4") or thousands
    # ("1 000 000"); "2 3" stays two numbers.
    s = re.sub(r"(?<=[+-])\s+|\s+(?=/)|(?<=/)\s+", "", s)
    if _SPACED_THOUSANDS_RE.fullmatch(s):
        s = s.replace(" ", "")
    percent = s.endswith("%")
    if percent:
        s = s[:-1].rstrip()
    if len(s) > 2 and s[0] == "(" and s[-1] == ")":
        s = s[1:-1]
    if _THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "")

    value = _decimal(s)
    if value is not None:
        integer = not percent and _DECIMAL_RE.fullmatch(s) is not None and not re.search(r"[.eE]", s)
        return _Number(value, Decimal(1), integer, percent)

    match = _FRACTION_RE.fullmatch(s) or _SLASH_RE.fullmatch(s)
    if not match:
        return None
    groups = match.groupdict()
    num = _decimal(groups.get("a") or groups.get("a1") or "")
    den = _decimal(groups.get("b") or groups.get("b1") or "")
    if num is None or den is None or den == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = max(60, len(s) + 10)
        if groups.get("whole"):  # 2\frac{1}{2}: a mixed number, 5/2
            num = Decimal(groups["whole"]) * den + num
        if groups.get("sign") == "-":
            num = -num
    return _Number(num, den, False, percent)


def _ratio_close(a_num: Decimal, a_den: Decimal, b_num: Decimal, b_den: Decimal) -> bool:
    with localcontext() as ctx:
        ctx.prec = 60
        left = a_num * b_den
        right = b_num * a_den
        if left == right:
            return True
        return abs(left - right) <= RELATIVE_TOLERANCE * max(abs(left), abs(right))


def _numbers_equal(ref: _Number, ans: _Number) -> bool:
    """Exact for two integers, 1e-6 relative otherwise; "25%" may mean 25 or 0.25."""
    if ref.integer and ans.integer:
        return ref.num == ans.num  # Decimal compares exactly, whatever the number of digits
    if ref.percent == ans.percent:
        return _ratio_close(ref.num, ref.den, ans.num, ans.den)
    with_pct, without = (ref, ans) if ref.percent else (ans, ref)
    return _ratio_close(with_pct.num, with_pct.den, without.num, without.den) or _ratio_close(
        with_pct.num, with_pct.den * 100, without.num, without.den
    )


# ---------------------------------------------------------------------------------------------
# Symbolic comparison (runs inside the worker process)


def _symbolic_compare(ref: str, ans: str) -> tuple[bool | None, str, str]:
    """math_verify, then sympy; returns (result, method, detail). Unbounded: call it in a worker."""
    import sympy
    from math_verify import LatexExtractionConfig, parse, verify

    # LaTeX only: math_verify's plain-expression extractor feeds text to sympy's parse_expr,
    # which evaluates Python code, and a response is untrusted input.
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
    except Exception:  # noqa: BLE001
        pass
    return None, "unparseable", "neither math_verify nor sympy could decide"


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
    except Exception:  # noqa: BLE001
        return False


def _second_opinion(gold, pred, ref: str, ans: str) -> str:
    """Why math_verify's "equal" is wrong, or "" if it stands.

    math_verify rounds to 6 decimals (so 1/2004! "equals" 1/2006!) and has matched different
    equations; numbers are re-checked with a relative tolerance and equations must be
    multiples of each other.
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
            if vg.is_real and vp.is_real and vg.is_finite and vp.is_finite:
                diff = abs(vg - vp)
                # "clearly" different: 0.333333 for 1/3 (1e-6 off) keeps math_verify's "equal"
                if diff > sympy.Float(str(VETO_TOLERANCE), 30) * max(abs(vg), abs(vp)):
                    return f"the values differ ({sympy.N(vg, 8)} vs {sympy.N(vp, 8)})"
    except Exception:  # noqa: BLE001 - a failed second opinion leaves math_verify's verdict
        return ""
    return ""


def _serve() -> None:
    """Worker main loop: one JSON request a line on stdin, one JSON reply a line on stdout."""
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = WORKER_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(hard, WORKER_MEMORY_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass
    # Keep the protocol channel private: anything a library prints goes to stderr instead.
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    _symbolic_compare("1", "1")  # import and warm up before saying ready
    proto.write('{"ready": true}\n')
    for line in sys.stdin:
        request: dict = {}
        try:
            request = json.loads(line)
            _limit_cpu(float(request.get("timeout", 2.0)))
            result, method, detail = _symbolic_compare(request["ref"], request["ans"])
        except Exception as exc:  # noqa: BLE001 - MemoryError, RecursionError, parser bugs
            result, method, detail = None, "error", f"{type(exc).__name__}: {str(exc)[:200]}"
        if not isinstance(request, dict):
            request = {}
        proto.write(json.dumps({"id": request.get("id"), "result": result, "method": method, "detail": detail}) + "\n")


def _limit_cpu(timeout_s: float) -> None:
    """Let the kernel kill this worker if one check runs far past its deadline.

    The parent kills it on time; this guards the case where the parent died mid-check and the
    worker would otherwise compute a power tower forever.
    """
    import resource

    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime + timeout_s) + 10
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from hrlaif.verify.math import _serve; _serve()"


class _Worker:
    """One long-lived symbolic-check process; killed and restarted when a check overruns.

    A thread cannot be stopped in Python and sympy holds the GIL, so only a process gives a
    hard deadline. Requests are serialised by a lock; the deadline starts when a request is sent.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner_pid = os.getpid()
        self._buffer = b""
        self._next_id = 0
        self._ready = False
        self._restarted = False  # a replacement's boot counts against the check that waits for it

    def _reset_after_fork(self) -> None:
        # A forked child (e.g. a DataLoader worker) must not share the parent's pipes or lock;
        # it closes its copies (the parent's stay open) and starts its own worker when needed.
        self._lock = threading.Lock()
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except (OSError, ValueError):
                    pass
        self._owner_pid = os.getpid()
        self._buffer = b""

    def _spawn(self) -> None:
        """Start a worker without waiting for it: after a kill the replacement boots while the
        caller moves on, so the next check rarely waits for it."""
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(_SRC_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            # sympy may pull in numpy lazily; one BLAS thread keeps it under the memory cap
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )
        self._buffer = b""
        self._ready = False

    def _await_ready(self, deadline: float) -> bool:
        """True once the worker said it is ready; False if `deadline` passed first."""
        try:
            line = self._readline(deadline)
        except EOFError:
            line = b"{}"
        if line is None:
            return False
        try:
            ready = json.loads(line) == {"ready": True}
        except ValueError:
            ready = False
        if not ready:
            self.stop()
            raise OSError("the symbolic-check worker did not start")
        self._ready = True
        return True

    def _readline(self, deadline: float) -> bytes | None:
        """One reply line, None if the deadline passes; EOFError if the worker died."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        poller = select.poll()  # not select.select: it fails on descriptors above 1023
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not poller.poll(max(1, int(remaining * 1000))):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if os.getpid() == self._owner_pid:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def compare(self, ref: str, ans: str, timeout_s: float) -> tuple[bool | None, str, str]:
        with self._lock:
            deadline = time.monotonic() + timeout_s
            if self._owner_pid != os.getpid():
                self._reset_after_fork()
            if self._proc is None or self._proc.poll() is not None:
                self.stop()
                self._spawn()
            if not self._ready:
                # The first boot (importing sympy) is free; a replacement's boot is charged.
                boot_deadline = deadline if self._restarted else time.monotonic() + WORKER_STARTUP_S
                if not self._await_ready(boot_deadline):
                    return None, "timeout", f"no decision within {timeout_s:g}s (checker restarting)"
            assert self._proc is not None and self._proc.stdin is not None
            self._next_id += 1
            request = {"id": self._next_id, "ref": ref, "ans": ans, "timeout": timeout_s}
            try:
                self._proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
                self._proc.stdin.flush()
                line = self._readline(deadline if self._restarted else time.monotonic() + timeout_s)
            except (EOFError, BrokenPipeError, OSError):
                self.stop()
                return None, "error", "the symbolic-check worker died (memory or CPU limit)"
            if line is None:
                self.stop()  # the only way to stop a runaway sympy computation
                self._spawn()
                self._restarted = True
                return None, "timeout", f"no decision within {timeout_s:g}s"
            try:
                reply = json.loads(line)
            except ValueError:
                reply = {}
            if not isinstance(reply, dict) or reply.get("id") != self._next_id:
                self.stop()
                return None, "error", "the symbolic-check worker answered out of turn"
            return reply["result"], reply["method"], reply["detail"]


_WORKER = _Worker()
atexit.register(_WORKER.stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WORKER._reset_after_fork)


def _compare_in_thread(ref: str, ans: str, timeout_s: float) -> tuple[bool | None, str, str]:
    """Fallback when no process can be started: a daemon thread, abandoned on timeout."""
    box: dict[str, tuple[bool | None, str, str]] = {}

    def run() -> None:
        try:
            box["result"] = _symbolic_compare(ref, ans)
        except Exception as exc:  # noqa: BLE001
            box["result"] = (None, "error", f"{type(exc).__name__}: {str(exc)[:200]}")

    thread = threading.Thread(target=run, name="hrlaif-verify-math", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return None, "timeout", f"no decision within {timeout_s:g}s (computation left running)"
    return box["result"]


def _symbolic(ref: str, ans: str, timeout_s: float) -> tuple[bool | None, str, str]:
    try:
        return _WORKER.compare(ref, ans, timeout_s)
    except OSError:
        return _compare_in_thread(ref, ans, timeout_s)


# ---------------------------------------------------------------------------------------------
# Public API


def _squash(s: str) -> str:
    """Whitespace-insensitive form for an exact match; "2 3" must not become "23"."""
    return re.sub(r"\s+", "", re.sub(r"(?<=\d)\s+(?=\d)", "_", s))


_PROSE_RE = re.compile(r"[A-Za-z][A-Za-z' -]*")


def _prose(s: str) -> str | None:
    """The lower-cased words if `s` is words rather than math ("no solution", "yes"), else None."""
    s = _WRAPPED_TEXT_RE.sub(lambda m: m.group(1), s).strip()
    if len(s) > 200 or not _PROSE_RE.fullmatch(s):
        return None
    words = re.findall(r"[a-z']+", s.lower())
    if not any((len(w) >= 3 or w == "no") and w not in _MATH_WORDS for w in words):
        return None  # "x", "ab", "pi": symbols, not words
    return " ".join(words)


def _compare(reference: str, answer: str, timeout_s: float) -> tuple[bool | None, str, str]:
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    ref = _clean(reference[:MAX_NUMERIC_CHARS + 100])
    ans = _clean(answer[:MAX_NUMERIC_CHARS + 100])
    if not ref:
        return None, "empty_reference", "the reference is empty"
    if not ans:
        return None, "empty_answer", "the answer is empty"
    if len(ref) > MAX_NUMERIC_CHARS or len(ans) > MAX_NUMERIC_CHARS:
        return None, "too_long", f"longer than {MAX_NUMERIC_CHARS} characters"
    ref_number, ans_number = _parse_number(ref), _parse_number(ans)
    ref_var, ans_var = _ASSIGNMENT_RE.match(ref), _ASSIGNMENT_RE.match(ans)
    if ref_var and ans_var and _squash(ref[: ref.index("=")]) != _squash(ans[: ans.index("=")]):
        ref_number = None  # "x = 5" and "y = 5" answer different questions: let the parser see both
    if ref_number is not None and ans_number is not None:
        equal = _numbers_equal(ref_number, ans_number)
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
    return _symbolic(ref, ans, timeout_s)


def math_equal(reference: str, answer: str, timeout_s: float = 2.0) -> tuple[bool | None, str]:
    """Whether `answer` equals `reference`: (True/False, method), or (None, why) if unknown.

    Plain numbers are compared here ("numeric"); anything else goes to math_verify / sympy in a
    worker process bounded by `timeout_s` (None, "timeout" when it overruns).
    """
    result, method, _ = _compare(reference, answer, timeout_s)
    return result, method


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
