"""Verify a JSON-lines file of responses in one go.

Keyed rows (math, multiple choice) get `correct` and `extracted` from the rule-based verifiers.
Rows of category `harmful` get `refused` from the refusal patterns alone (`hrlaif.verify.refusal`):
true when the response opens with a refusal and does not go on to comply, null when the
patterns cannot tell and labeling would ask the judge; `refusal_pattern` says what they saw.

Every input line is validated before any check runs, so a typo on line 9,000 fails in a second
rather than after the slow part, and the output is written atomically: either the whole
verified file appears or nothing does. The input may be the output path (it is read first).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from hrlaif.errors import HrlaifError
from hrlaif.jsonl import atomic_path, iter_objects
from hrlaif.records import KEYED_CATEGORIES
from hrlaif.verify import OUTCOMES, Check, check_answer
from hrlaif.verify.multiple_choice import LETTERS, normalise_reference
from hrlaif.verify.refusal import refusal_by_pattern

__all__ = ["verify_file"]

CATEGORIES = (*KEYED_CATEGORIES, "harmful")
# The reference of a record whose JSON number overflowed a float ("reference": 1e400).
NON_FINITE = "\x00non-finite"


def _field(record: dict[str, Any], name: str, where: str) -> Any:
    if name not in record:
        raise HrlaifError(f"{where}: missing field '{name}'")
    return record[name]


def _validate(record: Any, where: str) -> tuple[str, str, str, list[str] | None, bool]:
    """(category, response, reference, choices, truncated) of one record, or HrlaifError naming the line."""
    if not isinstance(record, dict):
        raise HrlaifError(f"{where}: expected a JSON object, got {type(record).__name__}")
    category = _field(record, "category", where)
    if category not in CATEGORIES:
        raise HrlaifError(f"{where}: unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    response = _field(record, "response", where)
    if not isinstance(response, str):
        raise HrlaifError(f"{where}: field 'response' must be a string, got {type(response).__name__}")
    if category == "harmful":  # checked by the refusal patterns: no reference
        return category, response, "", None, False
    reference = _field(record, "reference", where)
    # Math references are often stored as JSON numbers; bools are not numbers here. One past
    # a float's range (1e400) arrives as infinity: its value is lost, so its verdict is unknown.
    if category == "math" and isinstance(reference, float) and not math.isfinite(reference):
        return category, response, NON_FINITE, None, False
    if category == "math" and isinstance(reference, (int, float)) and not isinstance(reference, bool):
        reference = str(reference)
    if not isinstance(reference, str) or not reference.strip():
        raise HrlaifError(f"{where}: field 'reference' must be a non-empty string, got {reference!r:.80}")
    choices = None
    if category == "multiple_choice":
        choices = _field(record, "choices", where)
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            raise HrlaifError(f"{where}: field 'choices' must be a non-empty list of strings")
        if len(choices) > len(LETTERS):
            raise HrlaifError(f"{where}: at most {len(LETTERS)} choices are supported, got {len(choices)}")
        try:
            normalise_reference(reference, choices)
        except ValueError as exc:
            raise HrlaifError(f"{where}: {exc}") from None
    truncated = record.get("truncated", False)
    if not isinstance(truncated, bool):
        raise HrlaifError(f"{where}: field 'truncated' must be true or false, got {truncated!r:.80}")
    return category, response, reference, choices, truncated


def _read(path: Path) -> list[tuple[dict[str, Any], tuple[str, str, str, list[str] | None, bool]]]:
    return [(record, _validate(record, where)) for where, record in iter_objects(path)]


def _finite(value: Any) -> Any:
    """`value` with every float past its range (read from 1e400 as infinity) made null: json
    would write it as `Infinity`, which is not JSON, and no reader (this one included) takes it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _dump(record: dict[str, Any]) -> str:
    record = _finite(record)
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape: keep it escaped
        text = json.dumps(record, allow_nan=False)
    return text


def verify_file(in_path: str | Path, out_path: str | Path, timeout_s: float = 2.0) -> dict[str, int]:
    """Check every record of `in_path`, write it to `out_path` with the verdict added.

    Keyed records need `category` (math | multiple_choice), `reference` and `response`, plus
    `choices` for multiple choice, and may say `truncated` (cut off at max_new_tokens); they get
    `correct` and `extracted`. Records of category `harmful` need only `response` and get
    `refused` (true, or null when the patterns cannot tell) and `refusal_pattern`. All other
    fields are kept. Returns {"total", "correct", "wrong", "unknown", "error"} ("error": the
    verifier failed on the record, logged), plus {"refused", "refusal_undecided"} when the file
    has harmful records. Bad input raises HrlaifError "FILE:LINE: what is wrong" and writes
    nothing.
    """
    rows = _read(Path(in_path))
    if not rows:
        raise HrlaifError(f"{in_path}: no records to verify (the file is empty)")
    counts = {"total": 0} | dict.fromkeys(OUTCOMES, 0)
    if any(category == "harmful" for _, (category, *_rest) in rows):
        counts |= {"refused": 0, "refusal_undecided": 0}
    with atomic_path(out_path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for record, (category, response, reference, choices, truncated) in rows:
            counts["total"] += 1
            if category == "harmful":
                pattern = refusal_by_pattern(response)
                refused = True if pattern == "refused" else None  # the judge would decide the rest
                counts["refused" if refused else "refusal_undecided"] += 1
                handle.write(_dump({**record, "refused": refused, "refusal_pattern": pattern}) + "\n")
                continue
            if reference is NON_FINITE:
                check = Check(correct=None, extracted=None, method="non_finite_reference",
                              detail="the reference number is past a float's range: its value is lost")
            else:
                check = check_answer(category, response, reference, choices, timeout_s=timeout_s, truncated=truncated)
            counts[check.outcome] += 1
            handle.write(_dump({**record, "correct": check.correct, "extracted": check.extracted}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return counts
