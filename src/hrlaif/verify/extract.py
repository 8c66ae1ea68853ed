"""Find the final answer in a math response: explicit cues first, then (marked as such) guesses.

An extraction says how it found the answer, because the verdict's certainty depends on it:

- cues the model wrote on purpose: the last ``\\boxed{}`` ("boxed"), GSM8K's ``#### 42``
  ("hash"), "the answer is ..." ("answer_is"), "Answer: ..." ("answer_label"), or a response that
  is nothing but a plain number ("whole");
- guesses: a last line ending in ``= 42`` ("equals") or the last number in the text
  ("last_number"). A guess may say "correct" but never, on its own, "wrong" (see `math.py`).

A response cut off at max_new_tokens (``truncated=True``) is read by cues only, and only by a
cue that visibly ended before the cut (a closed ``\\boxed{}`` or ``$..$``, a ``####`` line that
ended, "the answer is 12." followed by more text): the last number of a chain of thought that
stopped mid-way is not its answer.

Everything here is regexes and linear scans over a capped input, so a hostile response cannot
stall it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from hrlaif.verify.numbers import ASSIGNMENT_RE, MATH_WORDS, decimal_comma_number, parse_number

__all__ = ["CUES", "GUESSES", "SENTENCE_END_RE", "Items", "all_boxed", "clean_answer", "extract_math_answer", "final_statement", "stated_items", "stated_list"]

# Answers sit at the end of a response, so only the tail of a very long one is searched.
MAX_RESPONSE_CHARS = 200_000
# A response this short that is one plain number is its own answer ("whole").
MAX_WHOLE_CHARS = 200
CUES = ("boxed", "hash", "answer_is", "answer_label", "whole")
GUESSES = ("equals", "last_number")

# ---------------------------------------------------------------------------------------------
# Cleaning


# (not the "\\" of a matrix row end followed by a space)
_LATEX_SPACES = re.compile(r"(?<!\\)\\[,;:! ]|~|\\quad|\\qquad")
_SIZING_RE = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])")
_TRAILING_PUNCT = ".,;:!?"
# \dfrac, \tfrac and \cfrac are \frac typeset differently
_FRAC_VARIANTS_RE = re.compile(r"\\[dtc]frac(?![A-Za-z])")


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
    s = _FRAC_VARIANTS_RE.sub(r"\\frac", s)
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


def _find_boxed(text: str) -> tuple[str, bool] | None:
    """(content, ended) of the last non-empty \\boxed{...} / \\fbox{...} (nested braces allowed).

    `ended` is False only for the brace-less form "\\boxed 5" running into the end of the text,
    which a cut may have shortened ("\\boxed 5" of "\\boxed 56").
    """
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
                return content, True
        elif j > i + len(name):  # "\boxed 5": the next token
            token = re.match(r"[^\s$]+", text[j : j + 200])
            if token:
                return token.group(0), j + token.end() < len(text)
        end = i
    return None


# How many \boxed{} answers at most are read together as one answer ("x = 2" and "x = 3").
MAX_BOXES = 8
_BOX_START_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")


def all_boxed(text: str) -> list[str]:
    """The cleaned contents of the closed, non-empty \\boxed{...} groups among the last
    MAX_BOXES in `text`, in order, leaving out one nested in another: a response that boxes
    each of several answers ("\\boxed{2} and \\boxed{3}") states them all, not only the last."""
    text = text[-MAX_RESPONSE_CHARS:]
    starts = [m.end() - 1 for m in _BOX_START_RE.finditer(text)][-MAX_BOXES:]
    out: list[str] = []
    covered = -1
    for start in starts:
        if start <= covered:
            continue  # inside the previous box
        content = _balanced_group(text, start)
        if content is None:
            continue
        covered = start + len(content) + 1
        answer = clean_answer(content)
        if answer:
            out.append(answer)
    return out


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
    r"-?\\[dtc]?frac\{[+-]?\d+(?:\.\d+)?\}\{[+-]?\d+(?:\.\d+)?\}"
    r"|(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:\s?%)?(?![\d,]\d)"
    r"|(?<![\w.])-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?(?:\s?%)?"
)


_ANSWER_TAIL_CHARS = 600


def _take_answer(tail: str) -> tuple[str, bool]:
    """(answer, ended) at the start of `tail` (the text after "the answer is" / "Answer:").

    `ended` says the answer visibly stopped: its $..$ closed, or an end mark is followed by more
    text. Without that, a response cut off mid-answer ("the answer is 12" of "125") cannot be
    told from a finished one.
    """
    tail = tail.lstrip(" \t*:").lstrip()
    for open_, close in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if tail.startswith(open_):
            end = tail.find(close, len(open_))
            while close == "$" and end > 0 and tail[end - 1] == "\\":  # "\$" is a dollar sign
                end = tail.find(close, end + 1)
            if end > len(open_):
                return tail[len(open_) : end], True
            tail = tail[len(open_) :]  # a lone "$" is a currency sign
            break
    match = _ANSWER_END_RE.search(tail)
    if match is None:
        if len(tail) >= _ANSWER_TAIL_CHARS - 10:
            return "", False  # no end in sight: a truncated answer would be judged wrong, not unknown
        return tail, False
    return tail[: match.start()], bool(tail[match.end() :].strip())


_DELIMITED = (("$$", "$$"), ("\\(", "\\)"), ("$", "$"))
_LIST_JOINT_RE = re.compile(r"\s*(?:,\s*(?:(?:and|or)\s+)?|(?:and|or)\s+)")


def stated_list(text: str) -> str | None:
    """The math groups after the last "the answer is" / "Answer:" when there are several, joined
    by ", " ("the answer is $2$ and $3$" gives "2, 3"); None for one group or none. The answer
    that `extract_math_answer` takes there is the first group alone: this is the other reading."""
    text = text[-MAX_RESPONSE_CHARS:]
    last = None
    for last in _ANSWER_RE.finditer(text):
        pass
    if last is None:
        return None
    tail = text[last.end() : last.end() + _ANSWER_TAIL_CHARS].lstrip(" \t*:").lstrip()
    for open_, close in _DELIMITED:
        if not tail.startswith(open_):
            continue
        parts: list[str] = []
        while len(parts) < MAX_BOXES and tail.startswith(open_):
            end = tail.find(close, len(open_))
            while close == "$" and end > 0 and tail[end - 1] == "\\":  # "\$" is a dollar sign
                end = tail.find(close, end + 1)
            if end <= len(open_):
                break
            parts.append(clean_answer(tail[len(open_) : end]))
            tail = tail[end + len(close) :]
            joint = _LIST_JOINT_RE.match(tail)
            if joint is None:
                break
            tail = tail[joint.end() :]
        parts = [p for p in parts if p]
        return ", ".join(parts) if len(parts) > 1 else None
    return None


class Items(NamedTuple):
    """A statement read as a list of answers: its items, the bracket around them ("[", "(",
    "\\{", or "" for none), and whether the reading is doubtful (a lead-in such as "between",
    "test", a number before the list, words after it)."""

    items: list[str]
    brackets: str
    doubtful: bool


_CLOSERS = {"[": "]", "(": ")", "\\{": "\\}"}
_ITEM_JOINT_RE = re.compile(r"\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+|\s*\\text\s*\{\s*(?:and|or)\s*\}\s*", re.IGNORECASE)
_DELIMITER_RE = re.compile(r"\\?\$|\\[()]|\\\[|\\\]|\*\*")
_PROSE_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")
_LEAD_OK_RE = re.compile(r"(?:\b(?:is|are|be|was|were|equals?)|[:=])\s*$|^(?:(?:so|thus|hence|therefore|then)\b[\s,]*)*$", re.IGNORECASE)
_DOUBT_RE = re.compile(r"\b(?:between|from|not|neither|nor|either|except|than|range|try|test|check)\b|\d", re.IGNORECASE)


def _enclosure(s: str) -> str:
    """The opening bracket when all of `s` is one bracket group ("[1, 2]", "\\{1, 2\\}"), else ""."""
    for opener, closer in _CLOSERS.items():
        if s.startswith(opener) and s.endswith(closer) and _closes_at_end(s):
            return opener
    return ""


def _closes_at_end(s: str) -> bool:
    """Whether the bracket that opens `s` closes at its end ("(1, 2)", not "(1, 2), (3, 4)")."""
    depth, i = 0, 0
    while i < len(s):
        two = s[i : i + 2]
        step = 2 if two in ("\\{", "\\}") else 1
        if two == "\\{" or (step == 1 and s[i] in "([{"):
            depth += 1
        elif two == "\\}" or (step == 1 and s[i] in ")]}"):
            depth -= 1
            if depth == 0:
                return i + step == len(s)
        i += step
    return False


def _split_items(s: str, inside_brackets: bool) -> list[str]:
    """`s` split at its top-level joints (",", "and", "or", "\\text{ and }"). Outside brackets a
    comma between two digits ("1,500", "3,5") is part of a number, not a joint."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        ch = s[i]
        if depth == 0 and ch in ", \t\\":
            joint = _ITEM_JOINT_RE.match(s, i)
            digit_comma = ch == "," and 0 < i < len(s) - 1 and s[i - 1].isdigit() and s[i + 1].isdigit()
            if joint and joint.end() > i and (inside_brackets or not digit_comma):
                parts.append(s[start:i])
                start = i = joint.end()
                continue
        if s.startswith(("\\{", "\\}"), i):
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if ch == "\\":
            i += 2
            continue
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        i += 1
    return [*parts, s[start:]]


