"""Plain numbers in answers: read "1,234", "-\\frac{3}{4}", "25%", "$5", "12 cm", "1 000" exactly.

A number read here is compared with `decimal`, exactly for integers and within a 1e-6 relative
tolerance otherwise, so it never meets math_verify's rounding to 6 decimals. Everything is
regexes over a capped input: linear time, no parser, safe to run in the calling process.

A comma is a thousands separator ("1,234"); `decimal_comma_number` gives the other reading
("3,5" as 3.5). `math._compare` takes it where no thousands reading fits, and says unknown
where both fit and only the decimal comma matches ("1,500" against 1.5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

__all__ = ["ASSIGNMENT_RE", "MATH_WORDS", "WRAPPED_TEXT_RE", "Number", "decimal_comma_number", "numbers_equal", "parse_number"]

RELATIVE_TOLERANCE = Decimal("1e-6")


@dataclass(frozen=True)
class Number:
    """An exact rational num/den read from the answer; `integer` allows an exact comparison."""

    num: Decimal
    den: Decimal
    integer: bool
    percent: bool


WRAPPED_TEXT_RE = re.compile(r"\\(?:text|textrm|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|\u00b0")
ASSIGNMENT_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?P<rhs>[^=]+)$")
# Words that are math, not units: "2 pi" is not 2.
MATH_WORDS = {
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
_DECIMAL_COMMA_RE = re.compile(r"[+-]?\d+,\d+%?")
_SLASH_RE = re.compile(r"(?P<a>[+-]?[\d.]+)\s*/\s*(?P<b>[+-]?[\d.]+)")


def _strip_units(s: str) -> str:
    """Drop currency signs and trailing unit words: "$5", "12 cm", "5 dollars", "3 m/s"."""
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "%")
    s = _DEGREE_RE.sub("", s)
    s = WRAPPED_TEXT_RE.sub(lambda m: f" {m.group(1)} ", s).strip()
    for _ in range(4):  # "12 square feet": a few unit words at most
        match = _TRAILING_UNIT_RE.search(s)
        if not match:
            break
        unit = match.group("unit")
        if unit.lower() == "percent":
            s = s[: match.start()].strip() + "%"
            continue
        if unit.lower() in MATH_WORDS or (len(unit) == 1 and unit not in _SINGLE_LETTER_UNITS):
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


def parse_number(answer: str) -> Number | None:
    """Read `answer` as a plain number (integer, decimal, fraction, percent, with units) or None."""
    s = _strip_units(answer)
    assignment = ASSIGNMENT_RE.match(s)
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
        return Number(value, Decimal(1), integer, percent)

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
    return Number(num, den, False, percent)


def decimal_comma_number(answer: str) -> Number | None:
    """`answer` read with its one comma as a decimal point ("3,5" as 3.5, "-0,75 m", "x = 12,5"),
    or None when it is not one number written that way. Whether that reading is the one meant
    is the caller's question: "1,500" also reads as 1500 (`parse_number`), "3,5" as a list."""
    s = _strip_units(answer)
    assignment = ASSIGNMENT_RE.match(s)
    if assignment:
        s = assignment.group("rhs").strip()
    s = re.sub(r"(?<=[+-])\s+", "", s)
    if not _DECIMAL_COMMA_RE.fullmatch(s):
        return None
    return parse_number(s.replace(",", "."))


def _ratio_close(a_num: Decimal, a_den: Decimal, b_num: Decimal, b_den: Decimal) -> bool:
    with localcontext() as ctx:
        ctx.prec = 60
        left = a_num * b_den
        right = b_num * a_den
        if left == right:
            return True
        return abs(left - right) <= RELATIVE_TOLERANCE * max(abs(left), abs(right))


def numbers_equal(ref: Number, ans: Number) -> bool:
    """Exact for two integers, 1e-6 relative otherwise; "25%" may mean 25 or 0.25."""
    if ref.integer and ans.integer:
        return ref.num == ans.num  # Decimal compares exactly, whatever the number of digits
    if ref.percent == ans.percent:
        return _ratio_close(ref.num, ref.den, ans.num, ans.den)
    with_pct, without = (ref, ans) if ref.percent else (ans, ref)
    return _ratio_close(with_pct.num, with_pct.den, without.num, without.den) or _ratio_close(
        with_pct.num, with_pct.den * 100, without.num, without.den
    )

