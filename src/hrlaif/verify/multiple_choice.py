"""Multiple-choice answer verification: which option letter did the response pick?

Models state their pick in many ways ("Answer: (B)", "I choose D", "**C**", or just the option's
text) and sometimes change their mind half-way, so explicit statements are searched first and the
last one counts. Letters must carry a clear marker: "A dog is..." is prose, not option A.
When the pick cannot be read, the verdict is unknown (None), never wrong.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from hrlaif.verify import Check

__all__ = ["check_multiple_choice", "extract_choice", "normalise_reference"]

MAX_RESPONSE_CHARS = 200_000
LETTERS = string.ascii_uppercase

# Words that may follow a bare letter in "the answer is A because ...". After "A"/"I" any other
# lowercase word means the letter is the article or the pronoun ("the answer is a dog").
_CONNECTORS = {
    "because", "since", "as", "is", "was", "which", "that", "and", "or", "but", "for", "with",
    "it", "this", "here", "according", "due", "from", "given", "so", "then", "therefore", "hence",
    "thus", "in", "on", "the", "correct", "right", "option", "choice",
}  # fmt: skip

# Explicit statements of the pick; the letter (or option text) follows the match.
_STATEMENTS: list[tuple[str, re.Pattern[str], bool]] = [
    # (method, pattern, strict): strict means nothing but punctuation may follow the letter
    (
        "answer_is",
        re.compile(
            r"\b(?:final\s+|correct\s+|right\s+|best\s+)?answer\b\s{0,3}(?:\*{1,2}\s{0,3})?"
            r"(?:is|would\s+be|will\s+be|should\s+be|must\s+be|=|:)"
            r"(?:\s{0,3}(?:definitely|clearly|probably|actually|indeed|therefore|then)\b){0,2}",
            re.IGNORECASE,
        ),
        False,
    ),
    (
        "correct_option",
        re.compile(
            r"\b(?:correct|right|best|true)\s+(?:option|choice|letter)\b\s{0,3}"
            r"(?:is|would\s+be|will\s+be|must\s+be|=|:)?",
            re.IGNORECASE,
        ),
        False,
    ),
    (
        "i_choose",
        re.compile(
            r"\bI\s{0,3}(?:would|will|'ll|'d|\u2019ll|\u2019d)?\s{0,3}"
            r"(?:choose|pick|select|go\s+with|opt\s+for)\b",
        ),
        False,
    ),
    (
        "revision",
        re.compile(
            r"\b(?:no\s+wait|wait|actually|on\s+second\s+thought|correction|I\s+mean)\b[\s,:.!-]{0,5}"
            r"(?:(?:it(?:'s|\u2019s|\s+is|\s+should\s+be|\s+must\s+be)|make\s+that|it's\s+actually)\s{1,3})?",
            re.IGNORECASE,
        ),
        True,
    ),
]
_OPTION_IS_CORRECT_RE = re.compile(
    r"\b(?:option|choice)\s{1,3}\(?([A-Za-z])\)?\s{1,3}(?:is|seems)\s{1,3}(?:the\s{1,3})?(?:correct|right|best|true)\b",
    re.IGNORECASE,
)
# "C is correct" without the word "option": the capital letter is required ("a is correct" is prose).
_LETTER_IS_CORRECT_RE = re.compile(
    r"(?<![\w(])\(?([A-Z])\)?\s{1,3}is\s{1,3}(?:the\s{1,3})?(?:[Cc]orrect|[Rr]ight)(?:\s{1,3}answer)?\b"
)
_BOXED_RE = re.compile(r"\\boxed\{\s{0,3}(?:\\text(?:bf)?\{)?\s{0,3}\(?([A-Za-z])\)?\s{0,3}\}")

# Weak markers: only used when no explicit statement was found.
_PAREN_RE = re.compile(r"(?<![\w(])\(([A-Z])\)(?!\w)")
_LINE_START_RE = re.compile(
    r"(?m)^[ \t]{0,3}(?:\*{1,2})?\(?([A-Z])(?:\*{1,2})?(?:[.):](?:\*{1,2})?(?=\s|$)|[ \t]*$)"
)
_BOLD_RE = re.compile(r"\*\*\s?\(?([A-Z])\)?[.:]?\s?\*\*")
_ONLY_LETTER_RE = re.compile(r"[\W_]{0,6}([A-Za-z])[\W_]{0,6}")
_CHOICE_PREFIX_RE = re.compile(r"^\s*\(?([A-Za-z])[.):]\s+")


@dataclass(frozen=True)
class _Pick:
    letter: str | None  # None: a letter outside the choices was stated
    method: str
    detail: str


def _normalise(text: str) -> str:
    """Lower-case words only (any script), so "Paris," matches the option "paris"."""
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def _option_texts(choices: list[str]) -> list[str]:
    """Option texts without a leading "A. " / "(A) " that repeats their own letter."""
    texts = []
    for index, choice in enumerate(choices):
        prefix = _CHOICE_PREFIX_RE.match(choice)
        if prefix and prefix.group(1).upper() == LETTERS[index]:
            choice = choice[prefix.end() :]
        texts.append(_normalise(choice))
    return texts


def _letter_after(tail: str, strict: bool) -> str | None:
    """The option letter at the start of `tail` (text after "the answer is"), if it has one."""
    tail = tail.lstrip(" \t*$`\"':")
    for lead in ("\\text{", "\\textbf{", "\\boxed{", "\\mathrm{"):
        if tail.startswith(lead):
            tail = tail[len(lead) :]
    tail = re.sub(r"^(?:option|choice|letter)\s{1,3}", "", tail, flags=re.IGNORECASE)
    match = re.match(r"([(\[])?\s?([A-Za-z])(?:\s?([)\]]))?", tail)
    if not match:
        return None
    letter = match.group(2)
    after = tail[match.end() :]
    if after[:1].isalnum() or (after[:1] in ("'", "\u2019") and after[1:2].isalpha()):  # "Because", "A's"
        return None
    if match.group(1) and match.group(3):  # "(B)": unambiguous
        return letter
    word = re.match(r"\s{1,3}([a-z]+)", after)
    if strict:
        return letter if re.match(r"\s{0,3}(?:[.,;:!?)\]*}$\"']|$|\n)", after) else None
    if word and letter in "aAiI" and word.group(1) not in _CONNECTORS:
        return None  # "the answer is a dog", "I choose I think..."
    if word and letter.islower() and word.group(1) not in _CONNECTORS:
        return None
    return letter


def _text_after(tail: str, texts: list[str]) -> list[int]:
    """Indices of the options whose text opens `tail` ("the answer is Paris."), longest match
    wins; several where options share that text ("A. Paris B. Paris"), and the pick is unknown."""
    head = " " + _normalise(re.split(r"[\n.;!?](?:\s|$)", tail, maxsplit=1)[0]) + " "
    best: list[int] = []
    for index, text in enumerate(texts):
        if text and (head.startswith(f" {text} ") or head.startswith(f" the {text} ")):
            if not best or len(text) > len(texts[best[0]]):
                best = [index]
            elif text == texts[best[0]]:
                best.append(index)
    return best


def _statement_picks(text: str, choices: list[str], texts: list[str]) -> list[tuple[int, _Pick]]:
    picks: list[tuple[int, _Pick]] = []

    def add(position: int, letter: str, method: str, said: str) -> None:
        upper = letter.upper()
        valid = LETTERS.index(upper) < len(choices)
        detail = f"{said} {upper}" if valid else f"{said} {upper}, which is not one of the {len(choices)} options"
        picks.append((position, _Pick(upper if valid else None, method, detail)))

    for method, pattern, strict in _STATEMENTS:
        for match in pattern.finditer(text):
            tail = text[match.end() : match.end() + 300]
            letter = _letter_after(tail, strict)
            if letter is not None:
                add(match.start(), letter, method, f"stated ({match.group(0).strip()!r})")
            else:
                indices = _text_after(tail, texts)
                if len(indices) == 1:
                    letter = LETTERS[indices[0]]
                    picks.append((match.start(), _Pick(letter, "option_text", f"stated the text of option {letter}")))
                elif indices:
                    shared = " and ".join(LETTERS[i] for i in indices)
                    picks.append((match.start(), _Pick(None, "option_text", f"stated a text that options {shared} share")))
    for pattern in (_OPTION_IS_CORRECT_RE, _LETTER_IS_CORRECT_RE):
        for match in pattern.finditer(text):
            add(match.start(), match.group(1), "option_is_correct", "said option")
    for match in _BOXED_RE.finditer(text):
        add(match.start(), match.group(1), "boxed", "boxed")
    return picks


def _marker_pick(text: str, choices: list[str], texts: list[str]) -> _Pick | None:
    """A pick from weak markers: the whole response is a letter, "(B)", "B." at a line start, "**B**"."""
    only = _ONLY_LETTER_RE.fullmatch(text.strip())
    if only:
        letter = only.group(1).upper()
        if LETTERS.index(letter) < len(choices):
            return _Pick(letter, "letter_only", f"the response is just {letter}")
        return _Pick(None, "letter_only", f"{letter} is not one of the {len(choices)} options")

    found: list[tuple[int, str, str]] = []
    for method, pattern in (("bold", _BOLD_RE), ("letter_dot", _LINE_START_RE), ("letter_paren", _PAREN_RE)):
        for match in pattern.finditer(text):
            if LETTERS.index(match.group(1)) < len(choices):
                found.append((match.start(), match.group(1), method))
    if not found:
        return None
    found.sort()
    letters = {letter for _, letter, _ in found}
    if len(letters) == 1:
        _, letter, method = found[0]
        return _Pick(letter, method, f"marked {letter}")
    bold = {letter for _, letter, method in found if method == "bold"}
    if len(bold) == 1:
        letter = bold.pop()
        return _Pick(letter, "bold", f"marked {letter} in bold")
    # "B. Paris" then an explanation naming other options: the opening line is the pick when it
    # holds nothing but the marker and that option's own text.
    first_position, first_letter, first_method = found[0]
    if first_position == len(text) - len(text.lstrip()) and first_method != "bold":
        first_line = text.lstrip().split("\n", 1)[0]
        rest = _normalise(re.sub(r"^[\s*(]*[A-Z][*.):]*", "", first_line))
        if rest in ("", texts[LETTERS.index(first_letter)]):
            return _Pick(first_letter, first_method, f"the response opens with {first_letter}")
    return None


def _text_pick(text: str, texts: list[str]) -> _Pick | None:
    """The one option whose text the response mentions (an option inside a longer one does not count)."""
    haystack = f" {_normalise(text)} "
    hits = [i for i, option in enumerate(texts) if option and f" {option} " in haystack]
    hits = [i for i in hits if not any(j != i and texts[i] in texts[j] and texts[i] != texts[j] for j in hits)]
    if len(hits) == 1:
        return _Pick(LETTERS[hits[0]], "option_text", f"mentions only the text of option {LETTERS[hits[0]]}")
    return None


def _extract(text: str, choices: list[str]) -> tuple[_Pick | None, str]:
    if not choices or not text or not text.strip():
        return None, "empty response" if choices else "no choices given"
    if len(choices) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} choices are supported, got {len(choices)}")
    text = text[-MAX_RESPONSE_CHARS:]
    texts = _option_texts(choices)
    picks = _statement_picks(text, choices, texts)
    if picks:
        _, pick = max(picks, key=lambda item: item[0])  # a change of mind: the last statement counts
        return pick, pick.detail
    pick = _marker_pick(text, choices, texts) or _text_pick(text, texts)
    if pick is None:
        return None, "no option letter or option text found"
    return pick, pick.detail


def extract_choice(text: str, choices: list[str]) -> tuple[str, str] | None:
    """Return (letter, method) for the option the response picked, or None if it cannot be told.

    Letters beyond ``len(choices)`` are invalid: a response whose final statement names one
    yields None.
    """
    pick, _ = _extract(text, choices)
    if pick is None or pick.letter is None:
        return None
    return pick.letter, pick.method


def normalise_reference(reference: str, choices: list[str]) -> str:
    """The reference as a letter: "B", "(b)", "B." or the text of an option. ValueError if invalid."""
    ref = reference.strip()
    match = re.fullmatch(r"\(?([A-Za-z])[).]?", ref)
    if match:
        letter = match.group(1).upper()
        if LETTERS.index(letter) < len(choices):
            return letter
        raise ValueError(f"reference {reference!r} is not one of the {len(choices)} options")
    texts = _option_texts(choices)
    wanted = _normalise(ref)
    matching = [LETTERS[i] for i, text in enumerate(texts) if wanted and text == wanted]
    if len(matching) > 1:
        raise ValueError(f"reference {reference!r} is the text of options {' and '.join(matching)}: give its letter")
    if matching:
        return matching[0]
    raise ValueError(f"reference {reference!r} is neither an option letter nor an option text")


def check_multiple_choice(response: str, reference_letter: str, choices: list[str]) -> Check:
    """Check a multiple-choice response against the reference letter (or option text).

    Raises ValueError when the reference itself is not a valid option.
    """
    reference = normalise_reference(reference_letter, choices)
    pick, why = _extract(response, choices)
    if pick is None:
        return Check(correct=None, extracted=None, method="no_answer", detail=why)
    if pick.letter is None:
        return Check(correct=None, extracted=None, method=pick.method, detail=why)
    verdict = "matches" if pick.letter == reference else f"differs from the reference {reference}"
    return Check(
        correct=pick.letter == reference,
        extracted=pick.letter,
        method=pick.method,
        detail=f"{why}; {verdict}",
    )