def stated_items(statement: str) -> Items | None:
    """`statement` ("The roots are 2 and 3", "[1, 2, 3]", "x = -1 or x = 4") read as a list of
    two or more answers, or None where it is not one. The first item may follow a lead-in and
    the last be followed by words; both are kept apart and make the reading doubtful unless the
    lead-in only says what follows ("The roots are", "x =", "So")."""
    if len(statement) > 500:
        return None
    s = clean_answer(_DELIMITER_RE.sub("", statement))
    brackets = _enclosure(s)
    if brackets:
        s = s[len(brackets) : -len(_CLOSERS[brackets])]
    parts = [p.strip() for p in _split_items(s, bool(brackets))]
    if len(parts) < 2 or len(parts) > MAX_BOXES:
        return None
    lead = trail = ""
    words = [m for m in _PROSE_WORD_RE.finditer(parts[0]) if m.group(0).lower() not in MATH_WORDS]
    if words:
        lead, parts[0] = parts[0][: words[-1].end()], parts[0][words[-1].end() :]
    words = [m for m in _PROSE_WORD_RE.finditer(parts[-1]) if m.group(0).lower() not in MATH_WORDS]
    if words:
        parts[-1], trail = parts[-1][: words[0].start()], parts[-1][words[0].start() :]
    items = [clean_answer(p.lstrip(" :")) for p in parts]
    lead += parts[0][: len(parts[0]) - len(parts[0].lstrip(" :"))]
    if not all(items) or any(w.group(0).lower() not in MATH_WORDS for p in items[1:-1] for w in _PROSE_WORD_RE.finditer(p)):
        return None
    doubtful = (
        bool(trail.strip()) or _DOUBT_RE.search(lead) is not None or not _LEAD_OK_RE.search(lead.strip())
        or any("=" in item and not ASSIGNMENT_RE.match(item) for item in items)  # "2 + 3 = 5"
    )  # fmt: skip
    return Items(items, brackets, doubtful)


SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\n")  # where a sentence or a line ends


def final_statement(text: str) -> tuple[str, bool] | None:
    """The last sentence or line of `text` that holds a digit, and whether more text follows
    it; None if none does."""
    sentences = [part for part in SENTENCE_END_RE.split(text[-2000:].strip()) if part.strip()]
    for i in range(len(sentences) - 1, -1, -1):
        if re.search(r"\d", sentences[i]):
            return sentences[i], i < len(sentences) - 1
    return None


def _looks_like_answer(candidate: str) -> bool:
    """Reject prose after "the answer is" ("the answer is the sum of both"): a math answer has a
    digit or LaTeX, or is a few words ("no solution")."""
    if not candidate or candidate.lower().startswith(("not ", "no longer")):
        return False
    return bool(re.search(r"[\d\\^=+]", candidate)) or len(candidate.split()) <= 3


def extract_math_answer(text: str, truncated: bool = False) -> tuple[str, str] | None:
    """Return (answer, method) for the final answer in `text`, or None if there is none.

    Rules, most explicit first: the last ``\\boxed{}`` ("boxed"), GSM8K's ``#### 42``
    ("hash"), the last "the answer is ..." ("answer_is") or "Answer: ..." ("answer_label"), a
    response that is one plain number ("whole"), a last line ending in ``= 42`` ("equals"), else
    the last number in the text ("last_number"). The last two are guesses (`GUESSES`).

    With `truncated` (the response hit max_new_tokens) only a cue that ended before the cut
    counts, and nothing is guessed: None unless the model stated an answer and finished it.
    """
    if not text:
        return None
    text = text[-MAX_RESPONSE_CHARS:]

    boxed = _find_boxed(text)
    if boxed is not None:
        answer = clean_answer(boxed[0])
        if answer and (boxed[1] or not truncated):
            return answer, "boxed"

    i = text.rfind("####")
    if i >= 0:
        line, newline, _ = text[i + 4 :].lstrip("#").partition("\n")
        answer = clean_answer(line)
        if answer and (newline or not truncated):
            return answer, "hash"

    for match in reversed(list(_ANSWER_RE.finditer(text))):
        answer, ended = _take_answer(text[match.end() : match.end() + _ANSWER_TAIL_CHARS])
        answer = clean_answer(answer)
        if _looks_like_answer(answer):
            if truncated and not ended:
                break  # the last stated answer was cut: an earlier one is not the final answer
            method = "answer_label" if match.group("verb") == ":" else "answer_is"
            return answer, method

    if truncated:
        return None

    if len(text) <= MAX_WHOLE_CHARS:
        whole = clean_answer(text)
        if whole and "\n" not in whole and (parse_number(whole) is not None or decimal_comma_number(whole) is not None):
            return whole, "whole"

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
