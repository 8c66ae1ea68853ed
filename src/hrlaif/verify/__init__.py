"""Rule-based answer verifiers: the "verifiable" half of HRLAIF's hybrid labels.

For math and multiple-choice prompts a reference answer exists, so a response can be
checked by rules instead of asking a judge model. A verifier must never call a response
wrong because it failed to read it: when no answer can be extracted, or the check runs out
of time, the result is ``correct=None`` ("unknown") and the caller decides what to do.

One module per kind, each usable on its own:

- ``hrlaif.verify.math``: ``math_equal``, ``check_math`` (the verdict policy), built on
  ``hrlaif.verify.extract`` (``extract_math_answer``), ``hrlaif.verify.numbers`` (plain
  numbers, compared exactly) and ``hrlaif.verify.symbolic`` (math_verify and sympy, run in the
  killable process of ``hrlaif.verify.worker``)
- ``hrlaif.verify.multiple_choice``: ``extract_choice``, ``check_multiple_choice``
- ``hrlaif.verify.batch``: ``verify_file`` (JSON lines in, JSON lines out)
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field, model_validator

from hrlaif.records import KEYED_CATEGORIES

__all__ = ["OUTCOMES", "Check", "check_answer"]

# What a check can come to, for callers that count them (a label manifest, `hrlaif verify`).
OUTCOMES = ("correct", "wrong", "unknown", "error")

logger = logging.getLogger(__name__)


class Check(BaseModel):
    """The outcome of checking one response against its reference.

    ``correct`` is None when the verdict is unknown (no answer found, input too large to
    check, or the check timed out): unknown is never reported as wrong. ``method`` names the
    path that decided; for math it is ``"<extraction>+<comparison>"`` (e.g.
    ``"boxed+numeric"``, ``"answer_is+math_verify"``, ``"hash+timeout"``,
    ``"math_verify+math_verify"`` when math_verify's own reading of the response decided,
    ``"boxed_set+math_verify"`` or ``"answer_is_set+exact"`` when all the answers a cue states
    together decided, ``"boxed+ambiguous"`` for a number that reads two ways),
    ``"no_answer"`` when nothing could be extracted, ``"truncated"`` for a cut-off response
    without a finished answer, ``"error"`` when the verifier itself failed.
    """

    model_config = ConfigDict(extra="forbid")

    correct: bool | None
    extracted: str | None
    method: str
    detail: str = ""

    @model_validator(mode="before")
    @classmethod
    def _derived_outcome_is_not_input(cls, data):
        """A dumped Check (which carries `outcome`) validates back into the same Check."""
        if isinstance(data, dict) and "outcome" in data:
            data = {k: v for k, v in data.items() if k != "outcome"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> Literal["correct", "wrong", "unknown", "error"]:
        """One of `OUTCOMES`: "error" when the verifier failed (an exception, a crashed
        worker), "unknown" when it could not tell (no answer, timeout, unparseable)."""
        if self.correct is not None:
            return "correct" if self.correct else "wrong"
        return "error" if self.method.rpartition("+")[2] == "error" else "unknown"


def check_answer(
    category: str,
    response: str,
    reference: str,
    choices: list[str] | None = None,
    timeout_s: float = 2.0,
    truncated: bool = False,
) -> Check:
    """Check `response` against `reference` with the verifier for `category`.

    `choices` is required for "multiple_choice" (the option texts, in letter order);
    `timeout_s` bounds a math check. `truncated` says the response was cut off at
    max_new_tokens: math then takes only a finished explicit answer (a closed ``\\boxed{}``,
    a ``####`` line that ended, "the answer is 12." followed by more text), never a guessed
    last number, and is otherwise unknown. Raises ValueError for any other category and for an
    invalid multiple-choice reference; any other failure inside a verifier is logged and comes
    back as outcome "error".
    """
    # Imported here so that `import hrlaif.verify` stays cheap and free of import cycles
    # (the submodules import Check from this module).
    if category == "math":
        from hrlaif.verify.math import check_math

        return check_math(response, reference, timeout_s=timeout_s, truncated=truncated)
    if category == "multiple_choice":
        from hrlaif.verify.multiple_choice import check_multiple_choice, normalise_reference

        if choices is None:
            raise ValueError("category 'multiple_choice' needs the list of choices")
        normalise_reference(reference, choices)  # a bad reference is the caller's error: raise it
        try:
            return check_multiple_choice(response, reference, choices)
        except Exception as exc:  # noqa: BLE001 - one bad record must not crash a labelling run
            logger.warning("multiple-choice verifier failed (response of %d chars): %s", len(response), exc, exc_info=True)
            return Check(correct=None, extracted=None, method="error", detail=f"{type(exc).__name__}: {str(exc)[:200]}")
    raise ValueError(f"no verifier for category {category!r}; expected one of {', '.join(KEYED_CATEGORIES)}")
