"""Rule-based answer verifiers: the "verifiable" half of HRLAIF's hybrid labels.

For math and multiple-choice prompts a reference answer exists, so a response can be
checked by rules instead of asking a judge model. A verifier must never call a response
wrong because it failed to read it: when no answer can be extracted, or the check runs out
of time, the result is ``correct=None`` ("unknown") and the caller decides what to do.

One module per kind, each usable on its own:

- ``hrlaif.verify.math``: ``math_equal``, ``check_math``, built on ``hrlaif.verify.extract``
  (``extract_math_answer``), ``hrlaif.verify.numbers`` (plain numbers, compared exactly) and
  ``hrlaif.verify.symbolic`` (math_verify and sympy, run in the killable process of
  ``hrlaif.verify.worker``)
- ``hrlaif.verify.multiple_choice``: ``extract_choice``, ``check_multiple_choice``
- ``hrlaif.verify.batch``: ``verify_file`` (JSON lines in, JSON lines out)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["CATEGORIES", "Check", "check_answer"]

CATEGORIES = ("math", "multiple_choice")


class Check(BaseModel):
    """The outcome of checking one response against its reference.

    ``correct`` is None when the verdict is unknown (no answer found, input too large to
    check, or the check timed out): unknown is never reported as wrong. ``method`` names the
    path that decided; for math it is ``"<extraction>+<comparison>"`` (e.g.
    ``"boxed+numeric"``, ``"answer_is+math_verify"``, ``"hash+timeout"``), or
    ``"no_answer"`` when nothing could be extracted.
    """

    model_config = ConfigDict(extra="forbid")

    correct: bool | None
    extracted: str | None
    method: str
    detail: str = ""


def check_answer(
    category: str,
    response: str,
    reference: str,
    choices: list[str] | None = None,
    timeout_s: float = 2.0,
) -> Check:
    """Check `response` against `reference` with the verifier for `category`.

    `choices` is required for "multiple_choice" (the option texts, in letter order);
    `timeout_s` bounds a symbolic math check. Raises ValueError for any other category.
    """
    # Imported here so that `import hrlaif.verify` stays cheap and free of import cycles
    # (the submodules import Check from this module).
    if category == "math":
        from hrlaif.verify.math import check_math

        return check_math(response, reference, timeout_s=timeout_s)
    if category == "multiple_choice":
        from hrlaif.verify.multiple_choice import check_multiple_choice

        if choices is None:
            raise ValueError("category 'multiple_choice' needs the list of choices")
        return check_multiple_choice(response, reference, choices)
    raise ValueError(f"no verifier for category {category!r}; expected one of {', '.join(CATEGORIES)}")
