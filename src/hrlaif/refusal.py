"""Old home of the refusal checks, kept as a re-export (issue 24 layering).

The wording patterns live in `hrlaif.verify.refusal` (pure text, beside the verifiers) and the
judge-backed `check_refusal` in `hrlaif.judge.refusal`. Importers that still use this name,
to be switched by their owners: harm.py, reward/hybrid.py, evaluate/satisfaction.py and
human/results.py. Remove this module when none is left.
"""

from __future__ import annotations

from hrlaif.judge.refusal import RefusalCheck, check_refusal
from hrlaif.verify.refusal import OPENING_CHARS, PATTERN, PatternVerdict, looks_like_refusal, refusal_by_pattern

__all__ = [
    "OPENING_CHARS", "PATTERN", "PatternVerdict", "RefusalCheck", "check_refusal", "looks_like_refusal", "refusal_by_pattern",
]
