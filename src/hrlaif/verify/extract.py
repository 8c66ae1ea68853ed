"""Find the final answer in a math response, most explicit cue first.

Rules: the last ``\\boxed{}`` ("boxed"), GSM8K's ``#### 42`` ("hash"), "the answer is ..."
("answer_is"), "Answer: ..." ("answer_label"), a last line ending in ``= 42`` ("equals"), else
the last number in the text ("last_number"). Everything here is regexes and linear scans over
a capped input, so a hostile response cannot stall it.
"""

from __future__ import annotations

import re

__all__ = ["clean_answer", "extract_math_answer"]

# Answers sit at the end of a response, so only the tail of a very long one is searched.
MAX_RESPONSE_CHARS = 200_000

# ---------------------------------------------------------------------------------------------
# Cleaning


_LATEX_SPACES = re.compile(r"\\[,;:! ]|~|\\quad|\\qquad")
_SIZING_RE = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])")
_TRAILING_PUNCT = ".,;:!?"


def clean_answer(answer: str) -> str:
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
        answer = clean_answer(boxed)
        if answer:
            return answer, "boxed"

    i = text.rfind("####")
    if i >= 0:
        answer = clean_answer(text[i + 4 :].lstrip("#").split("\n", 1)[0])
        if answer:
            return answer, "hash"

    for match in reversed(list(_ANSWER_RE.finditer(text))):
        answer = clean_answer(_take_answer(text[match.end() : match.end() + _ANSWER_TAIL_CHARS]))
        if _looks_like_answer(answer):
            method = "answer_label" if match.group("verb") == ":" else "answer_is"
            return answer, method

    lines = [line for line in text[-2000:].splitlines() if line.strip()]
    if lines:
        last = clean_answer(lines[-1])
        eq = last.rfind("=")
        if eq > 0 and last[eq - 1] not in "<>!\\":
            answer = clean_answer(last[eq + 1 :])
            if answer and len(answer) <= 200 and re.search(r"[\d\\]", answer):
                return answer, "equals"

    last_number = None
    for last_number in _NUMBER_TOKEN_RE.finditer(text):
        pass
    if last_number is not None:
        return clean_answer(last_number.group(0)), "last_number"
    return None

